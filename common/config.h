/*
 * config.h - YAML configuration into typed structs through declarative tables.
 *
 * Each service describes its keys in a table (dotted key, type, offset into
 * its struct, default, min, max, environment override, help). tw_config_load
 * fills every listed table from one YAML file: defaults first, then the file,
 * then environment overrides. Unknown keys, wrong types, out-of-range values
 * and YAML syntax errors are all reported, each as "file:line:column:
 * message", and the load fails as a whole - the caller keeps its old config
 * (on SIGHUP) or stops (at start-up).
 *
 * libyaml resolves no types: every scalar is text, converted here. A key whose
 * top-level section belongs to another service (tw_config_sections)
 * is skipped, so every service can read the one shared file.
 */
#ifndef TW_CONFIG_H
#define TW_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum tw_cfg_type {
    TW_CFG_STRING,   /* char *; max = maximum length in bytes (0: 4096) */
    TW_CFG_INT,      /* int64_t within [min, max] */
    TW_CFG_BOOL,     /* int: true/false/yes/no/on/off */
    TW_CFG_DURATION, /* int64_t microseconds; min/max in microseconds */
    TW_CFG_SIZE,     /* int64_t bytes: "512", "64KB", "10MB", "1GB" */
    TW_CFG_STRLIST,  /* struct tw_strlist: a YAML sequence of scalars */
    TW_CFG_ENUM,     /* char *; must be one of the '|'-separated choices */
    TW_CFG_MAP,      /* struct tw_cfg_map: a mapping of free names (e.g.
                        categories), each to a mapping of the keys of a
                        struct tw_cfg_map_spec (see below) */
};

struct tw_strlist {
    size_t n;
    char **v;
};

struct tw_cfg_key;

/* A TW_CFG_MAP's value: N named entries, each a struct its `sub` table
 * filled (defaults first, then what the file says under that name). */
struct tw_cfg_map {
    size_t n;
    char **names;
    void **entries;
};

struct tw_cfg_key {
    const char *key; /* "database.url" */
    enum tw_cfg_type type;
    size_t offset;       /* offsetof(struct x, field) */
    const char *def;     /* default, written as in YAML; NULL: empty/0 */
    int64_t min, max;    /* range (see types); 0,0: unbounded */
    const char *env;     /* environment variable that overrides, or NULL */
    const char *choices; /* TW_CFG_ENUM: "a|b|c" */
    const char *help;    /* one line, for --help and config check */
};

/* What a TW_CFG_MAP's entries hold. The key's `choices` points to one of
 * these (cast: `.choices = (const char *)&spec`), so that every existing
 * table keeps its shape. */
struct tw_cfg_map_spec {
    const struct tw_cfg_key *keys; /* relative names: "decision_within" */
    size_t size;                   /* sizeof an entry's struct */
};
/* tw_cfg_map_spec - K's entry spec (K must be a TW_CFG_MAP) */
#define TW_CFG_MAP_SPEC(k)                                                     \
    ((const struct tw_cfg_map_spec *)(const void *)(k)->choices)

/* tw_cfg_map_get - MAP's entry named NAME, or NULL (borrowed) */
const void *tw_cfg_map_get(const struct tw_cfg_map *map, const char *name);

/* One table and the struct it fills. */
struct tw_cfg_table {
    const struct tw_cfg_key *keys; /* terminated by an entry with key NULL */
    void *base;
};

/* The settings every service shares: database, bus, log, site. */
struct tw_base_config {
    char *database_url;
    int64_t database_connect_timeout; /* usec */
    int64_t database_reconnect_max;   /* usec: backoff ceiling */
    char *bus_intake;
    char *bus_events;
    int64_t bus_request_timeout; /* usec before a client resends */
    int64_t bus_window;          /* client requests in flight */
    int64_t bus_backoff_max;     /* usec */
    int64_t bus_max_request;     /* bytes: one request, all frames */
    char *log_level;
    char *site_timezone;
    char *site_ref_prefix;
    char *site_name;
    char *site_name_ar;     /* the same name as Arabic text writes it */
    char *site_portal_url;  /* the member portal's public base URL */
    char *site_secret;      /* signs members' status and survey links */
    char *site_mail_domain; /* right-hand side of our Message-IDs */
};

/* Every top-level section any Tawasul program reads, NULL-terminated. A
 * section in this list that none of the loaded tables covers is skipped; a
 * section not in it is an error ("unknown section"). Add a service's section
 * here when the service is added. */
extern const char *const tw_config_sections[];

/* The table for struct tw_base_config. */
extern const struct tw_cfg_key tw_base_config_keys[];

/* tw_config_default_path - the file to read when no -c is given:
 * $TAWASUL_CONFIG, else /etc/tawasul/tawasul.yaml (borrowed) */
const char *tw_config_default_path(void);

/* tw_config_load - fill each of the N tables from PATH (PATH NULL: defaults
 * and environment only). On failure returns TW_PERMFAIL and, when ERRORS is
 * not NULL, sets *ERRORS to the newline-separated messages (caller frees);
 * the structs then hold defaults and must still be freed. */
__attribute__((warn_unused_result)) int
tw_config_load(const char *path, const struct tw_cfg_table *tables, size_t n,
               char **errors);

/* tw_config_free - free the strings and lists a load put into the tables */
void tw_config_free(const struct tw_cfg_table *tables, size_t n);

/* tw_config_describe - print each key, its type, default and help to FP
 * (for --help and documentation) */
void tw_config_describe(const struct tw_cfg_table *tables, size_t n, FILE *fp);

/* tw_strlist_contains - whether S is one of L's entries */
int tw_strlist_contains(const struct tw_strlist *l, const char *s);

#endif
