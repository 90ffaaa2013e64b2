/*
 * cli_sla.c - `sla report`, `sla breaches`, `sla recompute` and the
 * holidays: `holidays add|list|import`.
 *
 * DESIGN
 * ------
 * Reports are reads: they call the SQL functions of migration 0003
 * (sla_open_report, sla_compliance) with the instant to answer for - now
 * from this process's clock (so faketime moves it), or --at - and format
 * what comes back. The open-case list shows, per state, the cases nearest
 * their due time (--limit, default 50 each) and counts them all. As of now
 * both come from partial indexes (sla_open_counts, sla_open_list), so a
 * report over a million open cases takes well under a second; --at answers
 * as of another instant with one full pass (sla_open_report).
 *
 * Holidays are reference data like the member register, so the CLI writes
 * the holidays table directly. Deadlines depend on them, and only the
 * engine writes deadlines: each sweep the engine reads the table, and when
 * it changed rebuilds its calendar and recomputes the open cases' due times
 * (engine_sla.c), within sla.sweep_every. `sla recompute` asks the engine
 * to do it at once with the settings it has loaded.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "buf.h"
#include "calendar.h"
#include "error.h"
#include "mem.h"

#define READ_WAIT     (3 * TW_SEC)
#define ICS_MAX       (4 << 20) /* bytes of one .ics file */
#define HOLIDAYS_MAX  5000
#define REPORT_LIMIT  50
#define BREACHES_DAYS 30

int cli_send_op(struct cli *c, json_t *cmd, json_t **reply);

enum format { F_TABLE, F_CSV, F_JSON };

/* parse_format - "table", "csv" or "json"; -1 if none */
static int parse_format(const char *s)
{
    if (strcmp(s, "table") == 0)
        return F_TABLE;
    if (strcmp(s, "csv") == 0)
        return F_CSV;
    if (strcmp(s, "json") == 0)
        return F_JSON;
    return -1;
}

/* us_at - column K of row I as tw_time (0 when NULL) */
static tw_time us_at(PGresult *r, int i, int k)
{
    return PQgetisnull(r, i, k) ? 0 : strtoll(PQgetvalue(r, i, k), NULL, 10);
}

/* jtime - column K of row I (epoch usec) as JSON */
static json_t *jtime(PGresult *r, int i, int k)
{
    return PQgetisnull(r, i, k) ? json_null() : cli_json_time(us_at(r, i, k));
}

/* jstr - column K of row I as JSON */
static json_t *jstr(PGresult *r, int i, int k)
{
    if (PQgetisnull(r, i, k))
        return json_null();
    json_t *s = json_string(PQgetvalue(r, i, k));
    return s ? s : json_null();
}

/* csv_cell - S quoted for CSV when it needs it */
static void csv_cell(const char *s, int last)
{
    if (strpbrk(s, ",\"\r\n")) {
        fputc('"', stdout);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', stdout);
            fputc(*s, stdout);
        }
        fputc('"', stdout);
    } else {
        fputs(s, stdout);
    }
    fputc(last ? '\n' : ',', stdout);
}

static const char sql_open[] =
    "WITH r AS MATERIALIZED ("
    "  SELECT o.*, row_number() OVER (PARTITION BY o.sla_state"
    "    ORDER BY o.sla_due_at, o.ref) AS rn"
    "  FROM tawasul.sla_open_report($1::timestamptz) o)"
    " SELECT ref, status, channel, category, assignee,"
    "   tawasul.us(received_at), tawasul.us(sla_due_at),"
    "   (extract(epoch FROM remaining) / 60)::bigint, sla_state,"
    "   count(*) OVER (PARTITION BY sla_state)"
    " FROM r WHERE rn <= $2::int OR $2::int = 0"
    " ORDER BY array_position(ARRAY['breached', 'at_risk', 'paused',"
    "   'on_track'], sla_state), sla_due_at, ref";
/* Without --at: now, from the partial indexes (fast). */
static const char sql_open_now[] =
    "SELECT ref, status, channel, category, assignee,"
    "   tawasul.us(received_at), tawasul.us(sla_due_at),"
    "   (extract(epoch FROM remaining) / 60)::bigint, sla_state, 0"
    " FROM tawasul.sla_open_list($1::timestamptz, nullif($2::int, 0))"
    " ORDER BY array_position(ARRAY['breached', 'at_risk', 'paused',"
    "   'on_track'], sla_state), sla_due_at, ref";
static const char sql_counts_now[] =
    "SELECT sla_state, n FROM tawasul.sla_open_counts($1::timestamptz)"
    " WHERE n > 0";
static const char sql_counts[] =
    "SELECT sla_state, count(*) FROM tawasul.sla_open_report($1::timestamptz)"
    " GROUP BY 1";
static const char sql_compliance[] =
    "SELECT grp, decided, within_target, share, median_minutes, p90_minutes"
    " FROM tawasul.sla_compliance($1, $2::timestamptz)";

/* remaining_text - minutes as "3d 4h" / "-2h 5m" */
static char *remaining_text(long long mins, char *buf, size_t size)
{
    long long a = mins < 0 ? -mins : mins;
    if (a >= 1440)
        snprintf(buf, size, "%s%lldd %lldh", mins < 0 ? "-" : "", a / 1440,
                 a % 1440 / 60);
    else
        snprintf(buf, size, "%s%lldh %lldm", mins < 0 ? "-" : "", a / 60,
                 a % 60);
    return buf;
}

/* compliance_json - rows of one dimension */
static json_t *compliance_json(PGresult *r)
{
    json_t *a = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(
            a, json_pack("{s:o, s:I, s:I, s:f, s:o, s:o}", "group",
                         jstr(r, i, 0), "decided",
                         (json_int_t)strtoll(PQgetvalue(r, i, 1), NULL, 10),
                         "within_target",
                         (json_int_t)strtoll(PQgetvalue(r, i, 2), NULL, 10),
                         "share", strtod(PQgetvalue(r, i, 3), NULL),
                         "median_minutes",
                         PQgetisnull(r, i, 4)
                             ? json_null()
                             : json_real(strtod(PQgetvalue(r, i, 4), NULL)),
                         "p90_minutes",
                         PQgetisnull(r, i, 5)
                             ? json_null()
                             : json_real(strtod(PQgetvalue(r, i, 5), NULL))));
    return a;
}

/* print_report - the report in FORMAT */
static int print_report(enum format f, tw_time at, PGresult *open,
                        PGresult *counts, PGresult *dims[3])
{
    static const char *const dim_names[] = {"month", "channel", "assignee"};
    char t1[CLI_TIME_HUMAN_MAX], t2[CLI_TIME_HUMAN_MAX], rem[32];
    if (f == F_JSON) {
        json_t *j = json_object(), *rows = json_array(), *sum = json_object();
        json_object_set_new(j, "at", cli_json_time(at));
        static const char *const states[] = {"on_track", "at_risk", "paused",
                                             "breached"};
        for (int s = 0; s < 4; s++)
            json_object_set_new(sum, states[s], json_integer(0));
        for (int i = 0; i < PQntuples(counts); i++)
            json_object_set_new(
                sum, PQgetvalue(counts, i, 0),
                json_integer(strtoll(PQgetvalue(counts, i, 1), NULL, 10)));
        for (int i = 0; i < PQntuples(open); i++)
            json_array_append_new(
                rows,
                json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o}",
                          "ref", jstr(open, i, 0), "status", jstr(open, i, 1),
                          "channel", jstr(open, i, 2), "category",
                          jstr(open, i, 3), "assignee", jstr(open, i, 4),
                          "received_at", jtime(open, i, 5), "sla_due_at",
                          jtime(open, i, 6), "remaining_minutes",
                          (json_int_t)strtoll(PQgetvalue(open, i, 7), NULL, 10),
                          "sla_state", jstr(open, i, 8)));
        json_object_set_new(j, "open_by_state", sum);
        json_object_set_new(j, "open", rows);
        json_t *comp = json_object();
        for (int d = 0; d < 3; d++)
            json_object_set_new(comp, dim_names[d], compliance_json(dims[d]));
        json_object_set_new(j, "compliance", comp);
        int rc = cli_print_json(j);
        json_decref(j);
        return rc;
    }
    if (f == F_CSV) {
        printf("section,key,status,channel,category,assignee,received_at,"
               "sla_due_at,remaining_minutes,sla_state,decided,within_target,"
               "share,median_minutes,p90_minutes\n");
        for (int i = 0; i < PQntuples(open); i++) {
            char a[TW_TIME_ISO_MAX], b[TW_TIME_ISO_MAX];
            csv_cell("open", 0);
            for (int k = 0; k < 5; k++)
                csv_cell(PQgetvalue(open, i, k), 0);
            csv_cell(tw_time_iso(us_at(open, i, 5), 0, a), 0);
            csv_cell(tw_time_iso(us_at(open, i, 6), 0, b), 0);
            csv_cell(PQgetvalue(open, i, 7), 0);
            csv_cell(PQgetvalue(open, i, 8), 0);
            printf(",,,,\n");
        }
        for (int d = 0; d < 3; d++)
            for (int i = 0; i < PQntuples(dims[d]); i++) {
                csv_cell(dim_names[d], 0);
                csv_cell(PQgetvalue(dims[d], i, 0), 0);
                printf(",,,,,,,,");
                for (int k = 1; k < 6; k++)
                    csv_cell(PQgetvalue(dims[d], i, k), k == 5);
            }
        return 0;
    }
    printf("SLA report as of %s\n\nOpen cases:", cli_time_human(at, t1));
    if (PQntuples(counts) == 0)
        printf(" none");
    for (int i = 0; i < PQntuples(counts); i++)
        printf(" %s %s%s", PQgetvalue(counts, i, 0), PQgetvalue(counts, i, 1),
               i + 1 < PQntuples(counts) ? "," : "");
    printf("\n");
    if (PQntuples(open))
        printf("  %-18s %-10s %-16s %-22s %-22s %-12s %s\n", "REF", "STATE",
               "STATUS", "RECEIVED", "DUE", "REMAINING", "ASSIGNEE");
    for (int i = 0; i < PQntuples(open); i++)
        printf("  %-18s %-10s %-16s %-22s %-22s %-12s %s\n",
               PQgetvalue(open, i, 0), PQgetvalue(open, i, 8),
               PQgetvalue(open, i, 1), cli_time_human(us_at(open, i, 5), t1),
               cli_time_human(us_at(open, i, 6), t2),
               remaining_text(strtoll(PQgetvalue(open, i, 7), NULL, 10), rem,
                              sizeof rem),
               PQgetisnull(open, i, 4) ? "-" : PQgetvalue(open, i, 4));
    for (int d = 0; d < 3; d++) {
        printf("\nCompliance by %s (decided within target; minutes to "
               "decision):\n",
               dim_names[d]);
        if (PQntuples(dims[d]) == 0)
            printf("  no decisions yet\n");
        for (int i = 0; i < PQntuples(dims[d]); i++)
            printf("  %-20s %5s decided, %5s within target (%3.0f%%), "
                   "median %s, p90 %s\n",
                   PQgetvalue(dims[d], i, 0), PQgetvalue(dims[d], i, 1),
                   PQgetvalue(dims[d], i, 2),
                   100 * strtod(PQgetvalue(dims[d], i, 3), NULL),
                   PQgetisnull(dims[d], i, 4) ? "-" : PQgetvalue(dims[d], i, 4),
                   PQgetisnull(dims[d], i, 5) ? "-"
                                              : PQgetvalue(dims[d], i, 5));
    }
    return 0;
}

/* cli_sla_report - open cases by state and compliance */
int cli_sla_report(struct cli *c, const struct cli_verb *v, int argc,
                   char **argv)
{
    static const struct option opts[] = {
        {"at", required_argument, NULL, 'a'},
        {"format", required_argument, NULL, 'f'},
        {"limit", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *at_text = NULL;
    int f = F_TABLE, opt, rc = 0;
    long limit = REPORT_LIMIT;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        switch (opt) {
        case 'a':
            at_text = optarg;
            break;
        case 'f':
            if ((f = parse_format(optarg)) < 0)
                return cli_usage_error(v, "--format: table, csv or json");
            break;
        case 'l': {
            char *end;
            errno = 0;
            limit = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || limit < 0 || limit > 1000000)
                return cli_usage_error(v, "--limit: 0 (all) to 1000000");
            break;
        }
        case 'h':
            return cli_help(v);
        default:
            return rc;
        }
    }
    if (optind < argc)
        return cli_usage_error(v, "unexpected argument \"%s\"", argv[optind]);
    if ((rc = cli_ready(c)) != 0)
        return rc;
    tw_time at = tw_clock_now();
    if (at_text && tw_time_parse(at_text, &at) != TW_OK)
        return cli_usage_error(v, "--at: \"%s\" is not a time", at_text);
    struct tw_db *db = NULL;
    if ((rc = cli_db_open(c, READ_WAIT, &db)) != 0)
        return rc;
    char atp[TW_TIME_ISO_MAX], lim[24];
    snprintf(lim, sizeof lim, "%ld", limit);
    tw_db_time_param(at, atp);
    PGresult *open = NULL, *counts = NULL, *dims[3] = {NULL, NULL, NULL};
    static const char *const dim_names[] = {"month", "channel", "assignee"};
    int st;
    cli_log_mute(c);
    st = tw_db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0,
                    NULL);
    /* As of now the partial indexes answer; as of another instant, a full
     * pass over the cases with the stored times. */
    if (st == TW_OK) {
        const char *p[] = {atp, lim};
        open = tw_db_query(db, &st, at_text ? sql_open : sql_open_now, 2, p);
    }
    if (open) {
        const char *p[] = {atp};
        counts =
            tw_db_query(db, &st, at_text ? sql_counts : sql_counts_now, 1, p);
    }
    for (int d = 0; d < 3 && counts && st == TW_OK; d++) {
        const char *p[] = {dim_names[d], atp};
        dims[d] = tw_db_query(db, &st, sql_compliance, 2, p);
    }
    tw_db_rollback(db);
    cli_log_unmute(c);
    if (st != TW_OK || !dims[2])
        rc = cli_db_failed(db, st, "reading the SLA report");
    else
        rc = print_report((enum format)f, at, open, counts, dims);
    PQclear(open);
    PQclear(counts);
    for (int d = 0; d < 3; d++)
        PQclear(dims[d]);
    tw_db_destroy(&db);
    return rc;
}

/* cli_sla_breaches - cases breached since a time */
int cli_sla_breaches(struct cli *c, const struct cli_verb *v, int argc,
                     char **argv)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *since_text = NULL;
    int f = F_TABLE, opt, rc = 0;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        switch (opt) {
        case 's':
            since_text = optarg;
            break;
        case 'f':
            if ((f = parse_format(optarg)) < 0)
                return cli_usage_error(v, "--format: table, csv or json");
            break;
        case 'h':
            return cli_help(v);
        default:
            return rc;
        }
    }
    if (optind < argc)
        return cli_usage_error(v, "unexpected argument \"%s\"", argv[optind]);
    if ((rc = cli_ready(c)) != 0)
        return rc;
    tw_time since = tw_clock_now() - BREACHES_DAYS * TW_DAY;
    if (since_text && tw_time_parse(since_text, &since) != TW_OK)
        return cli_usage_error(v, "--since: \"%s\" is not a time", since_text);
    struct tw_db *db = NULL;
    if ((rc = cli_db_open(c, READ_WAIT, &db)) != 0)
        return rc;
    char sp[TW_TIME_ISO_MAX];
    const char *p[] = {tw_db_time_param(since, sp)};
    int st;
    cli_log_mute(c);
    PGresult *r = tw_db_query(
        db, &st,
        "SELECT c.ref, c.status, s.username, tawasul.us(c.sla_due_at),"
        " tawasul.us(c.sla_breached_at), c.channel, c.category,"
        " tawasul.us(c.decided_at)"
        " FROM tawasul.cases c LEFT JOIN tawasul.staff s ON s.id = c.assignee"
        " WHERE c.sla_breached_at >= $1 ORDER BY c.sla_breached_at DESC,"
        " c.ref",
        1, p);
    cli_log_unmute(c);
    if (!r) {
        rc = cli_db_failed(db, st, "reading breaches");
        tw_db_destroy(&db);
        return rc;
    }
    char t1[CLI_TIME_HUMAN_MAX], t2[CLI_TIME_HUMAN_MAX];
    if (f == F_JSON) {
        json_t *a = json_array();
        for (int i = 0; i < PQntuples(r); i++)
            json_array_append_new(
                a, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "ref",
                             jstr(r, i, 0), "status", jstr(r, i, 1), "assignee",
                             jstr(r, i, 2), "sla_due_at", jtime(r, i, 3),
                             "breached_at", jtime(r, i, 4), "channel",
                             jstr(r, i, 5), "category", jstr(r, i, 6),
                             "decided_at", jtime(r, i, 7)));
        rc = cli_print_json(a);
        json_decref(a);
    } else if (f == F_CSV) {
        printf("ref,status,assignee,sla_due_at,breached_at,channel,"
               "category\n");
        for (int i = 0; i < PQntuples(r); i++) {
            char a[TW_TIME_ISO_MAX], b[TW_TIME_ISO_MAX];
            for (int k = 0; k < 3; k++)
                csv_cell(PQgetvalue(r, i, k), 0);
            csv_cell(tw_time_iso(us_at(r, i, 3), 0, a), 0);
            csv_cell(tw_time_iso(us_at(r, i, 4), 0, b), 0);
            csv_cell(PQgetvalue(r, i, 5), 0);
            csv_cell(PQgetvalue(r, i, 6), 1);
        }
    } else if (PQntuples(r) == 0) {
        printf("no breaches since %s\n", cli_time_human(since, t1));
    } else {
        for (int i = 0; i < PQntuples(r); i++)
            printf("%-18s %-16s due %s  breached %s  %s\n", PQgetvalue(r, i, 0),
                   PQgetvalue(r, i, 1), cli_time_human(us_at(r, i, 3), t1),
                   cli_time_human(us_at(r, i, 4), t2),
                   PQgetisnull(r, i, 2) ? "(nobody)" : PQgetvalue(r, i, 2));
    }
    PQclear(r);
    tw_db_destroy(&db);
    return rc;
}

/* cli_sla_recompute - the engine recomputes open cases' deadlines now */
int cli_sla_recompute(struct cli *c, const struct cli_verb *v, int argc,
                      char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt, rc = 0;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        if (opt == 'h')
            return cli_help(v);
        return rc;
    }
    if (optind < argc)
        return cli_usage_error(v, "unexpected argument \"%s\"", argv[optind]);
    if ((rc = cli_ready(c)) != 0)
        return rc;
    json_t *r = NULL;
    if ((rc = cli_send_op(c, json_pack("{s:s}", "op", "sla_recompute"), &r)))
        return rc;
    printf("recomputed %lld open cases with the engine's settings: %s\n",
           (long long)json_integer_value(json_object_get(r, "recomputed")),
           json_string_value(json_object_get(r, "settings")));
    json_decref(r);
    return 0;
}

/* --- holidays ------------------------------------------------------------ */

/* The holidays gathered from a file. */
struct holidays {
    size_t n;
    int32_t days[HOLIDAYS_MAX];
    char *names[HOLIDAYS_MAX];
};

/* save_holidays - H into the table, each day once (a name given again
 * replaces the old one); 0 or the exit status */
static int save_holidays(struct cli *c, const struct holidays *h)
{
    struct tw_buf days, names;
    tw_buf_init(&days, 0);
    tw_buf_init(&names, 0);
    int ok = tw_buf_add(&days, "{", 1) | tw_buf_add(&names, "{", 1);
    for (size_t i = 0; i < h->n; i++) {
        char d[16];
        ok |= tw_buf_addf(&days, "%s%s", i ? "," : "",
                          tw_date_format(h->days[i], d));
        ok |= tw_buf_add(&names, i ? ",\"" : "\"", i ? 2 : 1);
        for (const char *p = h->names[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                ok |= tw_buf_add(&names, "\\", 1);
            ok |= tw_buf_add(&names, p, 1);
        }
        ok |= tw_buf_add(&names, "\"", 1);
    }
    ok |= tw_buf_add(&days, "}", 1) | tw_buf_add(&names, "}", 1);
    (void)ok; /* no cap */
    struct tw_db *db = NULL;
    int rc = cli_db_open(c, READ_WAIT, &db);
    if (rc == 0) {
        char at[TW_TIME_ISO_MAX];
        const char *p[] = {days.data, names.data,
                           tw_db_time_param(tw_clock_now(), at)};
        cli_log_mute(c);
        int st =
            tw_db_exec(db,
                       "INSERT INTO tawasul.holidays (day, name, added_at)"
                       " SELECT DISTINCT ON (d) d, n, $3::timestamptz"
                       " FROM unnest($1::date[], $2::text[]) AS u(d, n)"
                       " ORDER BY d"
                       " ON CONFLICT (day) DO UPDATE SET name = EXCLUDED.name,"
                       " added_at = EXCLUDED.added_at",
                       3, p);
        cli_log_unmute(c);
        if (st != TW_OK)
            rc = cli_db_failed(db, st, "saving holidays");
    }
    tw_db_destroy(&db);
    tw_buf_free(&days);
    tw_buf_free(&names);
    return rc;
}

/* cli_holidays_add - one holiday */
int cli_holidays_add(struct cli *c, const struct cli_verb *v, int argc,
                     char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt, rc = 0;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        if (opt == 'h')
            return cli_help(v);
        return rc;
    }
    if (argc - optind != 2)
        return cli_usage_error(v, "give the date and the name");
    int32_t day;
    if (tw_date_parse(argv[optind], &day) != TW_OK)
        return cli_usage_error(v, "\"%s\" is not a date (YYYY-MM-DD)",
                               argv[optind]);
    const char *name = argv[optind + 1];
    if (!*name || !cli_utf8_valid(name, strlen(name)) || strlen(name) > 200)
        return cli_usage_error(v, "the name: 1 to 200 bytes of UTF-8");
    if ((rc = cli_ready(c)) != 0)
        return rc;
    struct holidays *h = tw_calloc(1, sizeof *h);
    h->days[0] = day;
    h->names[0] = (char *)name;
    h->n = 1;
    rc = save_holidays(c, h);
    free(h);
    if (rc == 0) {
        char d[16];
        printf("%s %s: holiday saved; the engine moves open cases' due "
               "dates at its next sweep\n",
               tw_date_format(day, d), name);
    }
    return rc;
}

/* collect - tw_ics_holidays's callback: one day into the set */
static int collect(void *arg, int32_t day, const char *name)
{
    struct holidays *h = arg;
    if (h->n == HOLIDAYS_MAX)
        return 1;
    h->days[h->n] = day;
    h->names[h->n++] = tw_strdup(*name ? name : "holiday");
    return 0;
}

/* cli_holidays_import - the all-day events of an iCalendar file */
int cli_holidays_import(struct cli *c, const struct cli_verb *v, int argc,
                        char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt, rc = 0;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        if (opt == 'h')
            return cli_help(v);
        return rc;
    }
    if (argc - optind != 1)
        return cli_usage_error(v, "give one .ics file");
    if ((rc = cli_ready(c)) != 0)
        return rc;
    const char *path = argv[optind];
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return cli_fail(EX_NOINPUT, "%s: %s", path, strerror(errno));
    struct tw_buf b;
    tw_buf_init(&b, ICS_MAX);
    char chunk[65536];
    size_t n;
    int big = 0;
    while (!big && (n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        big = tw_buf_add(&b, chunk, n) != TW_OK;
    fclose(fp);
    if (big) {
        tw_buf_free(&b);
        return cli_fail(EX_DATAERR, "%s: larger than %d bytes", path, ICS_MAX);
    }
    struct holidays *h = tw_calloc(1, sizeof *h);
    char err[256];
    int st = tw_ics_holidays(b.data ? b.data : "", b.len, collect, h, err,
                             sizeof err);
    if (st == 1)
        rc = cli_fail(EX_DATAERR, "%s: more than %d holidays", path,
                      HOLIDAYS_MAX);
    else if (st != TW_OK)
        rc = cli_fail(EX_DATAERR, "%s: %s", path, err);
    else if (h->n == 0)
        rc = cli_fail(EX_DATAERR, "%s: no all-day events found", path);
    else
        rc = save_holidays(c, h);
    if (rc == 0)
        printf("%zu holidays imported from %s; the engine moves open cases' "
               "due dates at its next sweep\n",
               h->n, path);
    for (size_t i = 0; i < h->n; i++)
        free(h->names[i]);
    free(h);
    tw_buf_free(&b);
    return rc;
}

/* cli_holidays_list - the holidays table */
int cli_holidays_list(struct cli *c, const struct cli_verb *v, int argc,
                      char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int as_json = 0, opt, rc = 0;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        if (opt == 'h')
            return cli_help(v);
        if (opt != 'j')
            return rc;
        as_json = 1;
    }
    if (optind < argc)
        return cli_usage_error(v, "unexpected argument \"%s\"", argv[optind]);
    if ((rc = cli_ready(c)) != 0)
        return rc;
    struct tw_db *db = NULL;
    if ((rc = cli_db_open(c, READ_WAIT, &db)) != 0)
        return rc;
    int st;
    cli_log_mute(c);
    PGresult *r = tw_db_query(db, &st,
                              "SELECT day::text, name FROM tawasul.holidays"
                              " ORDER BY day",
                              0, NULL);
    cli_log_unmute(c);
    if (!r) {
        rc = cli_db_failed(db, st, "listing holidays");
    } else if (as_json) {
        json_t *a = json_array();
        for (int i = 0; i < PQntuples(r); i++)
            json_array_append_new(a,
                                  json_pack("{s:o, s:o}", "day", jstr(r, i, 0),
                                            "name", jstr(r, i, 1)));
        rc = cli_print_json(a);
        json_decref(a);
    } else if (PQntuples(r) == 0) {
        printf("no holidays in the table (calendar.holidays in the config "
               "also count)\n");
    } else {
        for (int i = 0; i < PQntuples(r); i++)
            printf("%s  %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
    }
    PQclear(r);
    tw_db_destroy(&db);
    return rc;
}
