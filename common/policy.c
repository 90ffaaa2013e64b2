/*
 * policy.c - the `sla` and `calendar` sections into one read-only struct.
 *
 * The config table holds text; building parses it with the calendar and
 * SLA modules' own parsers (so "1 business day" and "20%" mean the same
 * everywhere), fills each category's policy from the section's defaults
 * plus its overrides, and hashes a canonical description of the result into
 * the fingerprint.
 */
#include "policy.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "mem.h"

#define P(f)  offsetof(struct tw_policy_config, f)
#define PC(f) offsetof(struct tw_policy_category_config, f)

static const struct tw_cfg_key category_keys[] = {
    {.key = "decision_within",
     .type = TW_CFG_STRING,
     .offset = PC(decision_within),
     .max = 64,
     .help = "time to the committee's decision"},
    {.key = "first_response_within",
     .type = TW_CFG_STRING,
     .offset = PC(first_response_within),
     .max = 64,
     .help = "time to the first staff contact with the member"},
    {.key = "warn_before",
     .type = TW_CFG_STRING,
     .offset = PC(warn_before),
     .max = 64,
     .help = "warn this long (or this % of the target) before the due time"},
    {.key = "calendar",
     .type = TW_CFG_STRING,
     .offset = PC(mode),
     .max = 16,
     .help = "calendar (every day counts) or business (working time only)"},
    {.key = "committee_requires",
     .type = TW_CFG_STRLIST,
     .offset = PC(committee_requires),
     .max = 64,
     .help = "what must be on file before the committee"},
    {.key = NULL},
};

static const struct tw_cfg_map_spec category_spec = {
    category_keys, sizeof(struct tw_policy_category_config)};

const struct tw_cfg_key tw_policy_config_keys[] = {
    {.key = "sla.decision_within",
     .type = TW_CFG_STRING,
     .offset = P(decision_within),
     .def = "14d",
     .max = 64,
     .help = "time from receipt to the committee's decision"},
    {.key = "sla.first_response_within",
     .type = TW_CFG_STRING,
     .offset = P(first_response_within),
     .def = "1 business day",
     .max = 64,
     .help = "time from receipt to the first staff contact with the member"},
    {.key = "sla.warn_before",
     .type = TW_CFG_STRING,
     .offset = P(warn_before),
     .def = "3d",
     .max = 64,
     .help = "warn this long before the due time, or \"25%\" of the target"},
    {.key = "sla.calendar",
     .type = TW_CFG_ENUM,
     .offset = P(mode),
     .def = "calendar",
     .choices = "calendar|business",
     .help = "count every day (calendar) or only working time (business)"},
    {.key = "sla.committee_requires",
     .type = TW_CFG_STRLIST,
     .offset = P(committee_requires),
     .max = 64,
     .help = "what must be on file before any case goes to the committee"},
    {.key = "sla.sweep_every",
     .type = TW_CFG_DURATION,
     .offset = P(sweep_every),
     .def = "30s",
     .min = 100 * TW_MSEC,
     .max = TW_HOUR,
     .help = "how often the engine looks for warnings and breaches"},
    {.key = "sla.sweep_limit",
     .type = TW_CFG_INT,
     .offset = P(sweep_limit),
     .def = "500",
     .min = 1,
     .max = 100000,
     .help = "cases one sweep round handles at most (intake waits for it)"},
    {.key = "sla.categories",
     .type = TW_CFG_MAP,
     .offset = P(categories),
     .choices = (const char *)&category_spec,
     .help = "per category: overrides of the keys above"},
    {.key = "calendar.timezone",
     .type = TW_CFG_STRING,
     .offset = P(cal_timezone),
     .def = "",
     .max = 63,
     .help = "IANA zone of the business calendar (empty: site.timezone)"},
    {.key = "calendar.weekend",
     .type = TW_CFG_STRLIST,
     .offset = P(cal_weekend),
     .def = "[friday, saturday]",
     .max = 32,
     .help = "days off each week"},
    {.key = "calendar.hours",
     .type = TW_CFG_STRING,
     .offset = P(cal_hours),
     .def = "08:00-16:00",
     .max = 16,
     .help = "working hours, for business mode"},
    {.key = "calendar.holidays",
     .type = TW_CFG_STRLIST,
     .offset = P(cal_holidays),
     .max = 200,
     .help = "\"YYYY-MM-DD name\" days off (also `tawasul holidays`)"},
    {.key = NULL},
};

struct category {
    char *name;
    struct tw_sla_policy sla;
    struct tw_strlist requires;
};

struct tw_policy {
    struct tw_calendar cal;
    struct tw_sla_policy def;
    struct tw_strlist def_requires;
    struct category *cats;
    size_t ncats;
    int64_t sweep_every, sweep_limit;
    char fingerprint[2 * crypto_hash_sha256_BYTES + 1];
    char *summary;
};

/* nz - S, or NULL when empty (an inherited value) */
static const char *nz(const char *s)
{
    return s && *s ? s : NULL;
}

/* copy_list - a deep copy of SRC into DST */
static void copy_list(struct tw_strlist *dst, const struct tw_strlist *src)
{
    size_t n = src->n;
    char **v = n ? tw_calloc(n, sizeof *v) : NULL;
    for (size_t i = 0; i < n; i++)
        v[i] = tw_strdup(src->v[i]);
    dst->n = n;
    dst->v = v;
}

/* free_list - free what copy_list made */
static void free_list(struct tw_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* describe - one policy's canonical text */
static void describe(struct tw_buf *b, const char *name,
                     const struct tw_sla_policy *p,
                     const struct tw_strlist *req)
{
    int rc = tw_buf_addf(b, "%s:%s,%lld,%lld,%d,%lld,%d,req=", name,
                         p->mode == TW_SLA_BUSINESS ? "business" : "calendar",
                         (long long)p->decision_within,
                         (long long)p->first_response_within,
                         p->first_response_business, (long long)p->warn_before,
                         p->warn_before_pct);
    for (size_t i = 0; i < req->n; i++)
        rc |= tw_buf_addf(b, "%s%s", i ? "+" : "", req->v[i]);
    rc |= tw_buf_add(b, ";", 1);
    (void)rc; /* no cap */
}

/* fingerprint - hash of everything a deadline depends on */
static void fingerprint(struct tw_policy *p)
{
    struct tw_buf b;
    tw_buf_init(&b, 0);
    describe(&b, "*", &p->def, &p->def_requires);
    for (size_t i = 0; i < p->ncats; i++)
        describe(&b, p->cats[i].name, &p->cats[i].sla, &p->cats[i].requires);
    int rc = tw_buf_addf(&b, "cal:%s,%u,%d-%d,hol=", p->cal.tz, p->cal.weekend,
                         p->cal.work_start, p->cal.work_end);
    for (size_t i = 0; i < p->cal.nholidays; i++)
        rc |= tw_buf_addf(&b, "%ld,", (long)p->cal.holidays[i]);
    (void)rc;
    size_t len = 0;
    char *text = tw_buf_take(&b, &len);
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)text, len);
    sodium_bin2hex(p->fingerprint, sizeof p->fingerprint, h, sizeof h);
    char dw[32];
    p->summary =
        tw_asprintf("%s, decision within %s, %zu categories, %s, %zu holidays",
                    p->def.mode == TW_SLA_BUSINESS ? "business" : "calendar",
                    tw_duration_format(p->def.decision_within, dw, sizeof dw),
                    p->ncats, p->cal.tz, p->cal.nholidays);
    free(text);
}

/* tw_policy_build - see policy.h */
int tw_policy_build(const struct tw_policy_config *cfg, const char *site_tz,
                    const int32_t *holidays, size_t nholidays,
                    struct tw_policy **out, char *err, size_t errsz)
{
    struct tw_policy *p = tw_calloc(1, sizeof *p);
    char why[256];
    const char *tz = nz(cfg->cal_timezone) ? cfg->cal_timezone : site_tz;
    *out = NULL;
    if (tw_calendar_build(&p->cal, tz, &cfg->cal_weekend, nz(cfg->cal_hours),
                          &cfg->cal_holidays, why, sizeof why) != TW_OK) {
        snprintf(err, errsz, "calendar: %s", why);
        free(p);
        return TW_PERMFAIL;
    }
    for (size_t i = 0; i < nholidays; i++)
        tw_calendar_add_holiday(&p->cal, holidays[i]);
    tw_sla_policy_default(&p->def);
    if (tw_sla_policy_parse(&p->def, nz(cfg->mode), nz(cfg->decision_within),
                            nz(cfg->first_response_within),
                            nz(cfg->warn_before), why, sizeof why) != TW_OK) {
        snprintf(err, errsz, "sla.%s", why);
        goto fail;
    }
    copy_list(&p->def_requires, &cfg->committee_requires);
    p->cats = tw_calloc(cfg->categories.n + 1, sizeof *p->cats);
    for (size_t i = 0; i < cfg->categories.n; i++) {
        const struct tw_policy_category_config *cc = cfg->categories.entries[i];
        struct category *c = &p->cats[p->ncats++];
        c->name = tw_strdup(cfg->categories.names[i]);
        c->sla = p->def;
        if (tw_sla_policy_parse(&c->sla, nz(cc->mode), nz(cc->decision_within),
                                nz(cc->first_response_within),
                                nz(cc->warn_before), why,
                                sizeof why) != TW_OK) {
            snprintf(err, errsz, "sla.categories.%s.%s", c->name, why);
            goto fail;
        }
        copy_list(&c->requires, cc->committee_requires.n
                                    ? &cc->committee_requires
                                    : &cfg->committee_requires);
    }
    p->sweep_every = cfg->sweep_every;
    p->sweep_limit = cfg->sweep_limit;
    fingerprint(p);
    *out = p;
    return TW_OK;
fail:
    tw_policy_destroy(&p);
    return TW_PERMFAIL;
}

/* tw_policy_destroy - see policy.h */
void tw_policy_destroy(struct tw_policy **pp)
{
    struct tw_policy *p = *pp;
    if (!p)
        return;
    tw_calendar_free(&p->cal);
    free_list(&p->def_requires);
    for (size_t i = 0; i < p->ncats; i++) {
        free(p->cats[i].name);
        free_list(&p->cats[i].requires);
    }
    free(p->cats);
    free(p->summary);
    free(p);
    *pp = NULL;
}

/* find - CATEGORY's entry, or NULL */
static const struct category *find(const struct tw_policy *p,
                                   const char *category)
{
    for (size_t i = 0; category && i < p->ncats; i++)
        if (strcmp(p->cats[i].name, category) == 0)
            return &p->cats[i];
    return NULL;
}

/* tw_policy_sla - see policy.h */
const struct tw_sla_policy *tw_policy_sla(const struct tw_policy *p,
                                          const char *category)
{
    const struct category *c = find(p, category);
    return c ? &c->sla : &p->def;
}

/* tw_policy_requires - see policy.h */
char *const *tw_policy_requires(const struct tw_policy *p, const char *category,
                                size_t *n)
{
    const struct category *c = find(p, category);
    const struct tw_strlist *l = c ? &c->requires : &p->def_requires;
    *n = l->n;
    return l->v;
}

/* tw_policy_calendar - see policy.h */
const struct tw_calendar *tw_policy_calendar(const struct tw_policy *p)
{
    return &p->cal;
}

/* tw_policy_fingerprint - see policy.h */
const char *tw_policy_fingerprint(const struct tw_policy *p)
{
    return p->fingerprint;
}

/* tw_policy_summary - see policy.h */
const char *tw_policy_summary(const struct tw_policy *p)
{
    return p->summary;
}

/* tw_policy_sweep_every - see policy.h */
int64_t tw_policy_sweep_every(const struct tw_policy *p)
{
    return p->sweep_every;
}

/* tw_policy_sweep_limit - see policy.h */
int64_t tw_policy_sweep_limit(const struct tw_policy *p)
{
    return p->sweep_limit;
}

/* tw_policy_deadlines - see policy.h */
void tw_policy_deadlines(const struct tw_policy *p, const char *category,
                         tw_time start, const struct tw_interval *pauses,
                         size_t npauses, tw_time *due, tw_time *warn)
{
    const struct tw_sla_policy *s = tw_policy_sla(p, category);
    *due =
        tw_sla_deadline(s, &p->cal, start, s->decision_within, pauses, npauses);
    *warn = tw_sla_warn_at(s, &p->cal, start, pauses, npauses);
}
