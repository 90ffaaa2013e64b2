/*
 * cli_members.c - `members import` and `members list`: the General
 * Assembly register, loaded from the CSV file the office keeps.
 *
 * DESIGN
 * ------
 * An import streams the file through the CSV reader and checks each row
 * against the same rules the members table enforces, so a bad row is
 * rejected here, by its line number and in words ("email: ... is not a
 * valid address"), instead of failing the whole load inside PostgreSQL.
 * Valid rows are upserted in ONE transaction: either the whole file's good
 * rows are in the register or none are (a crash or Ctrl-C half-way leaves
 * the register as it was). The upsert only touches a row whose values
 * differ, and RETURNING tells inserted from updated; no row back means
 * unchanged - so importing the same file twice changes nothing and says so.
 * --dry-run does all of it and rolls back, for honest counts.
 *
 * Names are kept as written, except that runs of white space (including a
 * line break inside a quoted spreadsheet cell) become one space: a name is
 * one line wherever it is shown. Phone numbers are stored normalized
 * (tw_phone_normalize), so intake matching compares like with like.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "command.h"
#include "error.h"
#include "mem.h"

#define FIELD_MAX   4096
#define RECORD_MAX  65536
#define IMPORT_WAIT (10 * TW_SEC) /* for the database to come up */
#define READ_WAIT   (3 * TW_SEC)
#define SHOWN_MAX   40 /* characters of a bad value quoted in a reason */

enum { COL_NO, COL_NAME, COL_EMAIL, COL_PHONE, COL_LANG, NCOLS };
static const char *const columns[NCOLS] = {"member_no", "name", "email",
                                           "phone", "lang"};
#define COLUMNS_TEXT "member_no,name,email,phone,lang"

static const char upsert_sql[] =
    "INSERT INTO tawasul.members (member_no, name, email, phone, lang)"
    " VALUES ($1, $2, $3, $4, $5)"
    " ON CONFLICT (member_no) DO UPDATE SET name = EXCLUDED.name,"
    " email = EXCLUDED.email, phone = EXCLUDED.phone,"
    " lang = EXCLUDED.lang, active = true, updated_at = now()"
    " WHERE (members.name, members.email, members.phone, members.lang,"
    " members.active) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.email,"
    " EXCLUDED.phone, EXCLUDED.lang, true)"
    " RETURNING (xmax = 0) AS inserted";

/* One import: the file, where each column is, what has been seen. */
struct import {
    const char *file; /* as given, for messages */
    FILE *fp;
    struct cli_csv *csv;
    int col[NCOLS]; /* field index of each column */
    json_t *seen;   /* member_no -> line of its first row */
    struct tw_db *db;
    long inserted, updated, unchanged, rejected;
};

/* One row, checked: pointers into the reader's record, or owned. */
struct member_row {
    const char *no, *name, *email, *phone, *lang;
    char *phone_buf; /* owned: the normalized number */
    char lang_buf[3];
};

/* trim - S without leading and trailing ASCII white space (in place) */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
                 s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* squeeze_name - collapse white-space runs to one space, in place; 0 if a
 * control character other than white space is left */
static int squeeze_name(char *s)
{
    char *o = s;
    int space = 0;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            space = 1;
            continue;
        }
        if (c < 0x20 || c == 0x7f)
            return 0;
        if (space && o != s)
            *o++ = ' ';
        space = 0;
        *o++ = (char)c;
    }
    *o = '\0';
    return 1;
}

/* shown - S (valid UTF-8) quoted for a reason, cut to SHOWN_MAX
 * characters, into BUF */
static const char *shown(const char *s, char *buf, size_t size)
{
    size_t n = cli_utf8_prefix(s, SHOWN_MAX);
    snprintf(buf, size, "\"%.*s%s\"", (int)n, s, s[n] ? "…" : "");
    return buf;
}

/* member_no_ok - ^[A-Za-z0-9][A-Za-z0-9./-]{0,31}$, as the schema says */
static int member_no_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32 || !isalnum((unsigned char)s[0]))
        return 0;
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c < 0x80 && (isalnum(c) || c == '.' || c == '/' || c == '-')))
            return 0;
    }
    return 1;
}

/* map_header - find each column in the header record; 0 or EX_DATAERR
 * (printed) */
static int map_header(struct import *im, const struct cli_csv_record *rec)
{
    char unknown[256] = "";
    size_t ulen = 0;
    int dup = -1;
    for (int k = 0; k < NCOLS; k++)
        im->col[k] = -1;
    if (rec->error)
        return cli_fail(EX_DATAERR, "%s:%ld: the header row is malformed: %s",
                        im->file, rec->line, rec->error);
    for (size_t i = 0; i < rec->n; i++) {
        char *name = trim(rec->fields[i]);
        for (char *p = name; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        int k;
        for (k = 0; k < NCOLS; k++)
            if (strcmp(name, columns[k]) == 0)
                break;
        if (k < NCOLS && im->col[k] >= 0) {
            dup = k;
        } else if (k < NCOLS) {
            im->col[k] = (int)i;
        } else if (ulen < sizeof unknown - 1) {
            char q[64];
            int w = snprintf(
                unknown + ulen, sizeof unknown - ulen, "%s%s", ulen ? ", " : "",
                cli_utf8_valid(name, strlen(name)) ? shown(name, q, sizeof q)
                                                   : "(not UTF-8)");
            if (w > 0)
                ulen += (size_t)w;
        }
    }
    char missing[128] = "";
    size_t mlen = 0;
    for (int k = 0; k < NCOLS; k++) {
        if (im->col[k] >= 0)
            continue;
        int w = snprintf(missing + mlen, sizeof missing - mlen, "%s%s",
                         mlen ? ", " : "", columns[k]);
        if (w > 0)
            mlen += (size_t)w;
    }
    if (!ulen && !mlen && dup < 0)
        return 0;
    return cli_fail(EX_DATAERR,
                    "%s:%ld: the header row must name the columns " COLUMNS_TEXT
                    " (in any order)%s%s%s%s%s%s",
                    im->file, rec->line, ulen ? "; unknown: " : "",
                    ulen ? unknown : "", mlen ? "; missing: " : "",
                    mlen ? missing : "", dup >= 0 ? "; twice: " : "",
                    dup >= 0 ? columns[dup] : "");
}

/* check_row - validate REC into ROW; NULL if it is good, else the reason
 * (in BUF, or static) */
static const char *check_row(struct import *im,
                             const struct cli_csv_record *rec,
                             struct member_row *row, char *buf, size_t size)
{
    char q[160];
    if (rec->error)
        return rec->error;
    if (rec->n != NCOLS) {
        snprintf(buf, size, "expected %d fields (" COLUMNS_TEXT "), found %zu",
                 NCOLS, rec->n);
        return buf;
    }
    for (int k = 0; k < NCOLS; k++) {
        const char *f = rec->fields[im->col[k]];
        if (!cli_utf8_valid(f, strlen(f))) {
            snprintf(buf, size,
                     "%s: not valid UTF-8 (save the file as CSV UTF-8)",
                     columns[k]);
            return buf;
        }
    }
    char *no = trim(rec->fields[im->col[COL_NO]]);
    char *name = trim(rec->fields[im->col[COL_NAME]]);
    char *email = trim(rec->fields[im->col[COL_EMAIL]]);
    char *phone = trim(rec->fields[im->col[COL_PHONE]]);
    const char *lang = trim(rec->fields[im->col[COL_LANG]]);

    if (!*no)
        return "member_no: required";
    if (!member_no_ok(no)) {
        snprintf(buf, size,
                 "member_no: %s is not a member number (1 to 32 letters, "
                 "digits, '.', '/' or '-', starting with a letter or digit)",
                 shown(no, q, sizeof q));
        return buf;
    }
    json_t *first = json_object_get(im->seen, no);
    if (first) {
        snprintf(buf, size, "duplicate of line %lld",
                 (long long)json_integer_value(first));
        return buf;
    }
    json_object_set_new(im->seen, no, json_integer(rec->line));

    if (!squeeze_name(name))
        return "name: contains control characters";
    if (!*name)
        return "name: required";
    if (*email && !tw_email_valid(email)) {
        snprintf(buf, size, "email: %s is not a valid address",
                 shown(email, q, sizeof q));
        return buf;
    }
    if (*phone && !(row->phone_buf = tw_phone_normalize(phone))) {
        snprintf(buf, size,
                 "phone: %s is not a phone number (5 to 20 digits, optional "
                 "leading +)",
                 shown(phone, q, sizeof q));
        return buf;
    }
    if (!*lang)
        lang = "ar";
    if (strlen(lang) == 2) {
        row->lang_buf[0] = (char)tolower((unsigned char)lang[0]);
        row->lang_buf[1] = (char)tolower((unsigned char)lang[1]);
        row->lang_buf[2] = '\0';
    }
    if (!tw_name_in(tw_langs, row->lang_buf)) {
        snprintf(buf, size, "lang: %s must be ar or en",
                 shown(lang, q, sizeof q));
        return buf;
    }
    row->no = no;
    row->name = name;
    row->email = *email ? email : NULL;
    row->phone = row->phone_buf;
    row->lang = row->lang_buf;
    return NULL;
}

/* upsert - write ROW; counts it; TW_OK or the failure */
static int upsert(struct import *im, const struct member_row *row)
{
    const char *params[] = {row->no, row->name, row->email, row->phone,
                            row->lang};
    int st;
    PGresult *r = tw_db_query(im->db, &st, upsert_sql, 5, params);
    if (!r)
        return st;
    if (PQntuples(r) == 0)
        im->unchanged++;
    else if (strcmp(PQgetvalue(r, 0, 0), "t") == 0)
        im->inserted++;
    else
        im->updated++;
    PQclear(r);
    return TW_OK;
}

/* import_rows - every record after the header; 0 or the exit status
 * (printed) */
static int import_rows(struct cli *c, struct import *im)
{
    struct cli_csv_record rec;
    char reason[512];
    int n;
    while ((n = cli_csv_next(im->csv, &rec)) > 0) {
        struct member_row row;
        memset(&row, 0, sizeof row);
        const char *why = check_row(im, &rec, &row, reason, sizeof reason);
        if (why) {
            fprintf(stderr, "%s:%ld: rejected: %s\n", im->file, rec.line, why);
            im->rejected++;
            free(row.phone_buf);
            continue;
        }
        cli_log_mute(c);
        int st = upsert(im, &row);
        cli_log_unmute(c);
        free(row.phone_buf);
        if (st == TW_TEMPFAIL)
            return cli_fail(EX_TEMPFAIL,
                            "%s:%ld: lost the database: %s; nothing was "
                            "saved (try again)",
                            im->file, rec.line, cli_db_reason(im->db));
        if (st != TW_OK)
            return cli_fail(EX_DATAERR,
                            "%s:%ld: the database refused the row: %s; "
                            "nothing was saved",
                            im->file, rec.line, cli_db_reason(im->db));
    }
    if (n < 0)
        return cli_fail(EX_IOERR, "%s: cannot read: %s; nothing was saved",
                        im->file, strerror(errno));
    return 0;
}

/* cli_members_import - load the register from a CSV file */
int cli_members_import(struct cli *c, const struct cli_verb *v, int argc,
                       char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct import im;
    memset(&im, 0, sizeof im);
    int dry_run = 0, opt, rc = 0;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        if (opt == 'h')
            return cli_help(v);
        if (opt != 'n')
            return rc;
        dry_run = 1;
    }
    if (optind >= argc)
        return cli_usage_error(v, "which file?");
    if (argc - optind > 1)
        return cli_usage_error(v, "one file at a time (\"%s\" is extra)",
                               argv[optind + 1]);
    im.file = argv[optind];
    if ((rc = cli_ready(c)) != 0)
        return rc;

    im.fp = fopen(im.file, "rb");
    if (!im.fp)
        return cli_fail(EX_NOINPUT, "%s: %s", im.file, strerror(errno));
    im.csv = cli_csv_new(im.fp, FIELD_MAX, RECORD_MAX);
    im.seen = json_object();

    struct cli_csv_record header;
    int n = cli_csv_next(im.csv, &header);
    if (n < 0) {
        rc =
            cli_fail(EX_IOERR, "%s: cannot read: %s", im.file, strerror(errno));
        goto out;
    }
    if (n == 0) {
        rc = cli_fail(EX_DATAERR,
                      "%s: the file is empty: expected a header row "
                      "" COLUMNS_TEXT " and one row per member",
                      im.file);
        goto out;
    }
    if ((rc = map_header(&im, &header)) != 0)
        goto out;

    if ((rc = cli_db_open(c, IMPORT_WAIT, &im.db)) != 0)
        goto out;
    cli_log_mute(c);
    int st = tw_db_begin(im.db);
    cli_log_unmute(c);
    if (st != TW_OK) {
        rc = cli_db_failed(im.db, st, "starting the import");
        goto out;
    }
    if ((rc = import_rows(c, &im)) != 0)
        goto out;
    cli_log_mute(c);
    if (dry_run) {
        tw_db_rollback(im.db);
        st = TW_OK;
    } else {
        st = tw_db_commit(im.db);
    }
    cli_log_unmute(c);
    if (st != TW_OK) {
        rc = cli_db_failed(im.db, st, "saving the import");
        goto out;
    }
    printf("%s: %ld inserted, %ld updated, %ld unchanged, %ld rejected%s\n",
           im.file, im.inserted, im.updated, im.unchanged, im.rejected,
           dry_run ? " (dry run: nothing saved)" : "");
    rc = im.rejected ? EX_DATAERR : 0;
out:
    if (im.db) {
        tw_db_rollback(im.db); /* harmless after a commit */
        tw_db_destroy(&im.db);
    }
    json_decref(im.seen);
    cli_csv_destroy(&im.csv);
    if (im.fp)
        fclose(im.fp);
    return rc;
}

/* cli_members_list - the register, by member number */
int cli_members_list(struct cli *c, const struct cli_verb *v, int argc,
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
    PGresult *r = NULL;
    json_t *list = NULL;
    if ((rc = cli_db_open(c, READ_WAIT, &db)) != 0)
        return rc;
    int st;
    cli_log_mute(c);
    r = tw_db_query(db, &st,
                    "SELECT member_no, name, email, phone, lang"
                    " FROM tawasul.members WHERE active ORDER BY member_no",
                    0, NULL);
    cli_log_unmute(c);
    if (!r) {
        rc = cli_db_failed(db, st, "reading the register");
        goto out;
    }
    int rows = PQntuples(r);
    if (as_json) {
        list = json_array();
        for (int i = 0; i < rows; i++) {
            json_t *m = json_object();
            static const char *const keys[] = {"member_no", "name", "email",
                                               "phone", "lang"};
            for (int k = 0; k < 5; k++)
                json_object_set_new(m, keys[k],
                                    PQgetisnull(r, i, k)
                                        ? json_null()
                                        : json_string(PQgetvalue(r, i, k)));
            json_array_append_new(list, m);
        }
        rc = cli_print_json(list);
        goto out;
    }
    /* Column widths from the data, within reason. */
    static const char *const heads[] = {"MEMBER", "NAME", "EMAIL", "PHONE",
                                        "LANG"};
    static const size_t caps[] = {32, 40, 40, 21, 4};
    size_t width[5];
    for (int k = 0; k < 5; k++) {
        width[k] = strlen(heads[k]);
        for (int i = 0; i < rows; i++) {
            size_t w = cli_utf8_chars(PQgetvalue(r, i, k));
            if (w > width[k])
                width[k] = w > caps[k] ? caps[k] : w;
        }
    }
    for (int k = 0; k < 5; k++) {
        cli_print_cell(stdout, heads[k], k < 4 ? width[k] : 0);
        fputs(k < 4 ? "  " : "\n", stdout);
    }
    for (int i = 0; i < rows; i++)
        for (int k = 0; k < 5; k++) {
            cli_print_cell(stdout, PQgetvalue(r, i, k), k < 4 ? width[k] : 0);
            fputs(k < 4 ? "  " : "\n", stdout);
        }
out:
    json_decref(list);
    PQclear(r);
    tw_db_destroy(&db);
    return rc;
}
