/*
 * lifecycle.h - the case status machine as data: statuses, roles and the
 * transitions between them (DESIGN.md "Case lifecycle").
 *
 * The engine enforces it (services/engine/engine_lifecycle.c) and the CLI
 * shows the next steps it allows (`case show`); both read this one table, so
 * they cannot disagree. Pure: no I/O, no allocation.
 */
#ifndef TW_LIFECYCLE_H
#define TW_LIFECYCLE_H

#include <stddef.h>

/* Staff roles, as bits (staff.role holds the name). */
enum tw_role {
    TW_ROLE_AGENT = 1 << 0,
    TW_ROLE_RESEARCHER = 1 << 1,
    TW_ROLE_COMMITTEE = 1 << 2,
    TW_ROLE_MANAGER = 1 << 3,
    TW_ROLE_ADMIN = 1 << 4,
};
/* Managers and admins may do everything. */
#define TW_ROLE_ALL                                                            \
    (TW_ROLE_AGENT | TW_ROLE_RESEARCHER | TW_ROLE_COMMITTEE |                  \
     TW_ROLE_MANAGER | TW_ROLE_ADMIN)

/* One allowed move. */
struct tw_transition {
    const char *from, *to;
    const char *verb;     /* the CLI verb that makes it: "submit" */
    unsigned roles;       /* who may (managers and admins always may) */
    const char *template; /* outbox template for the member, or NULL */
};

/* tw_role_parse - the bit of role NAME, 0 if unknown */
unsigned tw_role_parse(const char *name);
/* tw_role_names - "agent|researcher|committee|manager|admin" */
const char *tw_role_names(void);

/* tw_status_valid - whether S is one of the statuses */
int tw_status_valid(const char *s);
/* tw_status_open - whether a case in S is still being worked (not
 * rejected, resolved, closed or withdrawn) */
int tw_status_open(const char *s);

/* tw_transition_find - the move FROM -> TO, or NULL if there is none */
const struct tw_transition *tw_transition_find(const char *from,
                                               const char *to);
/* tw_transition_allowed - whether ROLES (bits) may make T */
int tw_transition_allowed(const struct tw_transition *t, unsigned roles);

/* tw_transitions_from - up to MAX moves out of FROM into OUT (in table
 * order); returns how many there are in all */
size_t tw_transitions_from(const char *from, const struct tw_transition **out,
                           size_t max);

/* tw_next_steps - "submit (in_committee), refer (with_researcher), ..."
 * for FROM into BUF; "none" when the status is final. Returns BUF. */
char *tw_next_steps(const char *from, char *buf, size_t size);

#endif
