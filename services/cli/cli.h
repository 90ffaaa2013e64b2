/*
 * cli.h - the staff command line `tawasul`: what its parts share.
 *
 * main.c parses the global options, finds the verb in its table and calls
 * it; each verb parses its own options, then calls cli_ready() to load the
 * config (so `--help` and usage errors never need a config file). A verb
 * returns the process exit status (sysexits.h) and, when it fails, has
 * printed exactly one line starting with "tawasul: " (plus its usage for a
 * usage error). Library logging is muted unless -v: the CLI reports each
 * failure itself, once, in words a staff member can act on.
 *
 * Writes go to the engine over the bus; reads (show, list) query PostgreSQL
 * directly (DESIGN.md "Shape").
 */
#ifndef TW_CLI_H
#define TW_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "clock.h"
#include "config.h"
#include "db.h"
#include "policy.h"

/* The CLI's own section of the config file. */
struct cli_config {
    char *actor;     /* cli.actor: the staff member the CLI acts as */
    int64_t timeout; /* cli.timeout: usec to wait for the engine */
};

/* One run of the program. */
struct cli {
    const char *config_path; /* -c FILE, or NULL */
    const char *as;          /* --as USER, or NULL */
    int verbose;             /* -v */
    int loaded;              /* cli_ready() has succeeded */
    struct tw_base_config base;
    struct cli_config cfg;
    struct tw_policy_config sla; /* sla.*, calendar.* (checked at load) */
    struct tw_cfg_table tables[3];
    const char *path;  /* the config file actually read (NULL: none) */
    const char *actor; /* resolved: --as, TAWASUL_ACTOR, cli.actor; or NULL */
};

struct cli_verb;
typedef int (*cli_verb_fn)(struct cli *c, const struct cli_verb *v, int argc,
                           char **argv);

/* A verb: "case log-call". ARGV given to FN starts at the verb's last word
 * (argv[0]), so getopt_long sees its options from argv[1]. */
struct cli_verb {
    const char *group; /* "case", or the verb itself ("status") */
    const char *name;  /* "log-call", or NULL for a one-word verb */
    cli_verb_fn fn;
    const char *synopsis; /* after "tawasul ": "case show REF [--json]" */
    const char *help;     /* the options, one per line (may be NULL) */
    const char *arg;      /* verb-specific datum (the channel for log-*) */
};

/* The CLI's config table (cli.actor, cli.timeout). */
extern const struct tw_cfg_key cli_config_keys[];

/* --- main.c: shared plumbing --------------------------------------------- */

/* cli_fail - print "tawasul: MESSAGE" on stderr; returns CODE */
int cli_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* cli_usage_error - print "tawasul: MESSAGE" and V's usage on stderr;
 * returns EX_USAGE */
int cli_usage_error(const struct cli_verb *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* cli_help - print V's synopsis and options on stdout; returns 0 */
int cli_help(const struct cli_verb *v);
/* cli_getopt - getopt_long over ARGC/ARGV for verb V, reporting unknown
 * options and missing values as usage errors: returns the option, -1 at the
 * end, or '?' after printing the usage error (*RC then holds EX_USAGE) */
int cli_getopt(const struct cli_verb *v, int argc, char **argv,
               const char *shortopts, const void *longopts, int *rc);

/* cli_ready - load the config (once), set up logging and the time zone;
 * returns 0 or the exit status to stop with (the error already printed) */
int cli_ready(struct cli *c);
/* cli_load_tables - load the base and cli tables from PATH into C's
 * structs; returns 0, or EX_CONFIG with *ERRORS set (caller frees) */
int cli_load_tables(struct cli *c, const char *path, char **errors);

/* cli_log_mute / cli_log_unmute - silence library logging around calls
 * whose failure the CLI reports itself (not with -v) */
void cli_log_mute(const struct cli *c);
void cli_log_unmute(const struct cli *c);

/* cli_db_open - connect to the database, trying for up to WAIT usec. On
 * success *DB is the caller's to destroy; else prints the error line and
 * returns the exit status. */
int cli_db_open(struct cli *c, int64_t wait, struct tw_db **db);
/* cli_db_reason - DB's last error as one short sentence (static buffer) */
const char *cli_db_reason(const struct tw_db *db);
/* cli_db_failed - print one line for a failed query ST on DB while doing
 * WHAT ("reading the case"); returns the exit status */
int cli_db_failed(struct tw_db *db, int st, const char *what);

/* cli_engine_silent - the line for an engine that did not answer in time;
 * returns EX_UNAVAILABLE */
int cli_engine_silent(const struct cli *c, int64_t waited);

/* Dates for people: "2026-12-09 18:20 +03:00" in the site's zone. */
#define CLI_TIME_HUMAN_MAX 32
/* cli_time_human - format T into BUF (CLI_TIME_HUMAN_MAX bytes) */
char *cli_time_human(tw_time t, char *buf);
/* cli_duration_human - "13 days 23 hours", "5 hours 2 minutes" into BUF */
char *cli_duration_human(int64_t d, char *buf, size_t size);
/* cli_json_time - T (usec since the epoch) as ISO 8601 with microseconds in
 * the site's zone; new reference */
json_t *cli_json_time(tw_time t);
/* cli_print_json - print J (borrowed) indented on stdout; 0 or EX_IOERR */
int cli_print_json(const json_t *j);

/* cli_utf8_valid - whether S (N bytes) is well-formed UTF-8 (no overlongs,
 * no surrogates, nothing above U+10FFFF) */
int cli_utf8_valid(const char *s, size_t n);
/* cli_utf8_chars - the number of code points in the UTF-8 string S */
size_t cli_utf8_chars(const char *s);
/* cli_utf8_prefix - bytes of S's first MAX code points */
size_t cli_utf8_prefix(const char *s, size_t max);
/* cli_print_cell - print S padded with spaces to WIDTH code points, or cut
 * to WIDTH with "…" when longer (WIDTH 0: as is, no padding) */
void cli_print_cell(FILE *fp, const char *s, size_t width);

/* --- cli_db.c ------------------------------------------------------------ */
int cli_db_migrate(struct cli *c, const struct cli_verb *v, int argc,
                   char **argv);
int cli_status(struct cli *c, const struct cli_verb *v, int argc, char **argv);
int cli_config_check(struct cli *c, const struct cli_verb *v, int argc,
                     char **argv);

/* --- cli_members.c ------------------------------------------------------- */
int cli_members_import(struct cli *c, const struct cli_verb *v, int argc,
                       char **argv);
int cli_members_list(struct cli *c, const struct cli_verb *v, int argc,
                     char **argv);

/* --- cli_case.c ---------------------------------------------------------- */
int cli_case_log(struct cli *c, const struct cli_verb *v, int argc,
                 char **argv);
int cli_case_show(struct cli *c, const struct cli_verb *v, int argc,
                  char **argv);
int cli_case_list(struct cli *c, const struct cli_verb *v, int argc,
                  char **argv);

/* --- cli_lifecycle.c, cli_sla.c (issue 3) -------------------------------- */
/* cli_send_op - send the op CMD (stolen) as the acting staff member; 0 with
 * *REPLY (caller decrefs), or the exit status after printing why */
int cli_send_op(struct cli *c, json_t *cmd, json_t **reply);
int cli_case_move(struct cli *c, const struct cli_verb *v, int argc,
                  char **argv);
int cli_case_decide(struct cli *c, const struct cli_verb *v, int argc,
                    char **argv);
int cli_case_simple(struct cli *c, const struct cli_verb *v, int argc,
                    char **argv);
int cli_staff_add(struct cli *c, const struct cli_verb *v, int argc,
                  char **argv);
int cli_staff_list(struct cli *c, const struct cli_verb *v, int argc,
                   char **argv);
int cli_sla_report(struct cli *c, const struct cli_verb *v, int argc,
                   char **argv);
int cli_sla_breaches(struct cli *c, const struct cli_verb *v, int argc,
                     char **argv);
int cli_sla_recompute(struct cli *c, const struct cli_verb *v, int argc,
                      char **argv);
int cli_holidays_add(struct cli *c, const struct cli_verb *v, int argc,
                     char **argv);
int cli_holidays_list(struct cli *c, const struct cli_verb *v, int argc,
                      char **argv);
int cli_holidays_import(struct cli *c, const struct cli_verb *v, int argc,
                        char **argv);
/* --- cli_outbox.c ------------------------------------------------------- */
int cli_outbox_list(struct cli *c, const struct cli_verb *v, int argc,
                    char **argv);
int cli_outbox_show(struct cli *c, const struct cli_verb *v, int argc,
                    char **argv);
int cli_outbox_retry(struct cli *c, const struct cli_verb *v, int argc,
                     char **argv);
/* --- cli_mail.c -------------------------------------------------------- */
int cli_mail_reprocess(struct cli *c, const struct cli_verb *v, int argc,
                       char **argv);

/* --- cli_csv.c: an RFC 4180 record reader -------------------------------- */

struct cli_csv;

/* One record as read: fields borrowed from the reader until the next call. */
struct cli_csv_record {
    long line;         /* physical line where the record starts (1-based) */
    size_t n;          /* number of fields */
    char **fields;     /* NUL-terminated fields */
    const char *error; /* NULL, or why the record is malformed */
};

/* cli_csv_new - a reader of FP (borrowed) with hard caps on one field's and
 * one record's bytes; a UTF-8 byte order mark at the start is skipped */
struct cli_csv *cli_csv_new(FILE *fp, size_t max_field, size_t max_record);
/* cli_csv_destroy - NULL-safe; nulls *R (does not close the file) */
void cli_csv_destroy(struct cli_csv **r);
/* cli_csv_next - read the next non-blank record into *REC. Returns 1 with a
 * record (check rec->error: a malformed record is reported, skipped to its
 * end, and reading goes on), 0 at the end of the file, -1 on a read error
 * (errno set). */
int cli_csv_next(struct cli_csv *r, struct cli_csv_record *rec);

#endif
