/*
 * lifecycle.c - the status machine's one table.
 *
 * Who moves a case out of a status (DESIGN.md): agents out of new,
 * awaiting_member, accepted, in_service and resolved; only a researcher out
 * of with_researcher; only the committee out of in_committee; managers and
 * admins out of anything. A rejected case is filed (closed) by an agent; a
 * closed one is reopened by a manager. Each row also names the email the
 * member gets (the notifier's template) when the move is one they must hear
 * of.
 */
#include "lifecycle.h"

#include <stdio.h>
#include <string.h>

#define A TW_ROLE_AGENT
#define R TW_ROLE_RESEARCHER
#define C TW_ROLE_COMMITTEE

static const struct tw_transition table[] = {
    {"new", "awaiting_member", "request-info", A, "info_requested"},
    {"new", "with_researcher", "refer", A, "referred"},
    {"new", "in_committee", "submit", A, NULL},
    {"new", "resolved", "resolve", A, "service_completed"},
    {"new", "withdrawn", "withdraw", A, NULL},
    {"awaiting_member", "new", "resume", A, NULL},
    {"awaiting_member", "withdrawn", "withdraw", A, NULL},
    {"with_researcher", "new", "resume", R, NULL},
    {"with_researcher", "in_committee", "submit", R, NULL},
    {"with_researcher", "withdrawn", "withdraw", R, NULL},
    {"in_committee", "accepted", "decide --accept", C, "accepted"},
    {"in_committee", "rejected", "decide --reject", C, "rejected"},
    {"in_committee", "withdrawn", "withdraw", C, NULL},
    {"accepted", "in_service", "start-service", A, NULL},
    {"accepted", "withdrawn", "withdraw", A, NULL},
    {"in_service", "resolved", "resolve", A, "service_completed"},
    {"in_service", "withdrawn", "withdraw", A, NULL},
    {"resolved", "closed", "close", A, NULL},
    {"resolved", "new", "reopen", A, "reopened"},
    {"rejected", "closed", "close", A, NULL},
    {"closed", "new", "reopen", 0, "reopened"},
};

#undef A
#undef R
#undef C

static const struct {
    const char *name;
    unsigned bit;
} roles[] = {
    {"agent", TW_ROLE_AGENT},         {"researcher", TW_ROLE_RESEARCHER},
    {"committee", TW_ROLE_COMMITTEE}, {"manager", TW_ROLE_MANAGER},
    {"admin", TW_ROLE_ADMIN},
};

static const char *const statuses[] = {
    "new",
    "awaiting_member",
    "with_researcher",
    "in_committee",
    "accepted",
    "rejected",
    "in_service",
    "resolved",
    "closed",
    "withdrawn",
    NULL,
};

/* tw_role_parse - see lifecycle.h */
unsigned tw_role_parse(const char *name)
{
    for (size_t i = 0; name && i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(roles[i].name, name) == 0)
            return roles[i].bit;
    return 0;
}

/* tw_role_names - see lifecycle.h */
const char *tw_role_names(void)
{
    return "agent|researcher|committee|manager|admin";
}

/* tw_status_valid - see lifecycle.h */
int tw_status_valid(const char *s)
{
    for (size_t i = 0; s && statuses[i]; i++)
        if (strcmp(statuses[i], s) == 0)
            return 1;
    return 0;
}

/* tw_status_open - see lifecycle.h */
int tw_status_open(const char *s)
{
    static const char *const closed[] = {"rejected", "resolved", "closed",
                                         "withdrawn"};
    if (!tw_status_valid(s))
        return 0;
    for (size_t i = 0; i < sizeof closed / sizeof closed[0]; i++)
        if (strcmp(closed[i], s) == 0)
            return 0;
    return 1;
}

/* tw_transition_find - see lifecycle.h */
const struct tw_transition *tw_transition_find(const char *from, const char *to)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].from, from) == 0 && strcmp(table[i].to, to) == 0)
            return &table[i];
    return NULL;
}

/* tw_transition_allowed - see lifecycle.h */
int tw_transition_allowed(const struct tw_transition *t, unsigned roles_held)
{
    if (roles_held & (TW_ROLE_MANAGER | TW_ROLE_ADMIN))
        return 1;
    return (t->roles & roles_held) != 0;
}

/* tw_transitions_from - see lifecycle.h */
size_t tw_transitions_from(const char *from, const struct tw_transition **out,
                           size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(table[i].from, from) != 0)
            continue;
        if (n < max)
            out[n] = &table[i];
        n++;
    }
    return n;
}

/* tw_next_steps - see lifecycle.h */
char *tw_next_steps(const char *from, char *buf, size_t size)
{
    const struct tw_transition *t[16];
    size_t n = tw_transitions_from(from, t, 16), len = 0;
    buf[0] = '\0';
    if (n > 16)
        n = 16;
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(buf + len, size - len, "%s%s (%s)", i ? ", " : "",
                         t[i]->verb, t[i]->to);
        if (w < 0 || (size_t)w >= size - len)
            break;
        len += (size_t)w;
    }
    if (n == 0)
        snprintf(buf, size, "%s", "none");
    return buf;
}
