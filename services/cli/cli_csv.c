/*
 * cli_csv.c - an RFC 4180 CSV record reader for files people export from
 * spreadsheets.
 *
 * DESIGN
 * ------
 * A small state machine reads the file byte by byte through its own
 * buffer, so a file of any size streams in constant memory. Fields are
 * separated by ',' and records by LF or CRLF; a field that starts with '"'
 * is quoted and may hold commas, line breaks and doubled quotes ("").
 * What spreadsheets get wrong is taken leniently where the meaning is
 * clear (a '"' inside an unquoted field is an ordinary character, a lone
 * CR is data) and reported where it is not (text after a closing quote, a
 * quote never closed, a NUL byte).
 *
 * A malformed or oversized record does not stop the reader: it remembers
 * the first problem, keeps consuming until the record's end (storing
 * nothing more), and hands the record back with `error` set, so the caller
 * can reject that one row by its line number and go on. Every record
 * carries the physical line it starts on, counted across quoted line
 * breaks. Blank lines are skipped; a UTF-8 byte order mark at the very
 * start is dropped.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mem.h"

#define CSV_CHUNK 65536

enum csv_state {
    FIELD_START, /* at the start of a field */
    UNQUOTED,    /* inside a field that did not start with '"' */
    QUOTED,      /* inside a quoted field */
    QUOTE_SEEN,  /* a '"' inside a quoted field: closing or doubled? */
};

struct cli_csv {
    FILE *fp;
    size_t max_field, max_record;
    unsigned char *in; /* read buffer */
    size_t in_pos, in_len;
    int eof; /* 1 at the end of the file, 2 after a read error */
    int bom_checked;
    long line; /* physical line of the next byte */

    struct tw_buf rec; /* the record's fields, each NUL-terminated */
    size_t *starts;    /* offset of each field in rec */
    size_t nstarts, size_starts;
    char **fields;    /* pointers handed out, rebuilt per record */
    size_t field_len; /* bytes of the current field so far */
    char error[96];
};

/* cli_csv_new - a reader of FP with caps on field and record bytes */
struct cli_csv *cli_csv_new(FILE *fp, size_t max_field, size_t max_record)
{
    struct cli_csv *r = tw_calloc(1, sizeof *r);
    r->fp = fp;
    r->max_field = max_field;
    r->max_record = max_record;
    r->in = tw_malloc(CSV_CHUNK);
    r->line = 1;
    tw_buf_init(&r->rec, 0); /* capped by hand: see add_byte */
    return r;
}

/* cli_csv_destroy - NULL-safe; nulls *RP */
void cli_csv_destroy(struct cli_csv **rp)
{
    if (!rp || !*rp)
        return;
    struct cli_csv *r = *rp;
    tw_buf_free(&r->rec);
    free(r->in);
    free(r->starts);
    free(r->fields);
    free(r);
    *rp = NULL;
}

/* next_byte - the next byte, -1 at the end, -2 on a read error */
static int next_byte(struct cli_csv *r)
{
    if (r->in_pos == r->in_len) {
        if (r->eof)
            return r->eof == 2 ? -2 : -1;
        r->in_len = fread(r->in, 1, CSV_CHUNK, r->fp);
        r->in_pos = 0;
        if (r->in_len == 0) {
            r->eof = ferror(r->fp) ? 2 : 1;
            return r->eof == 2 ? -2 : -1;
        }
        if (!r->bom_checked) {
            r->bom_checked = 1;
            if (r->in_len >= 3 && memcmp(r->in, "\xef\xbb\xbf", 3) == 0)
                r->in_pos = 3;
            if (r->in_pos == r->in_len)
                return next_byte(r);
        }
    }
    return r->in[r->in_pos++];
}

/* peek_byte - the next byte without taking it (-1 at the end or error) */
static int peek_byte(struct cli_csv *r)
{
    int c = next_byte(r);
    if (c >= 0)
        r->in_pos--;
    return c;
}

/* set_error - remember the record's first problem */
__attribute__((format(printf, 2, 3))) static void
set_error(struct cli_csv *r, const char *fmt, ...)
{
    if (r->error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
}

/* add_byte - append C to the current field, within the caps */
static void add_byte(struct cli_csv *r, int c)
{
    if (r->error[0])
        return; /* a broken record is consumed, not stored */
    if (c == 0) {
        set_error(r, "field %zu holds a NUL byte (is this a text file?)",
                  r->nstarts);
        return;
    }
    if (r->field_len >= r->max_field) {
        set_error(r, "field %zu is longer than %zu bytes", r->nstarts,
                  r->max_field);
        return;
    }
    if (r->rec.len >= r->max_record) {
        set_error(r, "the row is longer than %zu bytes", r->max_record);
        return;
    }
    char ch = (char)c;
    if (tw_buf_add(&r->rec, &ch, 1) != 0)
        set_error(r, "the row is too long");
    r->field_len++;
}

/* start_field - begin a new field in the record */
static void start_field(struct cli_csv *r)
{
    if (r->nstarts == r->size_starts) {
        r->size_starts = r->size_starts ? 2 * r->size_starts : 16;
        r->starts = tw_realloc(r->starts, r->size_starts * sizeof *r->starts);
    }
    r->starts[r->nstarts++] = r->rec.len;
    r->field_len = 0;
}

/* end_field - terminate the current field */
static void end_field(struct cli_csv *r)
{
    if (tw_buf_add(&r->rec, "", 1) != 0)
        set_error(r, "the row is too long");
}

/* at_newline - whether C (already taken) ends a line: LF, or CR before LF
 * (the LF is taken too); counts the line */
static int at_newline(struct cli_csv *r, int c)
{
    if (c == '\r' && peek_byte(r) == '\n')
        c = next_byte(r);
    if (c != '\n')
        return 0;
    r->line++;
    return 1;
}

/* finish - hand the record out */
static void finish(struct cli_csv *r, struct cli_csv_record *rec, long line)
{
    r->fields = tw_realloc(r->fields, (r->nstarts + 1) * sizeof *r->fields);
    for (size_t i = 0; i < r->nstarts; i++)
        r->fields[i] = r->rec.data + r->starts[i];
    r->fields[r->nstarts] = NULL;
    rec->line = line;
    rec->n = r->nstarts;
    rec->fields = r->fields;
    rec->error = r->error[0] ? r->error : NULL;
}

/* cli_csv_next - the next non-blank record; 1, 0 at the end, -1 error */
int cli_csv_next(struct cli_csv *r, struct cli_csv_record *rec)
{
    enum csv_state st;
    long line;
    int any;
restart:
    tw_buf_reset(&r->rec);
    r->nstarts = 0;
    r->error[0] = '\0';
    st = FIELD_START;
    line = r->line;
    any = 0; /* anything seen of this record yet */
    start_field(r);
    for (;;) {
        int c = next_byte(r);
        if (c == -2)
            return -1;
        if (c == -1) {
            if (!any)
                return 0;
            if (st == QUOTED)
                set_error(r, "a quoted field is never closed (a '\"' is "
                             "missing)");
            end_field(r);
            finish(r, rec, line);
            return 1;
        }
        switch (st) {
        case FIELD_START:
            if (c == '"') {
                st = QUOTED;
            } else if (c == ',') {
                end_field(r);
                start_field(r);
            } else if ((c == '\n' || c == '\r') && at_newline(r, c)) {
                if (!any && r->nstarts == 1)
                    goto restart; /* a blank line */
                end_field(r);
                finish(r, rec, line);
                return 1;
            } else {
                add_byte(r, c);
                st = UNQUOTED;
            }
            break;
        case UNQUOTED:
            if (c == ',') {
                end_field(r);
                start_field(r);
                st = FIELD_START;
            } else if ((c == '\n' || c == '\r') && at_newline(r, c)) {
                end_field(r);
                finish(r, rec, line);
                return 1;
            } else {
                add_byte(r, c);
            }
            break;
        case QUOTED:
            if (c == '"') {
                st = QUOTE_SEEN;
            } else {
                if (c == '\n')
                    r->line++;
                add_byte(r, c);
            }
            break;
        case QUOTE_SEEN:
            if (c == '"') {
                add_byte(r, c);
                st = QUOTED;
            } else if (c == ',') {
                end_field(r);
                start_field(r);
                st = FIELD_START;
            } else if ((c == '\n' || c == '\r') && at_newline(r, c)) {
                end_field(r);
                finish(r, rec, line);
                return 1;
            } else {
                set_error(r,
                          "field %zu has text after its closing quote (write "
                          "a quote inside quotes as \"\")",
                          r->nstarts);
                add_byte(r, c);
                st = UNQUOTED;
            }
            break;
        }
        any = 1;
    }
}
