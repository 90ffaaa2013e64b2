/*
 * main.c - `tawasul`, the staff command line: global options, the config,
 * and a table of verbs.
 *
 * DESIGN
 * ------
 * The command line is `tawasul [-c FILE] [--as USER] [-v] VERB [ARGS]`.
 * Global options stop at the first word that is not one (getopt's "+"), the
 * verb is looked up in a table of one- and two-word verbs, and the verb's
 * function parses the rest. A verb loads the config only after its own
 * options parsed (cli_ready), so `--help` and usage errors work on a
 * machine with no config yet, and `config check` can report on a broken
 * file instead of dying on it.
 *
 * Failures are reported once, as one line starting with "tawasul: ", and
 * the exit status follows sysexits.h: 64 usage, 65 rejected input, 66 a
 * file that cannot be opened, 69 the engine or database unavailable, 70 an
 * internal error, 75 try again, 78 bad config. Library logging would say
 * the same thing a second time in less helpful words, so it is muted unless
 * -v asks for it.
 *
 * This file also holds the small text helpers the verbs share: dates for
 * people, UTF-8 validation and width, table cells, JSON output.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "mem.h"

#ifndef TW_VERSION
#define TW_VERSION "0.0.0"
#endif

/* A level above every real one: nothing is logged. */
#define CLI_LOG_SILENT ((enum tw_log_level)(TW_LOG_ERROR + 1))

const struct tw_cfg_key cli_config_keys[] = {
    {.key = "cli.actor",
     .type = TW_CFG_STRING,
     .offset = offsetof(struct cli_config, actor),
     .def = "",
     .max = 64,
     .env = "TAWASUL_ACTOR",
     .help = "the staff member the CLI acts as (--as overrides)"},
    {.key = "cli.timeout",
     .type = TW_CFG_DURATION,
     .offset = offsetof(struct cli_config, timeout),
     .def = "30s",
     .min = TW_SEC,
     .max = 10 * TW_MIN,
     .help = "how long a command waits for the engine before giving up"},
    {.key = NULL},
};

static const struct cli_verb verbs[] = {
    {"db", "migrate", cli_db_migrate, "db migrate",
     "Apply the missing schema migrations to the database.\n", NULL},
    {"status", NULL, cli_status, "status",
     "Show whether the engine answers and the database is reachable.\n", NULL},
    {"config", "check", cli_config_check, "config check [FILE]",
     "Check FILE (default: the -c file) for every Tawasul program.\n", NULL},
    {"members", "import", cli_members_import,
     "members import FILE.csv [--dry-run]",
     "Load the General Assembly register from CSV (columns member_no,\n"
     "name, email, phone, lang in any order; UTF-8).\n"
     "  --dry-run     check and count, but save nothing\n",
     NULL},
    {"members", "list", cli_members_list, "members list [--json]",
     "  --json        print a JSON array\n", NULL},
    {"case", "log-call", cli_case_log,
     "case log-call --subject TEXT [--member N | --email A | --phone N] "
     "[options]",
     NULL, "phone"},
    {"case", "log-visit", cli_case_log,
     "case log-visit --subject TEXT [--member N | --email A | --phone N] "
     "[options]",
     NULL, "walk_in"},
    {"case", "log-letter", cli_case_log,
     "case log-letter --subject TEXT [--member N | --email A | --phone N] "
     "[options]",
     NULL, "letter"},
    {"case", "show", cli_case_show, "case show REF [--json]",
     "  --json        print the case, its events and messages as JSON\n", NULL},
    {"case", "list", cli_case_list,
     "case list [--status S] [--limit N] [--json]",
     "  --status S    only cases in status S (new, in_committee, ...)\n"
     "  --limit N     at most N cases, newest first (default 50)\n"
     "  --json        print a JSON array\n",
     NULL},
    /* issue 3: the lifecycle, staff, SLA and holidays */
    {"case", "assign", cli_case_simple, "case assign REF USER [--json]",
     "Make USER the case's assignee.\n", "to"},
    {"case", "request-info", cli_case_move,
     "case request-info REF --missing ITEM... [--message TEXT]",
     "Ask the member for what is missing (the SLA clock pauses).\n"
     "  --missing ITEM  one missing item (repeatable; the member is told)\n"
     "  --message TEXT  a note for the member\n",
     "awaiting_member"},
    {"case", "resume", cli_case_move, "case resume REF [--reason TEXT]",
     "Back to new: the member answered (the clock runs again), or the\n"
     "researcher sends the case back.\n",
     "new"},
    {"case", "refer", cli_case_move, "case refer REF [--reason TEXT]",
     "Refer to the social research officer (the member is told).\n",
     "with_researcher"},
    {"case", "attest", cli_case_simple,
     "case attest REF signed_letter|web_checkbox|verbal_phone|in_person "
     "[--note TEXT]",
     "Record how the applicant attested that the data is correct.\n", "how"},
    {"case", "submit", cli_case_move,
     "case submit REF [--field NAME=VALUE...] [--reason TEXT]",
     "Send to the research committee (needs the category's required items\n"
     "and the attestation).\n"
     "  --field NAME=VALUE  an item of the request form (repeatable)\n",
     "in_committee"},
    {"case", "decide", cli_case_decide,
     "case decide REF --accept|--reject [--reason TEXT]",
     "The committee's decision (a rejection needs --reason).\n", NULL},
    {"case", "start-service", cli_case_move, "case start-service REF",
     "Registration done: the service starts.\n", "in_service"},
    {"case", "resolve", cli_case_move, "case resolve REF [--reason TEXT]",
     "The service was delivered, or the inquiry answered.\n", "resolved"},
    {"case", "close", cli_case_move, "case close REF [--reason TEXT]",
     "File a resolved or rejected case.\n", "closed"},
    {"case", "withdraw", cli_case_move, "case withdraw REF [--reason TEXT]",
     "The member withdrew the request.\n", "withdrawn"},
    {"case", "reopen", cli_case_move, "case reopen REF --reason TEXT",
     "Reopen a resolved or closed case (the member is told).\n", "new"},
    {"case", "note", cli_case_simple, "case note REF TEXT",
     "An internal note (never shown to the member).\n", "text"},
    {"staff", "add", cli_staff_add,
     "staff add USER --name NAME --role agent|researcher|committee|manager|"
     "admin [--email ADDR]",
     "Add a staff account, or update it (and make it active).\n", NULL},
    {"staff", "list", cli_staff_list, "staff list [--json]", NULL, NULL},
    {"sla", "report", cli_sla_report,
     "sla report [--at TIME] [--format table|csv|json] [--limit N]",
     "Open cases by state (on_track, at_risk, paused, breached) with due\n"
     "time and time left, and compliance per month, channel and assignee.\n"
     "  --at TIME     answer as of TIME (ISO 8601), not now\n"
     "  --limit N     cases listed per state (default 50; 0: all)\n",
     NULL},
    {"sla", "breaches", cli_sla_breaches,
     "sla breaches [--since TIME] [--format table|csv|json]",
     "Cases breached since TIME (default 30 days ago).\n", NULL},
    {"sla", "recompute", cli_sla_recompute, "sla recompute",
     "The engine recomputes open cases' due times with its settings.\n", NULL},
    {"holidays", "add", cli_holidays_add, "holidays add YYYY-MM-DD NAME",
     "A day off; open cases' due dates move at the engine's next sweep.\n",
     NULL},
    {"holidays", "list", cli_holidays_list, "holidays list [--json]", NULL,
     NULL},
    {"holidays", "import", cli_holidays_import, "holidays import FILE.ics",
     "The all-day events of an iCalendar file as holidays.\n", NULL},
    /* outbox: cli_outbox.c */
    {"outbox", "list", cli_outbox_list,
     "outbox list [--status S] [--case REF] [--limit N] [--json]",
     "  --status S    pending, sending, sent or failed\n"
     "  --case REF    only the emails of case REF\n"
     "  --limit N     at most N rows, newest first (default 50)\n"
     "  --json        print a JSON array\n",
     NULL},
    {"outbox", "show", cli_outbox_show, "outbox show ID [--html]",
     "Show one email: its state, then the message as sent (or as it will\n"
     "be sent).\n"
     "  --html        print the HTML part instead of the text\n",
     NULL},
    {"outbox", "retry", cli_outbox_retry, "outbox retry ID",
     "Queue a failed email again (after fixing the address, say).\n", NULL},
    {"mail", "reprocess", cli_mail_reprocess, "mail reprocess FILE|--all",
     "Put quarantined mail (the email spool's failed/ folder) through the\n"
     "email intake again; prints the case each message made.\n",
     NULL},
};

/* Options every log-* verb takes (printed by its --help). */
static const char log_help[] =
    "  --member NUMBER     the member's number in the register\n"
    "  --email ADDR        the caller's email (matched to a member)\n"
    "  --phone NUMBER      the caller's phone (matched to a member)\n"
    "  --name NAME         the caller's name, when not a member\n"
    "  --lang ar|en        the caller's language\n"
    "  --subject TEXT      one line saying what it is about (required)\n"
    "  --body TEXT         the notes; '-' or no --body reads standard "
    "input\n"
    "  --kind K            inquiry | request | complaint | suggestion "
    "(default request)\n"
    "  --category NAME     one of the configured categories\n"
    "  --attach FILE       attach a file (repeatable), e.g. a scanned "
    "letter\n"
    "  --received-at TIME  when it arrived (ISO 8601), if not now\n"
    "  --json              print the engine's answer as JSON\n"
    "  --quiet             print only the case reference\n";

/* usage - the program's synopsis on FP */
static void usage(FILE *fp)
{
    fprintf(fp, "usage: tawasul [-c FILE] [--as USER] [-v] COMMAND [ARGS]\n"
                "\nCommands:\n");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        fprintf(fp, "  tawasul %s\n", verbs[i].synopsis);
    fprintf(fp, "\nOptions:\n"
                "  -c FILE      config file (default $TAWASUL_CONFIG, then "
                "/etc/tawasul/tawasul.yaml)\n"
                "  --as USER    the staff member acting (default cli.actor or "
                "$TAWASUL_ACTOR)\n"
                "  -v           log what happens (debug)\n"
                "  -h, --help   this help; `tawasul COMMAND --help` for a "
                "command\n"
                "  --version    print the version\n");
}

/* cli_fail - print "tawasul: MESSAGE" on stderr; returns CODE */
int cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tawasul: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

/* cli_usage_error - print the problem and V's usage; returns EX_USAGE */
int cli_usage_error(const struct cli_verb *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tawasul: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (v)
        fprintf(stderr, "usage: tawasul %s\n", v->synopsis);
    else
        usage(stderr);
    return EX_USAGE;
}

/* cli_help - V's synopsis and options on stdout */
int cli_help(const struct cli_verb *v)
{
    printf("usage: tawasul %s\n", v->synopsis);
    if (v->fn == cli_case_log)
        fputs(log_help, stdout);
    else if (v->help)
        fputs(v->help, stdout);
    return 0;
}

/* cli_getopt - getopt_long with the CLI's own messages */
int cli_getopt(const struct cli_verb *v, int argc, char **argv,
               const char *shortopts, const void *longopts, int *rc)
{
    opterr = 0;
    int opt = getopt_long(argc, argv, shortopts,
                          (const struct option *)longopts, NULL);
    if (opt == '?' || opt == ':') {
        const char *arg = argv[optind - 1];
        if (opt == ':')
            *rc = cli_usage_error(v, "%s needs a value", arg);
        else if (optopt && strncmp(arg, "--", 2) != 0)
            *rc = cli_usage_error(v, "unknown option -%c", optopt);
        else
            *rc = cli_usage_error(v, "unknown option %s", arg);
        return '?';
    }
    return opt;
}

/* cli_log_mute - silence library logging unless -v */
void cli_log_mute(const struct cli *c)
{
    if (!c->verbose)
        tw_log_set_level(CLI_LOG_SILENT);
}

/* cli_log_unmute - back to the CLI's own level */
void cli_log_unmute(const struct cli *c)
{
    tw_log_set_level(c->verbose ? TW_LOG_DEBUG : TW_LOG_WARN);
}

/* cli_load_tables - the base and cli tables from PATH into C */
int cli_load_tables(struct cli *c, const char *path, char **errors)
{
    c->tables[0] = (struct tw_cfg_table){tw_base_config_keys, &c->base};
    c->tables[1] = (struct tw_cfg_table){cli_config_keys, &c->cfg};
    c->tables[2] = (struct tw_cfg_table){tw_policy_config_keys, &c->sla};
    *errors = NULL;
    if (tw_config_load(path, c->tables, 3, errors) != TW_OK)
        return EX_CONFIG;
    /* The SLA settings are the engine's to apply, but a mistake in them is
     * worth finding here too (config check, and every verb). */
    struct tw_policy *p = NULL;
    char why[512];
    if (tw_policy_build(&c->sla, c->base.site_timezone, NULL, 0, &p, why,
                        sizeof why) != TW_OK) {
        *errors = tw_asprintf("%s: %s", path ? path : "(defaults)", why);
        return EX_CONFIG;
    }
    tw_policy_destroy(&p);
    return 0;
}

/* print_config_errors - each line of ERRORS as "tawasul: LINE" */
static void print_config_errors(const char *errors, const char *path)
{
    if (!errors || !*errors) {
        cli_fail(EX_CONFIG, "%s: the configuration is not valid",
                 path ? path : "(defaults)");
        return;
    }
    const char *p = errors;
    while (*p) {
        size_t n = strcspn(p, "\n");
        if (n)
            fprintf(stderr, "tawasul: %.*s\n", (int)n, p);
        p += n;
        if (*p == '\n')
            p++;
    }
}

/* cli_ready - load the config once, set up logging and the time zone */
int cli_ready(struct cli *c)
{
    if (c->loaded)
        return 0;
    const char *path = c->config_path;
    int explicit = path != NULL;
    if (!path) {
        path = tw_config_default_path();
        const char *env = getenv("TAWASUL_CONFIG");
        explicit = env && *env;
    }
    if (access(path, R_OK) != 0) {
        if (explicit || errno != ENOENT)
            return cli_fail(EX_CONFIG, "%s: %s", path, strerror(errno));
        path = NULL; /* no system-wide file: defaults and environment */
    }
    c->path = path;
    char *errors = NULL;
    int rc = cli_load_tables(c, path, &errors);
    if (rc) {
        print_config_errors(errors, path);
        free(errors);
        tw_config_free(c->tables, 3);
        return rc;
    }
    c->loaded = 1;
    if (tw_clock_set_zone(c->base.site_timezone) != TW_OK)
        return cli_fail(EX_CONFIG,
                        "site.timezone: unknown time zone \"%s\" (an IANA "
                        "name such as Asia/Riyadh)",
                        c->base.site_timezone);
    if (c->as && *c->as)
        c->actor = c->as;
    else if (c->cfg.actor && *c->cfg.actor)
        c->actor = c->cfg.actor;
    return 0;
}

/* cli_db_reason - DB's last error, only its first sentence: libpq adds a
 * second one after a tab ("Is the server running locally...?") that the
 * CLI's own advice says better (static buffer) */
const char *cli_db_reason(const struct tw_db *db)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s", tw_db_error(db));
    buf[strcspn(buf, "\t")] = '\0';
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == ' ' || buf[n - 1] == '.'))
        buf[--n] = '\0';
    return buf;
}

/* cli_db_open - connect for up to WAIT usec; prints the failure */
int cli_db_open(struct cli *c, int64_t wait, struct tw_db **dbp)
{
    struct tw_db *db = tw_db_new(c->base.database_url, "tawasul");
    tw_db_set_connect_timeout(db, c->base.database_connect_timeout);
    cli_log_mute(c);
    int st = tw_db_connect_wait(db, wait, TW_SEC);
    cli_log_unmute(c);
    if (st == TW_OK) {
        *dbp = db;
        return 0;
    }
    int rc;
    if (st == TW_PERMFAIL)
        rc = cli_fail(EX_CONFIG,
                      "cannot use database.url (or TAWASUL_DATABASE_URL): "
                      "%s",
                      cli_db_reason(db));
    else
        rc = cli_fail(EX_UNAVAILABLE,
                      "the database is unreachable: %s: is PostgreSQL "
                      "running? (deploy/local/tawasul-local status)",
                      cli_db_reason(db));
    tw_db_destroy(&db);
    return rc;
}

/* cli_db_failed - one line for a failed query; the exit status */
int cli_db_failed(struct tw_db *db, int st, const char *what)
{
    const char *state = tw_db_sqlstate(db);
    if (strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0 ||
        strcmp(state, "42883") == 0)
        return cli_fail(EX_UNAVAILABLE,
                        "the database has no Tawasul schema yet: run "
                        "`tawasul db migrate`");
    if (st == TW_TEMPFAIL)
        return cli_fail(EX_TEMPFAIL,
                        "lost the database while %s: %s (try "
                        "again)",
                        what, cli_db_reason(db));
    return cli_fail(EX_SOFTWARE, "the database refused %s: %s", what,
                    cli_db_reason(db));
}

/* cli_engine_silent - the engine did not answer within WAITED */
int cli_engine_silent(const struct cli *c, int64_t waited)
{
    char d[32];
    tw_duration_format(waited, d, sizeof d);
    return cli_fail(EX_UNAVAILABLE,
                    "the engine did not answer at %s within %s: is "
                    "tawasul-engine running? (deploy/local/tawasul-local "
                    "status)",
                    c->base.bus_intake, d);
}

/* cli_time_human - "2026-12-09 18:20 +03:00" from tw_time_iso's text */
char *cli_time_human(tw_time t, char *buf)
{
    char iso[TW_TIME_ISO_MAX];
    tw_time_iso(t, 0, iso);
    /* "2026-12-09T18:20:44+03:00": date, hh:mm, then the offset after the
     * seconds (and any fraction). */
    const char *zone = iso + 19;
    while (*zone == '.' || (*zone >= '0' && *zone <= '9'))
        zone++;
    if (strlen(iso) < 19)
        snprintf(buf, CLI_TIME_HUMAN_MAX, "%s", iso);
    else
        snprintf(buf, CLI_TIME_HUMAN_MAX, "%.10s %.5s %.6s", iso, iso + 11,
                 *zone == 'Z' || !*zone ? "+00:00" : zone);
    return buf;
}

/* cli_duration_human - the two largest units of D, in words */
char *cli_duration_human(int64_t d, char *buf, size_t size)
{
    static const struct {
        int64_t unit;
        const char *one, *many;
    } units[] = {{TW_DAY, "day", "days"},
                 {TW_HOUR, "hour", "hours"},
                 {TW_MIN, "minute", "minutes"}};
    if (d < 0)
        d = -d;
    size_t len = 0;
    int parts = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < 3 && parts < 2; i++) {
        int64_t n = d / units[i].unit;
        if (n == 0 && parts == 0)
            continue;
        d -= n * units[i].unit;
        if (n == 0)
            break;
        int w = snprintf(buf + len, size - len, "%s%lld %s", parts ? " " : "",
                         (long long)n, n == 1 ? units[i].one : units[i].many);
        if (w < 0 || (size_t)w >= size - len)
            break;
        len += (size_t)w;
        parts++;
    }
    if (parts == 0)
        snprintf(buf, size, "less than a minute");
    return buf;
}

/* cli_json_time - T as ISO 8601 with microseconds; new reference */
json_t *cli_json_time(tw_time t)
{
    char iso[TW_TIME_ISO_MAX];
    return json_string(tw_time_iso(t, 1, iso));
}

/* cli_print_json - J indented on stdout */
int cli_print_json(const json_t *j)
{
    if (json_dumpf(j, stdout, JSON_INDENT(2)) != 0 || fputc('\n', stdout) < 0)
        return cli_fail(EX_IOERR, "cannot write the output: %s",
                        strerror(errno));
    return 0;
}

/* cli_utf8_valid - whether S (N bytes) is well-formed UTF-8 */
int cli_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0; /* continuation byte, C0/C1 overlong lead, > F4 */
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

/* cli_utf8_chars - code points in S (continuation bytes not counted) */
size_t cli_utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

/* cli_utf8_prefix - bytes of S's first MAX code points */
size_t cli_utf8_prefix(const char *s, size_t max)
{
    size_t i = 0, chars = 0;
    while (s[i]) {
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            if (chars == max)
                break;
            chars++;
        }
        i++;
    }
    return i;
}

/* cli_print_cell - S padded or cut to WIDTH code points, line breaks and
 * tabs shown as spaces so a table row stays one line */
void cli_print_cell(FILE *fp, const char *s, size_t width)
{
    size_t chars = cli_utf8_chars(s);
    size_t bytes = strlen(s);
    int cut = width && chars > width;
    if (cut)
        bytes = cli_utf8_prefix(s, width - 1);
    for (size_t i = 0; i < bytes; i++)
        fputc(s[i] == '\n' || s[i] == '\r' || s[i] == '\t' ? ' ' : s[i], fp);
    if (cut)
        fputs("…", fp);
    for (size_t i = chars; width && i < width; i++)
        fputc(' ', fp);
}

/* find_verb - the table entry for WORD [SUB]; *WORDS gets how many words
 * it took; NULL if none (*GROUP_KNOWN says whether WORD was a group) */
static const struct cli_verb *find_verb(const char *word, const char *sub,
                                        int *words, int *group_known)
{
    *group_known = 0;
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        const struct cli_verb *v = &verbs[i];
        if (strcmp(v->group, word) != 0)
            continue;
        *group_known = 1;
        if (!v->name) {
            *words = 1;
            return v;
        }
        if (sub && strcmp(v->name, sub) == 0) {
            *words = 2;
            return v;
        }
    }
    return NULL;
}

/* group_usage - the verbs of GROUP on FP */
static void group_usage(FILE *fp, const char *group)
{
    fprintf(fp, "usage:\n");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strcmp(verbs[i].group, group) == 0)
            fprintf(fp, "  tawasul %s\n", verbs[i].synopsis);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"as", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    struct cli c;
    memset(&c, 0, sizeof c);
    int rc = 0;

    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "+:c:vh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            c.config_path = optarg;
            break;
        case 'a':
            c.as = optarg;
            break;
        case 'v':
            c.verbose = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("tawasul %s\n", TW_VERSION);
            return 0;
        case ':':
            return cli_usage_error(NULL, "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(NULL, "unknown option %s", argv[optind - 1]);
        }
    }
    tw_log_init("tawasul", c.verbose ? TW_LOG_DEBUG : TW_LOG_WARN);
    if (optind >= argc)
        return cli_usage_error(NULL, "which command?");

    const char *word = argv[optind];
    const char *sub = optind + 1 < argc ? argv[optind + 1] : NULL;
    int words = 0, group_known = 0;
    const struct cli_verb *v = find_verb(word, sub, &words, &group_known);
    if (!v && group_known && sub &&
        (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0)) {
        group_usage(stdout, word);
        return 0;
    }
    if (!v) {
        if (!group_known)
            return cli_usage_error(NULL, "unknown command \"%s\"", word);
        if (sub)
            cli_fail(EX_USAGE, "unknown command \"%s %s\"", word, sub);
        else
            cli_fail(EX_USAGE, "\"%s\" needs a command", word);
        group_usage(stderr, word);
        return EX_USAGE;
    }
    int first = optind + words - 1; /* the verb's last word is its argv[0] */
    optind = 0;                     /* glibc: start afresh on a new argv */
    rc = v->fn(&c, v, argc - first, argv + first);

    if (fflush(stdout) != 0 && rc == 0)
        rc = cli_fail(EX_IOERR, "cannot write the output: %s", strerror(errno));
    if (c.loaded)
        tw_config_free(c.tables, 3);
    return rc;
}
