/*
 * error.c - the fixed list of bus error codes and whether each is worth
 * retrying. Clients decide from "retry" alone; the names are the wire format.
 */
#include "error.h"

#include <string.h>

static const struct {
    const char *name;
    bool retry;
} codes[TW_E__COUNT] = {
    [TW_E_NONE] = {"none", false},
    [TW_E_BAD_JSON] = {"bad_json", false},
    [TW_E_BAD_VERSION] = {"bad_version", false},
    [TW_E_UNKNOWN_OP] = {"unknown_op", false},
    [TW_E_INVALID] = {"invalid", false},
    [TW_E_TOO_LARGE] = {"too_large", false},
    [TW_E_NOT_FOUND] = {"not_found", false},
    [TW_E_FORBIDDEN] = {"forbidden", false},
    [TW_E_CONFLICT] = {"conflict", false},
    [TW_E_UNAVAILABLE] = {"unavailable", true},
    [TW_E_SHUTTING_DOWN] = {"shutting_down", true},
    [TW_E_TIMEOUT] = {"timeout", true},
    [TW_E_INTERNAL] = {"internal", true},
};

/* tw_errcode_name - the wire name of CODE */
const char *tw_errcode_name(enum tw_errcode code)
{
    if ((unsigned)code >= TW_E__COUNT)
        return "internal";
    return codes[code].name;
}

/* tw_errcode_retry - whether a request failing with CODE may succeed later */
bool tw_errcode_retry(enum tw_errcode code)
{
    if ((unsigned)code >= TW_E__COUNT)
        return true;
    return codes[code].retry;
}

/* tw_errcode_from_name - the code named NAME, TW_E_INTERNAL if unknown */
enum tw_errcode tw_errcode_from_name(const char *name)
{
    for (int i = 0; name && i < TW_E__COUNT; i++)
        if (strcmp(codes[i].name, name) == 0)
            return (enum tw_errcode)i;
    return TW_E_INTERNAL;
}
