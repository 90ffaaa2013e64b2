/*
 * config.c - the one YAML file into typed structs through declarative
 * tables (Postfix's table of name, default, pointer, min, max).
 *
 * DESIGN
 * ------
 * A load runs in three passes over the same tables: every key gets its
 * default (the `def` text, converted exactly like a value from the file, so
 * a bad default in a table is caught the first time the program starts),
 * then the file, then environment overrides. The file is read whole and
 * handed to libyaml's document API; the node tree is walked from the root,
 * building the dotted path ("database.url") as it goes down, and a scalar
 * whose path is a key in some table is converted into that table's struct.
 *
 * A top-level section is checked against tw_config_sections: one that no
 * loaded table covers is another program's business and is skipped whole,
 * one not in the list at all is a typo. Inside a covered section every key
 * must be known.
 *
 * Errors are never fatal here: each is appended as one line "file:line:
 * column: message" (libyaml's 0-based marks plus one) and the walk goes on,
 * so one run reports everything wrong with the file. If anything was wrong
 * the structs are put back to defaults and the caller decides (stop at
 * start-up, keep the old config on reload). Values are echoed in messages
 * except for strings, which may be secrets (database.url).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "buf.h"
#include "clock.h"
#include "error.h"
#include "mem.h"

#define CONFIG_FILE_MAX     ((size_t)1 << 20) /* bytes of YAML we read */
#define CONFIG_STRING_MAX   4096              /* string length when max is 0 */
#define CONFIG_SHOWN_MAX    64                /* bytes of a bad value echoed */
#define CONFIG_DEFAULT_PATH "/etc/tawasul/tawasul.yaml"

const char *const tw_config_sections[] = {
    "site",      "database",     "bus",        "log",          "sla",
    "calendar",  "cases",        "engine",     "notifier",     "smtp",
    "templates", "ingest_email", "ingest_web", "ingest_phone", "ingest_letter",
    "desk",      "cli",          NULL,
};

#define BASE(f) offsetof(struct tw_base_config, f)

/* The site, database, bus and log sections of config/tawasul.yaml. */
const struct tw_cfg_key tw_base_config_keys[] = {
    {"site.name", TW_CFG_STRING, BASE(site_name),
     "Awasir Consumer Cooperative Society", 0, 0, NULL, NULL,
     "the organisation's name, shown to members"},
    {"site.name_ar", TW_CFG_STRING, BASE(site_name_ar),
     "جمعية أواصر الاستهلاكية التعاونية", 0, 0, NULL, NULL,
     "the organisation's name in Arabic mail and pages (empty: site.name)"},
    {"site.timezone", TW_CFG_STRING, BASE(site_timezone), "Asia/Riyadh", 0, 0,
     NULL, NULL,
     "IANA time zone for dates shown to people and reference years"},
    {"site.ref_prefix", TW_CFG_STRING, BASE(site_ref_prefix), "AW", 0, 0, NULL,
     NULL, "case references are PREFIX-YYYY-NNNNNN (1-8 capitals)"},
    {"site.portal_url", TW_CFG_STRING, BASE(site_portal_url),
     "http://127.0.0.1:8080", 0, 0, "TAWASUL_PORTAL_URL", NULL,
     "the member portal's public base URL, for links in emails"},
    {"site.secret", TW_CFG_STRING, BASE(site_secret), NULL, 0, 0,
     "TAWASUL_SITE_SECRET", NULL,
     "signs members' status and survey links (at least 32 characters)"},
    {"site.mail_domain", TW_CFG_STRING, BASE(site_mail_domain),
     "tawasul.invalid", 0, 0, NULL, NULL,
     "domain of the Message-IDs we generate"},
    {"database.url", TW_CFG_STRING, BASE(database_url), "dbname=tawasul", 0, 0,
     "TAWASUL_DATABASE_URL", NULL, "libpq connection string or URI"},
    {"database.connect_timeout", TW_CFG_DURATION,
     BASE(database_connect_timeout), "5s", TW_SEC, 5 * TW_MIN, NULL, NULL,
     "how long one connection attempt may take"},
    {"database.reconnect_max", TW_CFG_DURATION, BASE(database_reconnect_max),
     "30s", 100 * TW_MSEC, TW_HOUR, NULL, NULL,
     "longest pause between reconnect attempts"},
    {"bus.intake", TW_CFG_STRING, BASE(bus_intake), "tcp://127.0.0.1:7301", 0,
     0, NULL, NULL, "ZeroMQ endpoint for commands to the engine (ROUTER)"},
    {"bus.events", TW_CFG_STRING, BASE(bus_events), "tcp://127.0.0.1:7302", 0,
     0, NULL, NULL, "ZeroMQ endpoint for events from the engine (PUB)"},
    {"bus.request_timeout", TW_CFG_DURATION, BASE(bus_request_timeout), "3s",
     100 * TW_MSEC, 10 * TW_MIN, NULL, NULL,
     "a client resends a request after this long without a reply"},
    {"bus.window", TW_CFG_INT, BASE(bus_window), "64", 1, 10000, NULL, NULL,
     "requests a client keeps in flight at once"},
    {"bus.backoff_max", TW_CFG_DURATION, BASE(bus_backoff_max), "30s",
     100 * TW_MSEC, TW_HOUR, NULL, NULL,
     "longest pause between resends while the engine is away or busy"},
    {"bus.max_request", TW_CFG_SIZE, BASE(bus_max_request), "32MB", 1024,
     INT64_C(1024) * 1024 * 1024, NULL, NULL,
     "largest request (command plus attachments) the engine accepts"},
    {"log.level", TW_CFG_ENUM, BASE(log_level), "info", 0, 0, NULL,
     "debug|info|warn|error", "lowest level of log lines written"},
    {NULL, TW_CFG_STRING, 0, NULL, 0, 0, NULL, NULL, NULL},
};

/* One load: where messages point and what has gone wrong so far. */
struct load {
    const char *path; /* as given, for messages */
    const struct tw_cfg_table *tables;
    size_t n;
    const char *text; /* the file's bytes, to place reader errors */
    size_t text_len;
    struct tw_buf errors;
    int nerrors;
};

/* vformat - FMT and AP as a new string (caller frees) */
static char *vformat(const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0)
        return tw_strdup("(message lost)");
    char *s = tw_malloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

/* message - a formatted error message (caller frees) */
__attribute__((format(printf, 1, 2))) static char *message(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vformat(fmt, ap);
    va_end(ap);
    return s;
}

/* add_error - append one line to the load's errors */
__attribute__((format(printf, 2, 3))) static void
add_error(struct load *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vformat(fmt, ap);
    va_end(ap);
    /* The buffer has no cap: it cannot fail. */
    int rc = tw_buf_addf(&L->errors, "%s%s", L->nerrors ? "\n" : "", s);
    (void)rc;
    L->nerrors++;
    free(s);
}

/* error_at - an error at MARK of the file */
__attribute__((format(printf, 3, 4))) static void
error_at(struct load *L, yaml_mark_t mark, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vformat(fmt, ap);
    va_end(ap);
    add_error(L, "%s:%zu:%zu: %s", L->path, mark.line + 1, mark.column + 1, s);
    free(s);
}

/* shown - at most CONFIG_SHOWN_MAX bytes of TEXT with control characters
 * replaced, safe to put inside one line of message */
static void shown(const char *text, char out[CONFIG_SHOWN_MAX + 4])
{
    size_t i;
    for (i = 0; text[i] && i < CONFIG_SHOWN_MAX; i++) {
        char c = text[i];
        out[i] = (unsigned char)c < 0x20 || c == 0x7f ? (char)'?' : c;
    }
    if (text[i]) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
}

/* utf8_valid - whether the N bytes at S are well-formed UTF-8 (no overlong
 * forms, surrogates or code points past U+10FFFF) */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned long cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t j = 1; j < len; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
            (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

/* parse_int - a whole decimal integer, optionally signed */
static int parse_int(const char *s, int64_t *v)
{
    const char *p = s + (*s == '-' || *s == '+');
    if (*p < '0' || *p > '9')
        return TW_PERMFAIL;
    errno = 0;
    char *end;
    long long x = strtoll(s, &end, 10);
    if (errno != 0 || *end)
        return TW_PERMFAIL;
    *v = x;
    return TW_OK;
}

/* parse_size - "512", "512B", "64KB", "10MB", "1GB" (1KB = 1024 bytes, the
 * unit in any case) */
static int parse_size(const char *s, int64_t *v)
{
    static const struct {
        const char *unit;
        int64_t mult;
    } units[] = {{"", 1},
                 {"B", 1},
                 {"KB", INT64_C(1) << 10},
                 {"MB", INT64_C(1) << 20},
                 {"GB", INT64_C(1) << 30},
                 {"TB", INT64_C(1) << 40}};
    int64_t x = 0;
    if (*s < '0' || *s > '9')
        return TW_PERMFAIL;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (x > (INT64_MAX - (*s - '0')) / 10)
            return TW_PERMFAIL;
        x = x * 10 + (*s - '0');
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(s, units[i].unit) == 0) {
            if (x > INT64_MAX / units[i].mult)
                return TW_PERMFAIL;
            *v = x * units[i].mult;
            return TW_OK;
        }
    }
    return TW_PERMFAIL;
}

/* format_size - BYTES in the largest unit that divides it exactly */
static char *format_size(int64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = {"TB", "GB", "MB", "KB"};
    for (int i = 0; i < 4; i++) {
        int64_t mult = INT64_C(1) << (10 * (4 - i));
        if (bytes != 0 && bytes % mult == 0) {
            snprintf(buf, size, "%lld%s", (long long)(bytes / mult), units[i]);
            return buf;
        }
    }
    snprintf(buf, size, "%lld", (long long)bytes);
    return buf;
}

/* format_number - V as TYPE's text (a duration, a size or plain) */
static char *format_number(enum tw_cfg_type type, int64_t v, char *buf,
                           size_t size)
{
    if (type == TW_CFG_DURATION)
        return tw_duration_format(v, buf, size);
    if (type == TW_CFG_SIZE)
        return format_size(v, buf, size);
    snprintf(buf, size, "%lld", (long long)v);
    return buf;
}

/* in_range - whether V is within K's bounds (0,0: none; max 0 with a
 * non-zero min: no upper bound) */
static int in_range(const struct tw_cfg_key *k, int64_t v)
{
    if (k->min == 0 && k->max == 0)
        return 1;
    return v >= k->min && (k->max == 0 || v <= k->max);
}

/* range_text - " between A and B", " of at least A" or "" for K */
static char *range_text(const struct tw_cfg_key *k, char *buf, size_t size)
{
    char a[32], b[32];
    if (k->min == 0 && k->max == 0)
        snprintf(buf, size, "%s", "");
    else if (k->max == 0)
        snprintf(buf, size, " of at least %s",
                 format_number(k->type, k->min, a, sizeof a));
    else
        snprintf(buf, size, " between %s and %s",
                 format_number(k->type, k->min, a, sizeof a),
                 format_number(k->type, k->max, b, sizeof b));
    return buf;
}

/* type_phrase - what K's value must be, for messages */
static const char *type_phrase(const struct tw_cfg_key *k, char *buf,
                               size_t size)
{
    switch (k->type) {
    case TW_CFG_STRING:
        return "a string";
    case TW_CFG_INT:
        return "an integer";
    case TW_CFG_BOOL:
        return "true or false";
    case TW_CFG_DURATION:
        return "a duration";
    case TW_CFG_SIZE:
        return "a size";
    case TW_CFG_STRLIST:
        return "a list of strings";
    case TW_CFG_ENUM:
        snprintf(buf, size, "one of %s", k->choices ? k->choices : "");
        return buf;
    case TW_CFG_MAP:
        return "a mapping of names";
    }
    return "a value";
}

/* choice_ok - whether S is one of the '|'-separated CHOICES */
static int choice_ok(const char *choices, const char *s)
{
    size_t len = strlen(s);
    const char *p = choices;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == len && strncmp(p, s, len) == 0)
            return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

/* check_string - NULL if the LEN bytes at TEXT may be K's string (or list
 * entry), else a message (caller frees). Never echoes the text. */
static char *check_string(const struct tw_cfg_key *k, const char *text,
                          size_t len)
{
    /* min and max bound a string's length; other types' bounds are values */
    int is_text = k->type == TW_CFG_STRING || k->type == TW_CFG_STRLIST;
    int64_t min = is_text ? k->min : 0;
    int64_t max = is_text && k->max > 0 ? k->max : CONFIG_STRING_MAX;
    if (memchr(text, '\0', len))
        return message("\"%s\" contains a NUL byte", k->key);
    if (!utf8_valid((const unsigned char *)text, len))
        return message("\"%s\" is not valid UTF-8", k->key);
    if ((int64_t)len > max)
        return message("\"%s\" is too long (%zu bytes, at most %lld)", k->key,
                       len, (long long)max);
    if (min > 0 && (int64_t)len < min)
        return min == 1 ? message("\"%s\" must not be empty", k->key)
                        : message("\"%s\" must be at least %lld bytes long",
                                  k->key, (long long)min);
    return NULL;
}

/* field - where K's value lives in BASE */
static void *field(const struct tw_cfg_key *k, void *base)
{
    return (char *)base + k->offset;
}

/* set_list - replace K's list in BASE with the N strings TEXTS (copied) */
static void set_list(const struct tw_cfg_key *k, void *base,
                     const char *const *texts, size_t n)
{
    struct tw_strlist *l = field(k, base);
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = n ? tw_calloc(n, sizeof *l->v) : NULL;
    l->n = n;
    for (size_t i = 0; i < n; i++)
        l->v[i] = tw_strdup(texts[i]);
}

/* set_list_text - K's list from a comma-separated TEXT (an environment
 * value or a default; "[a, b]" brackets allowed); NULL or a message */
static char *set_list_text(const struct tw_cfg_key *k, void *base,
                           const char *text)
{
    char *copy = tw_strdup(text), *p = copy, *msg = NULL;
    size_t n = 0, len = strlen(p);
    const char **items = tw_calloc(len / 2 + 1, sizeof *items);

    while (*p == ' ')
        p++;
    len = strlen(p);
    while (len > 0 && p[len - 1] == ' ')
        p[--len] = '\0';
    if (*p == '[' && len > 0 && p[len - 1] == ']') {
        p[len - 1] = '\0';
        p++;
    }
    for (char *save = NULL, *tok = strtok_r(p, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t tl = strlen(tok);
        while (tl > 0 && tok[tl - 1] == ' ')
            tok[--tl] = '\0';
        if (tl == 0)
            continue;
        if ((msg = check_string(k, tok, tl)) != NULL)
            goto out;
        items[n++] = tok;
    }
    set_list(k, base, items, n);
out:
    free(items);
    free(copy);
    return msg;
}

/* set_value - convert the LEN bytes of TEXT into K's field in BASE; NULL on
 * success, else a message naming the key (caller frees). A string field's
 * old value is freed. */
static char *set_value(const struct tw_cfg_key *k, void *base, const char *text,
                       size_t len)
{
    char show[CONFIG_SHOWN_MAX + 4], range[96], tb[128];
    int64_t v;
    char *msg;

    if (k->type == TW_CFG_STRLIST)
        return set_list_text(k, base, text);
    if (k->type == TW_CFG_MAP) {
        if (len == 0)
            return NULL; /* "key:" alone: no entries */
        shown(text, show);
        return message("\"%s\" must be a mapping of names, got \"%s\"", k->key,
                       show);
    }
    if ((msg = check_string(k, text, len)) != NULL) {
        if (k->type == TW_CFG_STRING)
            return msg;
        free(msg);
        shown(text, show);
        return message("\"%s\" must be %s, got \"%s\"", k->key,
                       type_phrase(k, tb, sizeof tb), show);
    }
    shown(text, show);
    switch (k->type) {
    case TW_CFG_STRING: {
        char **s = field(k, base);
        free(*s);
        *s = tw_strndup(text, len);
        return NULL;
    }
    case TW_CFG_ENUM: {
        if (!choice_ok(k->choices, text))
            return message("\"%s\" must be one of %s, got \"%s\"", k->key,
                           k->choices ? k->choices : "", show);
        char **s = field(k, base);
        free(*s);
        *s = tw_strndup(text, len);
        return NULL;
    }
    case TW_CFG_BOOL: {
        static const char *const yes[] = {"true", "yes", "on"};
        static const char *const no[] = {"false", "no", "off"};
        for (int i = 0; i < 3; i++) {
            if (strcasecmp(text, yes[i]) == 0 || strcasecmp(text, no[i]) == 0) {
                *(int *)field(k, base) = strcasecmp(text, yes[i]) == 0;
                return NULL;
            }
        }
        return message("\"%s\" must be true or false, got \"%s\"", k->key,
                       show);
    }
    case TW_CFG_INT:
        if (parse_int(text, &v) != TW_OK || !in_range(k, v))
            return message("\"%s\" must be an integer%s, got \"%s\"", k->key,
                           range_text(k, range, sizeof range), show);
        break;
    case TW_CFG_DURATION:
        if (tw_duration_parse(text, &v) != TW_OK)
            return message("\"%s\": bad duration \"%s\" (use e.g. 14d, 36h, "
                           "90m)",
                           k->key, show);
        if (!in_range(k, v))
            return message("\"%s\" must be a duration%s, got \"%s\"", k->key,
                           range_text(k, range, sizeof range), show);
        break;
    case TW_CFG_SIZE:
        if (parse_size(text, &v) != TW_OK)
            return message("\"%s\": bad size \"%s\" (use e.g. 512, 64KB, "
                           "10MB)",
                           k->key, show);
        if (!in_range(k, v))
            return message("\"%s\" must be a size%s, got \"%s\"", k->key,
                           range_text(k, range, sizeof range), show);
        break;
    case TW_CFG_STRLIST:
    case TW_CFG_MAP:
        break; /* handled above */
    }
    *(int64_t *)field(k, base) = v;
    return NULL;
}

/* set_defaults - give every key of every table its default; a default the
 * converters reject is a bug in the table, reported like any error */
static void map_clear(const struct tw_cfg_key *k, void *base);

/* table_defaults - give every key of KEYS its default in BASE */
static void table_defaults(struct load *L, const struct tw_cfg_key *keys,
                           void *base)
{
    {
        for (const struct tw_cfg_key *k = keys; k->key; k++) {
            char *msg = NULL;
            switch (k->type) {
            case TW_CFG_STRING:
            case TW_CFG_ENUM:
                *(char **)field(k, base) = NULL;
                if (k->type == TW_CFG_ENUM && !k->def)
                    msg = message("\"%s\" has no default", k->key);
                else
                    msg = set_value(k, base, k->def ? k->def : "",
                                    strlen(k->def ? k->def : ""));
                break;
            case TW_CFG_STRLIST: {
                struct tw_strlist *l = field(k, base);
                l->n = 0;
                l->v = NULL;
                if (k->def)
                    msg = set_value(k, base, k->def, strlen(k->def));
                break;
            }
            case TW_CFG_BOOL:
                *(int *)field(k, base) = 0;
                if (k->def)
                    msg = set_value(k, base, k->def, strlen(k->def));
                break;
            case TW_CFG_INT:
            case TW_CFG_DURATION:
            case TW_CFG_SIZE:
                *(int64_t *)field(k, base) = 0;
                if (k->def)
                    msg = set_value(k, base, k->def, strlen(k->def));
                break;
            case TW_CFG_MAP:
                memset(field(k, base), 0, sizeof(struct tw_cfg_map));
                break;
            }
            if (msg) {
                add_error(L, "internal: bad default: %s", msg);
                free(msg);
                /* keep the field usable: never a NULL string */
                if ((k->type == TW_CFG_STRING || k->type == TW_CFG_ENUM) &&
                    !*(char **)field(k, base))
                    *(char **)field(k, base) = tw_strdup("");
            }
        }
    }
}

/* set_defaults - give every key of every table its default */
static void set_defaults(struct load *L)
{
    for (size_t t = 0; t < L->n; t++)
        table_defaults(L, L->tables[t].keys, L->tables[t].base);
}

/* set_env - apply each key's environment override (set and non-empty) */
static void set_env(struct load *L)
{
    for (size_t t = 0; t < L->n; t++) {
        void *base = L->tables[t].base;
        for (const struct tw_cfg_key *k = L->tables[t].keys; k->key; k++) {
            const char *v = k->env ? getenv(k->env) : NULL;
            if (!v || !*v)
                continue;
            char *msg = set_value(k, base, v, strlen(v));
            if (msg) {
                add_error(L, "environment %s: %s", k->env, msg);
                free(msg);
            }
        }
    }
}

/* find_key - the first key named PATH in any table, or NULL */
static const struct tw_cfg_key *find_key(const struct load *L, const char *path)
{
    for (size_t t = 0; t < L->n; t++)
        for (const struct tw_cfg_key *k = L->tables[t].keys; k->key; k++)
            if (strcmp(k->key, path) == 0)
                return k;
    return NULL;
}

/* has_prefix - whether some key lies below PATH ("PATH.x") */
static int has_prefix(const struct load *L, const char *path)
{
    size_t len = strlen(path);
    for (size_t t = 0; t < L->n; t++)
        for (const struct tw_cfg_key *k = L->tables[t].keys; k->key; k++)
            if (strncmp(k->key, path, len) == 0 && k->key[len] == '.')
                return 1;
    return 0;
}

/* section_known - whether NAME is a section some Tawasul program reads */
static int section_known(const char *name)
{
    for (const char *const *s = tw_config_sections; *s; s++)
        if (strcmp(*s, name) == 0)
            return 1;
    return 0;
}

/* scalar_text - a scalar node's text */
static const char *scalar_text(const yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

/* is_null - whether NODE is YAML's null ("", "~", "null" unquoted) */
static int is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE ||
        node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = scalar_text(node);
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* node_kind - "a mapping" or "a list", for messages */
static const char *node_kind(const yaml_node_t *node)
{
    return node->type == YAML_MAPPING_NODE ? "a mapping" : "a list";
}

/* duplicate - whether pair I of mapping NODE repeats an earlier key */
static int duplicate(yaml_document_t *doc, const yaml_node_t *node,
                     const yaml_node_pair_t *pair)
{
    const yaml_node_t *key = yaml_document_get_node(doc, pair->key);
    for (const yaml_node_pair_t *p = node->data.mapping.pairs.start; p < pair;
         p++) {
        const yaml_node_t *other = yaml_document_get_node(doc, p->key);
        if (other->type == YAML_SCALAR_NODE &&
            strcmp(scalar_text(other), scalar_text(key)) == 0)
            return 1;
    }
    return 0;
}

/* set_scalar - store scalar NODE into every key named PATH */
static void set_scalar(struct load *L, const yaml_node_t *node,
                       const char *path)
{
    const char *text = is_null(node) ? "" : scalar_text(node);
    size_t len = is_null(node) ? 0 : node->data.scalar.length;
    char show[CONFIG_SHOWN_MAX + 4];

    for (size_t t = 0; t < L->n; t++) {
        for (const struct tw_cfg_key *k = L->tables[t].keys; k->key; k++) {
            if (strcmp(k->key, path) != 0)
                continue;
            char *msg = NULL;
            if (k->type == TW_CFG_STRLIST) {
                if (is_null(node)) {
                    set_list(k, L->tables[t].base, NULL, 0);
                } else {
                    shown(text, show);
                    msg = message("\"%s\" must be a list of strings, got "
                                  "\"%s\"",
                                  path, show);
                }
            } else {
                msg = set_value(k, L->tables[t].base, text, len);
            }
            if (msg) {
                error_at(L, node->start_mark, "%s", msg);
                free(msg);
                return;
            }
        }
    }
}

/* set_sequence - store sequence NODE into the list keys named PATH */
static void set_sequence(struct load *L, yaml_document_t *doc,
                         const yaml_node_t *node, const char *path)
{
    size_t n = (size_t)(node->data.sequence.items.top -
                        node->data.sequence.items.start);
    const char **texts = tw_calloc(n + 1, sizeof *texts);
    const struct tw_cfg_key *k = find_key(L, path);
    char tb[128];

    if (k->type != TW_CFG_STRLIST) {
        error_at(L, node->start_mark, "\"%s\" must be %s, got a list", path,
                 type_phrase(k, tb, sizeof tb));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item =
            yaml_document_get_node(doc, node->data.sequence.items.start[i]);
        if (item->type != YAML_SCALAR_NODE) {
            error_at(L, item->start_mark,
                     "\"%s\" must be a list of strings, got %s as entry %zu",
                     path, node_kind(item), i + 1);
            goto out;
        }
        texts[i] = is_null(item) ? "" : scalar_text(item);
        char *msg = check_string(k, texts[i],
                                 is_null(item) ? 0 : item->data.scalar.length);
        if (msg) {
            error_at(L, item->start_mark, "%s (entry %zu)", msg, i + 1);
            free(msg);
            goto out;
        }
    }
    for (size_t t = 0; t < L->n; t++)
        for (const struct tw_cfg_key *kk = L->tables[t].keys; kk->key; kk++)
            if (strcmp(kk->key, path) == 0 && kk->type == TW_CFG_STRLIST)
                set_list(kk, L->tables[t].base, texts, n);
out:
    free(texts);
}

static void walk(struct load *L, yaml_document_t *doc, const yaml_node_t *node,
                 const char *path, yaml_mark_t key_mark);

/* map_entry - fill ENTRY (a struct of K's sub table) from mapping NODE
 * found at PATH */
static void map_entry(struct load *L, yaml_document_t *doc,
                      const struct tw_cfg_key *k, void *entry,
                      const yaml_node_t *node, const char *path)
{
    char tb[128];
    if (is_null(node))
        return;
    if (node->type != YAML_MAPPING_NODE) {
        error_at(L, node->start_mark, "\"%s\" must be a mapping", path);
        return;
    }
    for (const yaml_node_pair_t *p = node->data.mapping.pairs.start;
         p < node->data.mapping.pairs.top; p++) {
        const yaml_node_t *key = yaml_document_get_node(doc, p->key);
        const yaml_node_t *value = yaml_document_get_node(doc, p->value);
        if (key->type != YAML_SCALAR_NODE) {
            error_at(L, key->start_mark, "keys under \"%s\" must be names",
                     path);
            continue;
        }
        const struct tw_cfg_key *sk = TW_CFG_MAP_SPEC(k)->keys;
        while (sk->key && strcmp(sk->key, scalar_text(key)) != 0)
            sk++;
        if (!sk->key) {
            error_at(L, key->start_mark, "unknown key \"%s.%s\"", path,
                     scalar_text(key));
            continue;
        }
        if (duplicate(doc, node, p)) {
            error_at(L, key->start_mark, "duplicate key \"%s.%s\"", path,
                     sk->key);
            continue;
        }
        char *msg = NULL;
        if (value->type == YAML_SCALAR_NODE) {
            msg = set_value(sk, entry, is_null(value) ? "" : scalar_text(value),
                            is_null(value) ? 0 : value->data.scalar.length);
        } else if (value->type == YAML_SEQUENCE_NODE &&
                   sk->type == TW_CFG_STRLIST) {
            size_t n = (size_t)(value->data.sequence.items.top -
                                value->data.sequence.items.start);
            const char **texts = tw_calloc(n + 1, sizeof *texts);
            for (size_t i = 0; i < n && !msg; i++) {
                const yaml_node_t *item = yaml_document_get_node(
                    doc, value->data.sequence.items.start[i]);
                if (item->type != YAML_SCALAR_NODE)
                    msg = message("\"%s.%s\" must be a list of strings", path,
                                  sk->key);
                else
                    texts[i] = is_null(item) ? "" : scalar_text(item);
            }
            if (!msg)
                set_list(sk, entry, texts, n);
            free(texts);
        } else {
            msg = message("\"%s.%s\" must be %s", path, sk->key,
                          type_phrase(sk, tb, sizeof tb));
        }
        if (msg) {
            error_at(L, value->start_mark, "%s.%s: %s", path, sk->key, msg);
            free(msg);
        }
    }
}

/* walk_map - the entries of a TW_CFG_MAP key at PATH (mapping NODE): each
 * name gets a struct with the sub table's defaults, then its values */
static void walk_map(struct load *L, yaml_document_t *doc,
                     const yaml_node_t *node, const char *path)
{
    for (size_t t = 0; t < L->n; t++) {
        for (const struct tw_cfg_key *k = L->tables[t].keys; k->key; k++) {
            if (strcmp(k->key, path) != 0 || k->type != TW_CFG_MAP)
                continue;
            struct tw_cfg_map *m = field(k, L->tables[t].base);
            map_clear(k, L->tables[t].base);
            size_t n = (size_t)(node->data.mapping.pairs.top -
                                node->data.mapping.pairs.start);
            m->names = tw_calloc(n + 1, sizeof *m->names);
            m->entries = tw_calloc(n + 1, sizeof *m->entries);
            for (const yaml_node_pair_t *p = node->data.mapping.pairs.start;
                 p < node->data.mapping.pairs.top; p++) {
                const yaml_node_t *key = yaml_document_get_node(doc, p->key);
                const yaml_node_t *value =
                    yaml_document_get_node(doc, p->value);
                if (key->type != YAML_SCALAR_NODE || is_null(key)) {
                    error_at(L, key->start_mark,
                             "keys under \"%s\" must be names", path);
                    continue;
                }
                if (duplicate(doc, node, p)) {
                    error_at(L, key->start_mark, "duplicate key \"%s.%s\"",
                             path, scalar_text(key));
                    continue;
                }
                void *entry = tw_calloc(1, TW_CFG_MAP_SPEC(k)->size);
                table_defaults(L, TW_CFG_MAP_SPEC(k)->keys, entry);
                char *child = tw_asprintf("%s.%s", path, scalar_text(key));
                map_entry(L, doc, k, entry, value, child);
                free(child);
                m->names[m->n] = tw_strdup(scalar_text(key));
                m->entries[m->n++] = entry;
            }
        }
    }
}

/* walk_mapping - walk each pair of mapping NODE found at PATH */
static void walk_mapping(struct load *L, yaml_document_t *doc,
                         const yaml_node_t *node, const char *path)
{
    for (const yaml_node_pair_t *p = node->data.mapping.pairs.start;
         p < node->data.mapping.pairs.top; p++) {
        const yaml_node_t *key = yaml_document_get_node(doc, p->key);
        const yaml_node_t *value = yaml_document_get_node(doc, p->value);
        if (key->type != YAML_SCALAR_NODE) {
            error_at(L, key->start_mark, "keys under \"%s\" must be names",
                     path);
            continue;
        }
        char *child = tw_asprintf("%s.%s", path, scalar_text(key));
        if (duplicate(doc, node, p))
            error_at(L, key->start_mark, "duplicate key \"%s\"", child);
        else
            walk(L, doc, value, child, key->start_mark);
        free(child);
    }
}

/* walk - check NODE, found at dotted PATH under a key at KEY_MARK, against
 * the tables and store what it sets */
static void walk(struct load *L, yaml_document_t *doc, const yaml_node_t *node,
                 const char *path, yaml_mark_t key_mark)
{
    const struct tw_cfg_key *k = find_key(L, path);
    char show[CONFIG_SHOWN_MAX + 4], tb[128];

    if (!k && !has_prefix(L, path)) {
        error_at(L, key_mark, "unknown key \"%s\"", path);
        return;
    }
    switch (node->type) {
    case YAML_SCALAR_NODE:
        if (k) {
            set_scalar(L, node, path);
        } else if (!is_null(node)) { /* "section:" alone is empty */
            shown(scalar_text(node), show);
            error_at(L, node->start_mark,
                     "\"%s\" must be a mapping, got \"%s\"", path, show);
        }
        break;
    case YAML_SEQUENCE_NODE:
        if (k)
            set_sequence(L, doc, node, path);
        else
            error_at(L, node->start_mark,
                     "\"%s\" must be a mapping, got a list", path);
        break;
    case YAML_MAPPING_NODE:
        if (k && k->type == TW_CFG_MAP)
            walk_map(L, doc, node, path);
        else if (k)
            error_at(L, node->start_mark, "\"%s\" must be %s, got a mapping",
                     path, type_phrase(k, tb, sizeof tb));
        else
            walk_mapping(L, doc, node, path);
        break;
    case YAML_NO_NODE:
        break;
    }
}

/* walk_root - check each top-level section of ROOT */
static void walk_root(struct load *L, yaml_document_t *doc,
                      const yaml_node_t *root)
{
    if (is_null(root))
        return;
    if (root->type != YAML_MAPPING_NODE) {
        error_at(L, root->start_mark,
                 "the file must be a mapping of sections (site:, "
                 "database:, ...)");
        return;
    }
    for (const yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        const yaml_node_t *key = yaml_document_get_node(doc, p->key);
        const yaml_node_t *value = yaml_document_get_node(doc, p->value);
        if (key->type != YAML_SCALAR_NODE) {
            error_at(L, key->start_mark, "section names must be names");
            continue;
        }
        const char *name = scalar_text(key);
        if (duplicate(doc, root, p))
            error_at(L, key->start_mark, "duplicate section \"%s\"", name);
        else if (find_key(L, name) || has_prefix(L, name))
            walk(L, doc, value, name, key->start_mark);
        else if (!section_known(name))
            error_at(L, key->start_mark, "unknown section \"%s\"", name);
        /* else: another program's section */
    }
}

/* syntax_error - report the parser's error with its position */
static void syntax_error(struct load *L, const yaml_parser_t *parser)
{
    const char *problem = parser->problem ? parser->problem : "YAML error";
    yaml_mark_t mark = parser->problem_mark;

    if (parser->error == YAML_MEMORY_ERROR) {
        fprintf(stderr, "tawasul: fatal: out of memory parsing YAML\n");
        abort();
    }
    if (parser->error == YAML_READER_ERROR) {
        /* reader errors carry a byte offset, not a mark */
        size_t off = parser->problem_offset;
        mark.line = 0;
        mark.column = 0;
        for (size_t i = 0; i < off && i < L->text_len; i++) {
            if (L->text[i] == '\n') {
                mark.line++;
                mark.column = 0;
            } else if (((unsigned char)L->text[i] & 0xc0) != 0x80) {
                mark.column++;
            }
        }
        error_at(L, mark, "%s", problem);
    } else if (parser->context) {
        error_at(L, mark, "%s (%s at line %zu column %zu)", problem,
                 parser->context, parser->context_mark.line + 1,
                 parser->context_mark.column + 1);
    } else {
        error_at(L, mark, "%s", problem);
    }
}

/* read_file - PATH's whole content into *TEXT (caller frees); NULL or a
 * message */
static char *read_file(const char *path, char **text, size_t *len)
{
    struct tw_buf b;
    char chunk[8192];
    char *msg = NULL;
    FILE *fp = fopen(path, "rb");

    tw_buf_init(&b, CONFIG_FILE_MAX);
    if (!fp)
        return message("cannot read %s: %s", path, strerror(errno));
    for (;;) {
        size_t n = fread(chunk, 1, sizeof chunk, fp);
        if (n == 0)
            break;
        if (tw_buf_add(&b, chunk, n) != TW_OK) {
            msg = message("cannot read %s: larger than %zu bytes", path,
                          CONFIG_FILE_MAX);
            goto out;
        }
    }
    if (ferror(fp)) {
        msg = message("cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    *text = tw_buf_take(&b, len);
out:
    tw_buf_free(&b);
    fclose(fp);
    return msg;
}

/* load_file - parse PATH and walk its document */
static void load_file(struct load *L)
{
    char *text = NULL;
    size_t len = 0;
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_parser = 0;

    char *msg = read_file(L->path, &text, &len);
    if (msg) {
        add_error(L, "%s", msg);
        free(msg);
        goto out;
    }
    L->text = text;
    L->text_len = len;
    if (!yaml_parser_initialize(&parser)) {
        fprintf(stderr, "tawasul: fatal: out of memory parsing YAML\n");
        abort();
    }
    have_parser = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        syntax_error(L, &parser);
        goto out;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root)
        walk_root(L, &doc, root);
    yaml_document_delete(&doc);
    if (!root)
        goto out;
    /* A second document would be silently ignored: refuse it. */
    if (!yaml_parser_load(&parser, &doc)) {
        syntax_error(L, &parser);
        goto out;
    }
    root = yaml_document_get_root_node(&doc);
    if (root)
        error_at(L, root->start_mark, "only one YAML document is allowed");
    yaml_document_delete(&doc);
out:
    if (have_parser)
        yaml_parser_delete(&parser);
    L->text = NULL;
    L->text_len = 0;
    free(text);
}

/* tw_config_default_path - $TAWASUL_CONFIG, else /etc/tawasul/tawasul.yaml */
const char *tw_config_default_path(void)
{
    const char *env = getenv("TAWASUL_CONFIG");
    return env && *env ? env : CONFIG_DEFAULT_PATH;
}

/* tw_config_load - defaults, then PATH, then the environment into each
 * table's struct. The structs must not hold strings from an earlier load
 * (free them first): they are overwritten, not freed. */
int tw_config_load(const char *path, const struct tw_cfg_table *tables,
                   size_t n, char **errors)
{
    struct load L = {.path = path, .tables = tables, .n = n};

    tw_buf_init(&L.errors, 0);
    set_defaults(&L);
    if (path)
        load_file(&L);
    set_env(&L);
    if (L.nerrors) {
        /* Back to defaults: no half-applied file reaches the caller. */
        struct load again = {.path = path, .tables = tables, .n = n};
        tw_buf_init(&again.errors, 0);
        tw_config_free(tables, n);
        set_defaults(&again);
        tw_buf_free(&again.errors);
    }
    if (errors)
        *errors = L.nerrors ? tw_buf_take(&L.errors, NULL) : NULL;
    tw_buf_free(&L.errors);
    return L.nerrors ? TW_PERMFAIL : TW_OK;
}

/* tw_config_free - free the strings and lists; pointers left NULL */
void tw_config_free(const struct tw_cfg_table *tables, size_t n)
{
    for (size_t t = 0; t < n; t++) {
        void *base = tables[t].base;
        for (const struct tw_cfg_key *k = tables[t].keys; k->key; k++) {
            if (k->type == TW_CFG_STRING || k->type == TW_CFG_ENUM) {
                char **s = field(k, base);
                free(*s);
                *s = NULL;
            } else if (k->type == TW_CFG_STRLIST) {
                set_list(k, base, NULL, 0);
            } else if (k->type == TW_CFG_MAP) {
                map_clear(k, base);
            }
        }
    }
}

/* tw_config_describe - one line per key:
 * "key (type, default X): help [env NAME]" */
void tw_config_describe(const struct tw_cfg_table *tables, size_t n, FILE *fp)
{
    static const char *const names[] = {
        [TW_CFG_STRING] = "string", [TW_CFG_INT] = "integer",
        [TW_CFG_BOOL] = "boolean",  [TW_CFG_DURATION] = "duration",
        [TW_CFG_SIZE] = "size",     [TW_CFG_STRLIST] = "list",
        [TW_CFG_ENUM] = "one of",   [TW_CFG_MAP] = "map",
    };
    for (size_t t = 0; t < n; t++) {
        for (const struct tw_cfg_key *k = tables[t].keys; k->key; k++) {
            char range[96], def[128];
            const char *d = k->def ? k->def : "";
            if (k->type == TW_CFG_MAP)
                range[0] = '\0';
            else if (k->type == TW_CFG_ENUM)
                snprintf(range, sizeof range, " %s",
                         k->choices ? k->choices : "");
            else if (k->type == TW_CFG_STRING || k->type == TW_CFG_STRLIST)
                range[0] = '\0';
            else
                range_text(k, range, sizeof range);
            if (k->type == TW_CFG_STRING)
                snprintf(def, sizeof def, "\"%s\"", d);
            else if (k->type == TW_CFG_STRLIST)
                snprintf(def, sizeof def, "%s%s%s", *d == '[' ? "" : "[", d,
                         *d == '[' ? "" : "]");
            else if (k->type == TW_CFG_MAP)
                snprintf(def, sizeof def, "%s", "{}");
            else
                snprintf(def, sizeof def, "%s",
                         *d                       ? d
                         : k->type == TW_CFG_BOOL ? "false"
                                                  : "0");
            fprintf(fp, "%s (%s%s, default %s): %s", k->key, names[k->type],
                    range, def, k->help ? k->help : "");
            if (k->env)
                fprintf(fp, " [env %s]", k->env);
            fputc('\n', fp);
            if (k->type == TW_CFG_MAP) {
                /* each NAME's keys, as key.NAME.sub */
                for (const struct tw_cfg_key *sk = TW_CFG_MAP_SPEC(k)->keys;
                     sk->key; sk++)
                    fprintf(fp, "%s.NAME.%s (%s, default %s): %s\n", k->key,
                            sk->key, names[sk->type],
                            sk->def ? sk->def : "inherited",
                            sk->help ? sk->help : "");
            }
        }
    }
}

/* map_clear - free K's map in BASE and every entry's strings */
static void map_clear(const struct tw_cfg_key *k, void *base)
{
    struct tw_cfg_map *m = field(k, base);
    for (size_t i = 0; i < m->n; i++) {
        struct tw_cfg_table sub = {TW_CFG_MAP_SPEC(k)->keys, m->entries[i]};
        tw_config_free(&sub, 1);
        free(m->entries[i]);
        free(m->names[i]);
    }
    free(m->entries);
    free(m->names);
    memset(m, 0, sizeof *m);
}

/* tw_cfg_map_get - see config.h */
const void *tw_cfg_map_get(const struct tw_cfg_map *map, const char *name)
{
    for (size_t i = 0; map && name && i < map->n; i++)
        if (strcmp(map->names[i], name) == 0)
            return map->entries[i];
    return NULL;
}

/* tw_strlist_contains - whether S is one of L's entries */
int tw_strlist_contains(const struct tw_strlist *l, const char *s)
{
    for (size_t i = 0; l && i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return 1;
    return 0;
}
