/*
 * test_config.c - the YAML file into typed structs, and the messages an
 * administrator sees when the file is wrong: every problem reported, each
 * as "file:line:column: message" pointing at the right place.
 *
 * Fixtures are written to temporary files so each test shows its YAML next
 * to its assertions; the repo's own config/tawasul.yaml is loaded too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "error.h"
#include "policy.h"

#ifndef TW_SOURCE_DIR
#define TW_SOURCE_DIR "."
#endif

/* A service's own settings, one field of each type. */
struct svc_config {
    char *name;
    int64_t count;
    int flag;
    int64_t wait;
    int64_t limit;
    struct tw_strlist tags;
    char *mode;
    char *token;
    int64_t depth;
};

#define SVC(f) offsetof(struct svc_config, f)

static const struct tw_cfg_key svc_keys[] = {
    {"engine.name", TW_CFG_STRING, SVC(name), "engine", 1, 16, NULL, NULL,
     "a short name"},
    {"engine.count", TW_CFG_INT, SVC(count), "5", 1, 100, NULL, NULL,
     "how many"},
    {"engine.flag", TW_CFG_BOOL, SVC(flag), "false", 0, 0, NULL, NULL,
     "whether"},
    {"engine.wait", TW_CFG_DURATION, SVC(wait), "1m", TW_SEC, TW_HOUR, NULL,
     NULL, "how long"},
    {"engine.limit", TW_CFG_SIZE, SVC(limit), "64KB", 1024, INT64_C(1) << 30,
     NULL, NULL, "how big"},
    {"engine.tags", TW_CFG_STRLIST, SVC(tags), "alpha, beta", 0, 0, NULL, NULL,
     "labels"},
    {"engine.mode", TW_CFG_ENUM, SVC(mode), "fast", 0, 0, NULL, "fast|slow",
     "how"},
    {"engine.token", TW_CFG_STRING, SVC(token), NULL, 0, 0, "TW_TEST_TOKEN",
     NULL, "a secret"},
    {"engine.nested.depth", TW_CFG_INT, SVC(depth), "1", 1, 9, "TW_TEST_DEPTH",
     NULL, "how deep"},
    {NULL, TW_CFG_STRING, 0, NULL, 0, 0, NULL, NULL, NULL},
};

/* The keys of the sample file's sla, cases, engine and cli sections. */
struct sample_config {
    struct tw_strlist categories;
    int64_t max_subject;
    int64_t max_body;
    int64_t max_attachments;
    int64_t max_attachment;
    int64_t batch_max;
    char *actor;
    int64_t timeout;
    int64_t reopen_within;
};

#define SAMPLE(f) offsetof(struct sample_config, f)

static const struct tw_cfg_key sample_keys[] = {
    {"cases.categories", TW_CFG_STRLIST, SAMPLE(categories), NULL, 0, 64, NULL,
     NULL, ""},
    {"cases.max_subject", TW_CFG_INT, SAMPLE(max_subject), "500", 1, 10000,
     NULL, NULL, ""},
    {"cases.max_body", TW_CFG_SIZE, SAMPLE(max_body), "256KB", 1024,
     INT64_C(1) << 30, NULL, NULL, ""},
    {"cases.max_attachments", TW_CFG_INT, SAMPLE(max_attachments), "20", 0,
     1000, NULL, NULL, ""},
    {"cases.max_attachment", TW_CFG_SIZE, SAMPLE(max_attachment), "10MB", 1024,
     INT64_C(1) << 30, NULL, NULL, ""},
    {"engine.batch_max", TW_CFG_INT, SAMPLE(batch_max), "500", 1, 100000, NULL,
     NULL, ""},
    {"cli.actor", TW_CFG_STRING, SAMPLE(actor), NULL, 0, 0, "TAWASUL_ACTOR",
     NULL, ""},
    {"cli.timeout", TW_CFG_DURATION, SAMPLE(timeout), "30s", TW_SEC, TW_HOUR,
     NULL, NULL, ""},
    {"cases.reopen_within", TW_CFG_DURATION, SAMPLE(reopen_within), "30d", 0,
     3650 * TW_DAY, NULL, NULL, ""},
    {NULL, TW_CFG_STRING, 0, NULL, 0, 0, NULL, NULL, NULL},
};

/* Per test: a fixture file, the structs and what the load said. */
struct fx {
    char path[256];
    struct tw_base_config base;
    struct svc_config svc;
    struct tw_cfg_table tables[2];
    char *errors;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    const char *dir = getenv("TMPDIR");
    snprintf(f->path, sizeof f->path, "%s/tw-config-XXXXXX",
             dir && *dir ? dir : "/tmp");
    int fd = mkstemp(f->path);
    if (fd < 0) {
        free(f);
        return -1;
    }
    close(fd);
    f->tables[0].keys = tw_base_config_keys;
    f->tables[0].base = &f->base;
    f->tables[1].keys = svc_keys;
    f->tables[1].base = &f->svc;
    unsetenv("TAWASUL_DATABASE_URL");
    unsetenv("TW_TEST_TOKEN");
    unsetenv("TW_TEST_DEPTH");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tw_config_free(f->tables, 2);
    free(f->errors);
    unlink(f->path);
    free(f);
    unsetenv("TAWASUL_DATABASE_URL");
    unsetenv("TW_TEST_TOKEN");
    unsetenv("TW_TEST_DEPTH");
    return 0;
}

/* load - write YAML to the fixture file and load both tables from it */
static int load(struct fx *f, const char *yaml)
{
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs(yaml, fp);
    fclose(fp);
    tw_config_free(f->tables, 2);
    free(f->errors);
    f->errors = NULL;
    return tw_config_load(f->path, f->tables, 2, &f->errors);
}

/* expected - TEMPLATE with each "@" replaced by the fixture's path */
static char *expected(const struct fx *f, const char *template)
{
    size_t plen = strlen(f->path), n = 1;
    for (const char *p = template; *p; p++)
        n += *p == '@' ? plen : 1;
    char *out = malloc(n), *o = out;
    assert_non_null(out);
    for (const char *p = template; *p; p++) {
        if (*p == '@') {
            memcpy(o, f->path, plen);
            o += plen;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

/* assert_errors - the load failed with exactly TEMPLATE's lines */
static void assert_errors(const struct fx *f, int rc, const char *template)
{
    char *want = expected(f, template);
    assert_int_equal(rc, TW_PERMFAIL);
    assert_non_null(f->errors);
    assert_string_equal(f->errors, want);
    free(want);
}

/* assert_base_defaults - the shared struct holds the sample's defaults */
static void assert_base_defaults(const struct tw_base_config *b)
{
    assert_string_equal(b->database_url, "dbname=tawasul");
    assert_true(b->database_connect_timeout == 5 * TW_SEC);
    assert_true(b->database_reconnect_max == 30 * TW_SEC);
    assert_string_equal(b->bus_intake, "tcp://127.0.0.1:7301");
    assert_string_equal(b->bus_events, "tcp://127.0.0.1:7302");
    assert_true(b->bus_request_timeout == 3 * TW_SEC);
    assert_true(b->bus_window == 64);
    assert_true(b->bus_backoff_max == 30 * TW_SEC);
    assert_true(b->bus_max_request == 32 * 1024 * 1024);
    assert_string_equal(b->log_level, "info");
    assert_string_equal(b->site_timezone, "Asia/Riyadh");
    assert_string_equal(b->site_ref_prefix, "AW");
    assert_string_equal(b->site_name, "Awasir Consumer Cooperative Society");
}

static void test_defaults_without_file(void **state)
{
    struct fx *f = *state;
    assert_int_equal(tw_config_load(NULL, f->tables, 2, &f->errors), TW_OK);
    assert_null(f->errors);
    assert_base_defaults(&f->base);
    assert_string_equal(f->svc.name, "engine");
    assert_true(f->svc.count == 5);
    assert_int_equal(f->svc.flag, 0);
    assert_true(f->svc.wait == TW_MIN);
    assert_true(f->svc.limit == 64 * 1024);
    assert_int_equal(f->svc.tags.n, 2);
    assert_string_equal(f->svc.tags.v[0], "alpha");
    assert_string_equal(f->svc.tags.v[1], "beta");
    assert_string_equal(f->svc.mode, "fast");
    /* no default: an empty string, never NULL */
    assert_non_null(f->svc.token);
    assert_string_equal(f->svc.token, "");
    assert_true(f->svc.depth == 1);
}

static void test_empty_and_comment_files(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, ""), TW_OK);
    assert_base_defaults(&f->base);
    assert_int_equal(load(f, "# nothing set yet\n\n"), TW_OK);
    assert_int_equal(load(f, "---\n"), TW_OK);
    /* a section with everything commented out */
    assert_int_equal(load(f, "bus:\n  # window: 8\nengine:\n"), TW_OK);
    assert_base_defaults(&f->base);
}

static void test_valid_file_fills_typed_values(void **state)
{
    struct fx *f = *state;
    int rc =
        load(f, "site:\n"
                "  name: \"Test \xd8\xac\xd9\x85\xd8\xb9\xd9\x8a\xd8\xa9\"\n"
                "  timezone: Europe/Berlin\n"
                "database:\n"
                "  url: 'host=/tmp dbname=t'\n"
                "  connect_timeout: 1m30s\n"
                "bus:\n"
                "  window: 8\n"
                "  max_request: 10MB\n"
                "  request_timeout: 250ms\n"
                "log: {level: debug}\n"
                "engine:\n"
                "  name: e1\n"
                "  count: \"42\"\n"
                "  flag: yes\n"
                "  wait: 45m30s\n"
                "  limit: 1gb\n"
                "  tags:\n"
                "    - one\n"
                "    - \"two words\"\n"
                "  mode: slow\n"
                "  nested:\n"
                "    depth: 9\n");
    if (rc != TW_OK)
        fail_msg("%s", f->errors);
    assert_null(f->errors);
    assert_string_equal(f->base.site_name,
                        "Test \xd8\xac\xd9\x85\xd8\xb9\xd9\x8a\xd8\xa9");
    assert_string_equal(f->base.site_timezone, "Europe/Berlin");
    assert_string_equal(f->base.database_url, "host=/tmp dbname=t");
    assert_true(f->base.database_connect_timeout == 90 * TW_SEC);
    assert_true(f->base.bus_window == 8);
    assert_true(f->base.bus_max_request == 10 * 1024 * 1024);
    assert_true(f->base.bus_request_timeout == 250 * TW_MSEC);
    assert_string_equal(f->base.log_level, "debug");
    /* untouched keys keep their defaults */
    assert_string_equal(f->base.bus_intake, "tcp://127.0.0.1:7301");
    assert_string_equal(f->svc.name, "e1");
    assert_true(f->svc.count == 42);
    assert_int_equal(f->svc.flag, 1);
    assert_true(f->svc.wait == 45 * TW_MIN + 30 * TW_SEC);
    assert_true(f->svc.limit == INT64_C(1) << 30);
    assert_int_equal(f->svc.tags.n, 2);
    assert_string_equal(f->svc.tags.v[1], "two words");
    assert_true(tw_strlist_contains(&f->svc.tags, "one"));
    assert_false(tw_strlist_contains(&f->svc.tags, "alpha"));
    assert_string_equal(f->svc.mode, "slow");
    assert_true(f->svc.depth == 9);
}

static void test_bool_spellings(void **state)
{
    static const char *const yes[] = {"true", "yes", "on", "True", "ON"};
    static const char *const no[] = {"false", "no", "off", "FALSE", "No"};
    struct fx *f = *state;
    char yaml[64];
    for (int i = 0; i < 5; i++) {
        snprintf(yaml, sizeof yaml, "engine:\n  flag: %s\n", yes[i]);
        assert_int_equal(load(f, yaml), TW_OK);
        assert_int_equal(f->svc.flag, 1);
        snprintf(yaml, sizeof yaml, "engine:\n  flag: %s\n", no[i]);
        assert_int_equal(load(f, yaml), TW_OK);
        assert_int_equal(f->svc.flag, 0);
    }
    assert_errors(f, load(f, "engine:\n  flag: 1\n"),
                  "@:2:9: \"engine.flag\" must be true or false, got \"1\"");
}

static void test_unknown_key(void **state)
{
    struct fx *f = *state;
    int rc = load(f, "database:\n"
                     "  url: \"dbname=x\"\n"
                     "  ulr: \"dbname=y\"\n");
    assert_errors(f, rc, "@:3:3: unknown key \"database.ulr\"");
    /* the structs hold defaults after a failed load, not half a file */
    assert_base_defaults(&f->base);

    /* a whole unknown subtree is one error, at its key */
    rc = load(f, "engine:\n"
                 "  nested:\n"
                 "    depth: 2\n"
                 "    deeper: {a: 1, b: 2}\n");
    assert_errors(f, rc, "@:4:5: unknown key \"engine.nested.deeper\"");
}

static void test_unknown_section(void **state)
{
    struct fx *f = *state;
    int rc = load(f, "log:\n"
                     "  level: warn\n"
                     "databse:\n"
                     "  url: x\n");
    assert_errors(f, rc, "@:3:1: unknown section \"databse\"");
}

static void test_foreign_sections_skipped(void **state)
{
    struct fx *f = *state;
    /* smtp and ingest_email belong to other services: anything goes */
    int rc = load(f, "smtp:\n"
                     "  host: mail.example\n"
                     "  whatever: [1, {a: b}]\n"
                     "ingest_email: 12\n"
                     "bus:\n"
                     "  window: 3\n");
    assert_int_equal(rc, TW_OK);
    assert_true(f->base.bus_window == 3);
}

static void test_wrong_types(void **state)
{
    struct fx *f = *state;
    assert_errors(
        f, load(f, "bus:\n  window: abc\n"),
        "@:2:11: \"bus.window\" must be an integer between 1 and 10000, got "
        "\"abc\"");
    assert_errors(f, load(f, "bus:\n  window:\n    x: 1\n"),
                  "@:3:5: \"bus.window\" must be an integer, got a mapping");
    assert_errors(f, load(f, "log:\n  level: [debug]\n"),
                  "@:2:10: \"log.level\" must be one of "
                  "debug|info|warn|error, got a list");
    assert_errors(f, load(f, "log:\n  level: verbose\n"),
                  "@:2:10: \"log.level\" must be one of "
                  "debug|info|warn|error, got \"verbose\"");
    assert_errors(f, load(f, "engine:\n  wait: 14x\n"),
                  "@:2:9: \"engine.wait\": bad duration \"14x\" (use e.g. "
                  "14d, 36h, 90m)");
    assert_errors(f, load(f, "engine:\n  limit: 10XB\n"),
                  "@:2:10: \"engine.limit\": bad size \"10XB\" (use e.g. "
                  "512, 64KB, 10MB)");
    assert_errors(f, load(f, "bus: tcp://x\n"),
                  "@:1:6: \"bus\" must be a mapping, got \"tcp://x\"");
    assert_errors(f, load(f, "bus:\n  - window\n"),
                  "@:2:3: \"bus\" must be a mapping, got a list");
    assert_errors(f, load(f, "engine:\n  count: 1.5\n"),
                  "@:2:10: \"engine.count\" must be an integer between 1 and "
                  "100, got \"1.5\"");
    assert_errors(f, load(f, "engine:\n  count:\n"),
                  "@:2:9: \"engine.count\" must be an integer between 1 and "
                  "100, got \"\"");
}

static void test_out_of_range(void **state)
{
    struct fx *f = *state;
    assert_errors(f, load(f, "bus:\n  window: 20000\n"),
                  "@:2:11: \"bus.window\" must be an integer between 1 and "
                  "10000, got \"20000\"");
    assert_errors(f, load(f, "bus:\n  window: 0\n"),
                  "@:2:11: \"bus.window\" must be an integer between 1 and "
                  "10000, got \"0\"");
    assert_errors(f, load(f, "bus:\n  request_timeout: 20m\n"),
                  "@:2:20: \"bus.request_timeout\" must be a duration between "
                  "100ms and 10m, got \"20m\"");
    assert_errors(f, load(f, "bus:\n  max_request: 2GB\n"),
                  "@:2:16: \"bus.max_request\" must be a size between 1KB and "
                  "1GB, got \"2GB\"");
    assert_errors(f, load(f, "engine:\n  name: a-name-longer-than-16\n"),
                  "@:2:9: \"engine.name\" is too long (21 bytes, at most 16)");
    assert_errors(f, load(f, "engine:\n  name: \"\"\n"),
                  "@:2:9: \"engine.name\" must not be empty");
}

static void test_syntax_error_has_position(void **state)
{
    struct fx *f = *state;
    assert_errors(f, load(f, "bus:\n  window: 5\n  intake: a: b\n"),
                  "@:3:12: mapping values are not allowed in this context");
    /* an unclosed flow sequence: libyaml names where it started */
    int rc = load(f, "bus:\n  window: [1, 2\nlog:\n  level: info\n");
    assert_int_equal(rc, TW_PERMFAIL);
    char *want = expected(f, "@:");
    assert_true(strncmp(f->errors, want, strlen(want)) == 0);
    assert_non_null(strstr(f->errors, "flow sequence"));
    assert_null(strchr(f->errors, '\n'));
    free(want);
    /* invalid UTF-8 is placed by libyaml's byte offset */
    assert_errors(f, load(f, "site:\n  name: ab\xff\n"),
                  "@:2:11: invalid leading UTF-8 octet");
}

static void test_duplicate_keys(void **state)
{
    struct fx *f = *state;
    assert_errors(f,
                  load(f, "bus:\n  window: 5\n  window: 6\nbus:\n  "
                          "window: 7\n"),
                  "@:3:3: duplicate key \"bus.window\"\n"
                  "@:4:1: duplicate section \"bus\"");
}

static void test_root_not_mapping(void **state)
{
    struct fx *f = *state;
    assert_errors(f, load(f, "- site\n- bus\n"),
                  "@:1:1: the file must be a mapping of sections (site:, "
                  "database:, ...)");
    assert_errors(f, load(f, "just text\n"),
                  "@:1:1: the file must be a mapping of sections (site:, "
                  "database:, ...)");
}

static void test_two_documents(void **state)
{
    struct fx *f = *state;
    assert_errors(f, load(f, "bus:\n  window: 5\n---\nbus:\n  window: 6\n"),
                  "@:4:1: only one YAML document is allowed");
}

static void test_multiple_errors_all_reported(void **state)
{
    struct fx *f = *state;
    int rc = load(f, "site:\n"
                     "  name: ok\n"
                     "  colour: blue\n"
                     "bus:\n"
                     "  window: many\n"
                     "  max_request: 0KB\n"
                     "log:\n"
                     "  level: loud\n"
                     "calender: {}\n"
                     "engine:\n"
                     "  wait: 0\n");
    assert_errors(
        f, rc,
        "@:3:3: unknown key \"site.colour\"\n"
        "@:5:11: \"bus.window\" must be an integer between 1 and 10000, got "
        "\"many\"\n"
        "@:6:16: \"bus.max_request\" must be a size between 1KB and 1GB, got "
        "\"0KB\"\n"
        "@:8:10: \"log.level\" must be one of debug|info|warn|error, got "
        "\"loud\"\n"
        "@:9:1: unknown section \"calender\"\n"
        "@:11:9: \"engine.wait\" must be a duration between 1s and 1h, got "
        "\"0\"");
    /* nothing from the file was applied */
    assert_string_equal(f->base.site_name,
                        "Awasir Consumer Cooperative Society");
}

static void test_strlist(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "engine:\n  tags: [x, \"y\", 'z']\n"), TW_OK);
    assert_int_equal(f->svc.tags.n, 3);
    assert_string_equal(f->svc.tags.v[2], "z");
    assert_int_equal(load(f, "engine:\n  tags: []\n"), TW_OK);
    assert_int_equal(f->svc.tags.n, 0);
    assert_null(f->svc.tags.v);
    assert_int_equal(load(f, "engine:\n  tags:\n"), TW_OK);
    assert_int_equal(f->svc.tags.n, 0);
    assert_errors(f, load(f, "engine:\n  tags: x\n"),
                  "@:2:9: \"engine.tags\" must be a list of strings, got "
                  "\"x\"");
    assert_errors(f, load(f, "engine:\n  tags:\n    - a\n    - {b: c}\n"),
                  "@:4:7: \"engine.tags\" must be a list of strings, got a "
                  "mapping as entry 2");
    assert_errors(f, load(f, "engine:\n  tags: {a: b}\n"),
                  "@:2:9: \"engine.tags\" must be a list of strings, got a "
                  "mapping");
}

static void test_env_overrides(void **state)
{
    struct fx *f = *state;
    setenv("TAWASUL_DATABASE_URL", "postgresql://app@db/tawasul", 1);
    setenv("TW_TEST_DEPTH", "7", 1);
    assert_int_equal(load(f, "database:\n  url: dbname=fromfile\n"), TW_OK);
    assert_string_equal(f->base.database_url, "postgresql://app@db/tawasul");
    assert_true(f->svc.depth == 7);

    /* without a file too */
    tw_config_free(f->tables, 2);
    assert_int_equal(tw_config_load(NULL, f->tables, 2, &f->errors), TW_OK);
    assert_string_equal(f->base.database_url, "postgresql://app@db/tawasul");

    /* an empty variable does not override */
    setenv("TAWASUL_DATABASE_URL", "", 1);
    assert_int_equal(load(f, "database:\n  url: dbname=fromfile\n"), TW_OK);
    assert_string_equal(f->base.database_url, "dbname=fromfile");

    /* a bad value is reported against the variable; strings never echoed */
    setenv("TW_TEST_DEPTH", "deep", 1);
    setenv("TW_TEST_TOKEN", "s3cret\xff", 1);
    assert_errors(f, load(f, "engine:\n  count: 2\n"),
                  "environment TW_TEST_TOKEN: \"engine.token\" is not valid "
                  "UTF-8\n"
                  "environment TW_TEST_DEPTH: \"engine.nested.depth\" must be "
                  "an integer between 1 and 9, got \"deep\"");
}

static void test_missing_file(void **state)
{
    struct fx *f = *state;
    unlink(f->path);
    int rc = tw_config_load(f->path, f->tables, 2, &f->errors);
    assert_errors(f, rc, "cannot read @: No such file or directory");
    assert_base_defaults(&f->base);
}

static void test_sample_config_loads(void **state)
{
    struct fx *f = *state;
    struct sample_config s = {0};
    struct tw_base_config b = {0};
    struct tw_policy_config p = {0};
    const struct tw_cfg_table tables[] = {{tw_base_config_keys, &b},
                                          {sample_keys, &s},
                                          {tw_policy_config_keys, &p}};
    const char *src = getenv("TW_SOURCE");
    char path[1024];
    snprintf(path, sizeof path, "%s/config/tawasul.yaml",
             src && *src ? src : TW_SOURCE_DIR);

    unsetenv("TAWASUL_ACTOR");
    int rc = tw_config_load(path, tables, 3, &f->errors);
    if (rc != TW_OK)
        fail_msg("%s", f->errors ? f->errors : "?");
    assert_base_defaults(&b);
    assert_string_equal(p.decision_within, "14d");
    assert_non_null(tw_cfg_map_get(&p.categories, "support"));
    assert_int_equal(s.categories.n, 6);
    assert_string_equal(s.categories.v[0], "membership");
    assert_string_equal(s.categories.v[5], "other");
    assert_true(s.max_subject == 500);
    assert_true(s.max_body == 256 * 1024);
    assert_true(s.max_attachments == 20);
    assert_true(s.max_attachment == 10 * 1024 * 1024);
    assert_true(s.batch_max == 500);
    assert_string_equal(s.actor, "");
    assert_true(s.timeout == 30 * TW_SEC);
    tw_config_free(tables, 3);

    /* and the shared part alone: the other sections are skipped */
    assert_int_equal(tw_config_load(path, tables, 1, &f->errors), TW_OK);
    assert_base_defaults(&b);
    tw_config_free(tables, 1);
}

static void test_free_leaves_null(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "engine:\n  tags: [a]\n"), TW_OK);
    tw_config_free(f->tables, 2);
    assert_null(f->base.database_url);
    assert_null(f->base.log_level);
    assert_null(f->svc.mode);
    assert_null(f->svc.tags.v);
    assert_int_equal(f->svc.tags.n, 0);
    tw_config_free(f->tables, 2); /* twice is harmless */
}

static void test_describe(void **state)
{
    struct fx *f = *state;
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    assert_non_null(fp);
    tw_config_describe(f->tables, 2, fp);
    fclose(fp);
    assert_non_null(strstr(text, "bus.window (integer between 1 and 10000, "
                                 "default 64): requests a client keeps in "
                                 "flight at once\n"));
    assert_non_null(strstr(text, "database.url (string, default "
                                 "\"dbname=tawasul\"): libpq connection "
                                 "string or URI [env TAWASUL_DATABASE_URL]\n"));
    assert_non_null(strstr(text, "log.level (one of debug|info|warn|error, "
                                 "default info): "));
    assert_non_null(strstr(text, "bus.max_request (size between 1KB and 1GB, "
                                 "default 32MB): "));
    assert_non_null(strstr(text, "engine.tags (list, default [alpha, beta]): "
                                 "labels\n"));
    free(text);
}

static void test_default_path(void **state)
{
    (void)state;
    unsetenv("TAWASUL_CONFIG");
    assert_string_equal(tw_config_default_path(), "/etc/tawasul/tawasul.yaml");
    setenv("TAWASUL_CONFIG", "/srv/tw.yaml", 1);
    assert_string_equal(tw_config_default_path(), "/srv/tw.yaml");
    unsetenv("TAWASUL_CONFIG");
}

static void test_sections_list(void **state)
{
    (void)state;
    int n = 0, found = 0;
    for (const char *const *s = tw_config_sections; *s; s++, n++)
        found += strcmp(*s, "ingest_letter") == 0 || strcmp(*s, "cli") == 0;
    assert_int_equal(n, 17);
    assert_int_equal(found, 2);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults_without_file),
        T(test_empty_and_comment_files),
        T(test_valid_file_fills_typed_values),
        T(test_bool_spellings),
        T(test_unknown_key),
        T(test_unknown_section),
        T(test_foreign_sections_skipped),
        T(test_wrong_types),
        T(test_out_of_range),
        T(test_syntax_error_has_position),
        T(test_duplicate_keys),
        T(test_root_not_mapping),
        T(test_two_documents),
        T(test_multiple_errors_all_reported),
        T(test_strlist),
        T(test_env_overrides),
        T(test_missing_file),
        T(test_sample_config_loads),
        T(test_free_leaves_null),
        T(test_describe),
        T(test_default_path),
        T(test_sections_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
