/*
 * sla.c - deadlines from a policy and a start time.
 *
 * The promise is made to people, so "14 days" means the same wall-clock
 * time fourteen calendar days later in the site's zone, not 14 * 86400
 * seconds: across a daylight-saving change the two differ by an hour. Whole
 * days go through tw_time_add_days; whatever is left below a day is added
 * as elapsed time.
 */
#include "sla.h"

#include <limits.h>

/* tw_sla_policy_default - the policy's two weeks */
void tw_sla_policy_default(struct tw_sla_policy *p)
{
    p->decision_within = 14 * TW_DAY;
}

/* tw_sla_due_at - RECEIVED plus the policy's whole calendar days, then the
 * remainder as elapsed microseconds */
tw_time tw_sla_due_at(const struct tw_sla_policy *p, tw_time received)
{
    int64_t days = p->decision_within / TW_DAY;
    int64_t rest = p->decision_within % TW_DAY;

    if (days > INT_MAX)
        days = INT_MAX;
    if (days < INT_MIN)
        days = INT_MIN;
    return tw_time_add_days(received, (int)days) + rest;
}
