/*
 * error.h - the status every fallible call returns, and the fixed list of
 * error codes that travel on the bus.
 *
 * A run-time failure is either temporary (try again later: the database is
 * down, a peer timed out) or permanent (the input is wrong and will stay
 * wrong). Callers decide between retrying and giving up from that alone, the
 * way SMTP clients read 4xx and 5xx. Bus replies name one code from the table
 * in error.c; its retry flag is part of the contract (DESIGN.md "The bus").
 */
#ifndef TW_ERROR_H
#define TW_ERROR_H

#include <stdbool.h>

/* Result of a fallible call: 0 on success, negative on failure. */
enum tw_status {
    TW_OK = 0,
    TW_TEMPFAIL = -1, /* try again later */
    TW_PERMFAIL = -2, /* retrying will not help */
};

/* Error codes carried in bus replies ("error": name). */
enum tw_errcode {
    TW_E_NONE = 0,
    TW_E_BAD_JSON,      /* frame 1 is not a JSON object */
    TW_E_BAD_VERSION,   /* "v" missing or not 1 */
    TW_E_UNKNOWN_OP,    /* "op" not one the engine knows */
    TW_E_INVALID,       /* a field is missing or has a bad value */
    TW_E_TOO_LARGE,     /* a size limit was exceeded */
    TW_E_NOT_FOUND,     /* the case or member named does not exist */
    TW_E_FORBIDDEN,     /* the actor may not do this */
    TW_E_CONFLICT,      /* the case is not in a state that allows this */
    TW_E_UNAVAILABLE,   /* database unreachable: temporary */
    TW_E_SHUTTING_DOWN, /* engine draining: temporary */
    TW_E_TIMEOUT,       /* client gave up waiting: temporary */
    TW_E_INTERNAL,      /* unexpected failure: temporary */
    TW_E__COUNT
};

/* tw_errcode_name - the wire name of CODE, e.g. "invalid" */
const char *tw_errcode_name(enum tw_errcode code);

/* tw_errcode_retry - whether a request failing with CODE may succeed later */
bool tw_errcode_retry(enum tw_errcode code);

/* tw_errcode_from_name - the code named NAME, or TW_E_INTERNAL if unknown */
enum tw_errcode tw_errcode_from_name(const char *name);

#endif
