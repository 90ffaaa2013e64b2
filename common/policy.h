/*
 * policy.h - the SLA settings as loaded: per-category policies, what the
 * committee needs on file, and the business calendar (config sections
 * `sla` and `calendar`, plus holidays from the database).
 *
 * Every program that computes or shows a deadline loads the same keys
 * (tw_policy_config_keys) and builds the same read-only struct tw_policy;
 * the deadline itself is always computed by common/sla.c. The fingerprint
 * names the effective settings, so an engine can tell that the deadlines
 * stored in the database were computed with other settings and recompute
 * them.
 */
#ifndef TW_POLICY_H
#define TW_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "calendar.h"
#include "config.h"
#include "sla.h"

/* The `sla` and `calendar` sections (tw_policy_config_keys fills it). */
struct tw_policy_config {
    char *decision_within;
    char *first_response_within;
    char *warn_before;
    char *mode; /* sla.calendar: calendar | business */
    struct tw_strlist committee_requires;
    int64_t sweep_every; /* usec */
    int64_t sweep_limit;
    struct tw_cfg_map categories; /* of struct tw_policy_category_config */
    char *cal_timezone;           /* "" : site.timezone */
    struct tw_strlist cal_weekend;
    char *cal_hours;
    struct tw_strlist cal_holidays;
};

/* sla.categories.NAME: each value empty = the sla section's. */
struct tw_policy_category_config {
    char *decision_within;
    char *first_response_within;
    char *warn_before;
    char *mode;
    struct tw_strlist committee_requires;
};

extern const struct tw_cfg_key tw_policy_config_keys[];

struct tw_policy;

/* tw_policy_build - the effective settings from CFG, with SITE_TZ when
 * calendar.timezone is empty and the database's HOLIDAYS (local dates,
 * may be NULL) added to the config's. On failure returns TW_PERMFAIL and
 * ERR names the key and the problem. *OUT is the caller's to destroy. */
__attribute__((warn_unused_result)) int
tw_policy_build(const struct tw_policy_config *cfg, const char *site_tz,
                const int32_t *holidays, size_t nholidays,
                struct tw_policy **out, char *err, size_t errsz);
/* tw_policy_destroy - NULL-safe; nulls *P */
void tw_policy_destroy(struct tw_policy **p);

/* tw_policy_sla - CATEGORY's policy (the default one for NULL or an
 * unlisted category); borrowed, lives as long as P */
const struct tw_sla_policy *tw_policy_sla(const struct tw_policy *p,
                                          const char *category);
/* tw_policy_requires - what CATEGORY needs on file before the committee:
 * *N names (borrowed) */
char *const *tw_policy_requires(const struct tw_policy *p, const char *category,
                                size_t *n);
/* tw_policy_calendar - the calendar (borrowed) */
const struct tw_calendar *tw_policy_calendar(const struct tw_policy *p);
/* tw_policy_fingerprint - hex sha256 of the effective settings (borrowed) */
const char *tw_policy_fingerprint(const struct tw_policy *p);
/* tw_policy_summary - the effective settings in one line (borrowed) */
const char *tw_policy_summary(const struct tw_policy *p);
/* tw_policy_sweep_every / _limit - the sweeper's pace */
int64_t tw_policy_sweep_every(const struct tw_policy *p);
int64_t tw_policy_sweep_limit(const struct tw_policy *p);

/* tw_policy_deadlines - a case of CATEGORY received at START with PAUSES:
 * its decision due time and its warning time (TW_TIME_NEVER while a pause
 * is open), both from the one deadline function */
void tw_policy_deadlines(const struct tw_policy *p, const char *category,
                         tw_time start, const struct tw_interval *pauses,
                         size_t npauses, tw_time *due, tw_time *warn);

#endif
