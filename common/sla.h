/*
 * sla.h - the one place that turns a policy and a start time into deadlines.
 *
 * The policy's promise is a decision within two weeks of receipt. Today the
 * deadline is received_at plus decision_within in calendar days; business
 * calendars, pauses while the member owes information and warnings grow
 * here (and only here), so the engine, the sweeper and the reports can never
 * disagree about when a case is due.
 */
#ifndef TW_SLA_H
#define TW_SLA_H

#include "clock.h"

struct tw_sla_policy {
    int64_t decision_within; /* microseconds; default 14 days */
};

/* tw_sla_policy_default - the policy's two weeks */
void tw_sla_policy_default(struct tw_sla_policy *p);

/* tw_sla_due_at - when a decision is due for a case received at RECEIVED.
 * Whole days are counted as calendar days in the site's zone (same local
 * time N days later); a remainder is added as elapsed time. */
tw_time tw_sla_due_at(const struct tw_sla_policy *p, tw_time received);

#endif
