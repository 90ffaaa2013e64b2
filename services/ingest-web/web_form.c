/*
 * web_form.c - the request form's rules, in one place for the page and the
 * JSON API.
 *
 * Each field is checked at the edge and gets a message of its own, so the
 * member sees what to fix next to the field with everything they typed
 * kept. The checks mirror the engine's (common/command.c) with the portal's
 * own, tighter limits; the engine checks again. A member number that is not
 * in the register is accepted: the case is flagged unverified and staff
 * check it (the policy's mechanism, step 2).
 */
#include "web.h"

#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "mem.h"

void web_form_clear(struct web_form *f)
{
    for (int i = 0; i < F__COUNT; i++)
        free(f->v[i]);
    for (size_t i = 0; i < f->nfiles; i++) {
        free(f->files[i].name);
        free(f->files[i].type);
        tw_buf_free(&f->files[i].data);
    }
    free(f->csrf);
    free(f->lang);
    free(f->rating);
    free(f->comment);
    free(f->ref);
    free(f->token);
    memset(f, 0, sizeof *f);
}

const struct web_category *web_category_find(const struct web *w,
                                             const char *name)
{
    for (size_t i = 0; name && i < w->ncats; i++)
        if (strcmp(w->cats[i].name, name) == 0)
            return &w->cats[i];
    return NULL;
}

/* utf8_ok - whether S is valid UTF-8 without control characters (other
 * than newline and tab when MULTILINE) */
static int utf8_ok(const char *s, int multiline)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int n;
        if (c < 0x80) {
            if ((c < 0x20 &&
                 !(multiline && (c == '\n' || c == '\t' || c == '\r'))) ||
                c == 0x7f)
                return 0;
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0 && c >= 0xc2) {
            n = 1;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
        } else if ((c & 0xf8) == 0xf0 && c <= 0xf4) {
            n = 3;
        } else {
            return 0;
        }
        unsigned cp = c & (0x3f >> n);
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        p += n + 1;
    }
    return 1;
}

/* blank - whether S is NULL or only spaces */
static int blank(const char *s)
{
    if (!s)
        return 1;
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return 0;
    return 1;
}

/* trim - strip leading and trailing white space in place */
static void trim(char *s)
{
    if (!s)
        return;
    size_t n = strlen(s), a = 0;
    while (a < n && strchr(" \t\r\n", s[a]))
        a++;
    while (n > a && strchr(" \t\r\n", s[n - 1]))
        n--;
    memmove(s, s + a, n - a);
    s[n - a] = '\0';
}

/* member_no_ok - the register's shape for a member number */
static int member_no_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                    (c >= 'A' && c <= 'Z');
        if (!alnum && (i == 0 || !strchr("./-", c)))
            return 0;
    }
    return 1;
}

/* magic_ok - whether the bytes look like TYPE, for the types we know */
static int magic_ok(const char *type, const struct tw_buf *b)
{
    const unsigned char *d = (const unsigned char *)b->data;
    size_t n = b->len;
    if (strcmp(type, "application/pdf") == 0)
        return n >= 5 && memcmp(d, "%PDF-", 5) == 0;
    if (strcmp(type, "image/png") == 0)
        return n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0;
    if (strcmp(type, "image/jpeg") == 0)
        return n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff;
    return 1;
}

int web_form_check(const struct web *w, struct web_form *f)
{
    const struct web_config *cfg = w->cfg;
    int bad = 0;
    for (int i = 0; i < F__COUNT; i++) {
        f->err[i] = NULL;
        if (i != F_BODY)
            trim(f->v[i]);
    }
#define BAD(field, key)                                                        \
    do {                                                                       \
        f->err[field] = key;                                                   \
        bad++;                                                                 \
    } while (0)
    for (int i = 0; i < F__COUNT; i++) {
        if (f->v[i] && !utf8_ok(f->v[i], i == F_BODY))
            BAD(i, "err_text");
    }
    if (!f->err[F_MEMBER] && !blank(f->v[F_MEMBER]) &&
        !member_no_ok(f->v[F_MEMBER]))
        BAD(F_MEMBER, "err_member");
    if (!f->err[F_NAME]) {
        if (blank(f->v[F_NAME]))
            BAD(F_NAME, "err_name_missing");
        else if (strlen(f->v[F_NAME]) > 120)
            BAD(F_NAME, "err_name_long");
    }
    if (!f->err[F_EMAIL]) {
        if (blank(f->v[F_EMAIL]))
            BAD(F_EMAIL, "err_email_missing");
        else if (!tw_email_valid(f->v[F_EMAIL]))
            BAD(F_EMAIL, "err_email");
    }
    if (!f->err[F_PHONE] && !blank(f->v[F_PHONE])) {
        char *p = tw_phone_normalize(f->v[F_PHONE]);
        if (!p || strlen(p) > 21)
            BAD(F_PHONE, "err_phone");
        free(p);
    }
    if (blank(f->v[F_KIND]) || !tw_name_in(tw_kinds, f->v[F_KIND]))
        BAD(F_KIND, "err_kind");
    const struct web_category *cat = web_category_find(w, f->v[F_CATEGORY]);
    if (w->ncats > 0 && !cat)
        BAD(F_CATEGORY, "err_category");
    if (!f->err[F_SUBJECT]) {
        if (blank(f->v[F_SUBJECT]))
            BAD(F_SUBJECT, "err_subject_missing");
        else if (strlen(f->v[F_SUBJECT]) > (size_t)cfg->max_subject)
            BAD(F_SUBJECT, "err_subject_long");
    }
    if (!f->err[F_BODY]) {
        if (blank(f->v[F_BODY]))
            BAD(F_BODY, "err_body_missing");
        else if (strlen(f->v[F_BODY]) > (size_t)cfg->max_body)
            BAD(F_BODY, "err_body_long");
    }
    int need_attest = cat && cat->attest && f->v[F_KIND] &&
                      strcmp(f->v[F_KIND], "request") == 0;
    if (need_attest && (!f->v[F_ATTEST] || strcmp(f->v[F_ATTEST], "yes") != 0))
        BAD(F_ATTEST, "err_attest");
    if (f->too_many_files || f->nfiles > (size_t)cfg->max_attachments) {
        BAD(F_FILES, "err_files_many");
    } else {
        for (size_t i = 0; i < f->nfiles; i++) {
            struct web_file *fl = &f->files[i];
            if (fl->data.len > (size_t)cfg->max_attachment) {
                BAD(F_FILES, "err_file_large");
                break;
            }
            if (!tw_strlist_contains(&cfg->attachment_types, fl->type) ||
                !magic_ok(fl->type, &fl->data)) {
                BAD(F_FILES, "err_file_type");
                break;
            }
            if (!utf8_ok(fl->name, 0) || strlen(fl->name) > 200) {
                BAD(F_FILES, "err_file_name");
                break;
            }
        }
    }
#undef BAD
    return bad;
}

json_t *web_form_command(const struct web *w, const struct web_form *f,
                         const char *key, tw_time now)
{
    char rec[TW_TIME_ISO_MAX];
    json_t *member = json_object();
    if (!blank(f->v[F_MEMBER]))
        json_object_set_new(member, "number", json_string(f->v[F_MEMBER]));
    json_object_set_new(member, "name", json_string(f->v[F_NAME]));
    json_object_set_new(member, "email", json_string(f->v[F_EMAIL]));
    if (!blank(f->v[F_PHONE]))
        json_object_set_new(member, "phone", json_string(f->v[F_PHONE]));
    json_object_set_new(
        member, "lang",
        json_string(f->lang && strcmp(f->lang, "en") == 0 ? "en" : "ar"));
    const struct web_category *cat = web_category_find(w, f->v[F_CATEGORY]);
    json_t *cmd =
        json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "v", 1, "op",
                  "intake", "key", key, "channel", "web", "kind", f->v[F_KIND],
                  "subject", f->v[F_SUBJECT], "body", f->v[F_BODY],
                  "received_at", tw_time_iso(now, 1, rec), "member", member);
    /* The checkbox is the applicant's attestation (the committee gate). */
    if (f->v[F_ATTEST] && strcmp(f->v[F_ATTEST], "yes") == 0 && cat &&
        cat->attest)
        json_object_set_new(cmd, "attestation", json_string("web_checkbox"));
    if (cat)
        json_object_set_new(cmd, "category", json_string(cat->name));
    if (f->nfiles > 0) {
        json_t *att = json_array();
        for (size_t i = 0; i < f->nfiles; i++)
            json_array_append_new(att, json_pack("{s:s, s:s}", "name",
                                                 f->files[i].name, "type",
                                                 f->files[i].type));
        json_object_set_new(cmd, "attachments", att);
    }
    return cmd;
}
