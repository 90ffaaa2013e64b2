/*
 * mail_parse.c - GMime does the MIME; this file decides what a case takes.
 *
 * DESIGN
 * ------
 * GMime parses the message with fallback charsets for raw 8-bit headers
 * (utf-8, then windows-1256: the Latin-1 default would turn Arabic into
 * mojibake). The tree is walked once: a multipart/alternative contributes
 * its best text child (plain over HTML), text parts that are not
 * attachments make the body, everything else (and text marked as an
 * attachment) is an attachment with its decoded RFC 2231 name, and a
 * multipart/report of delivery-status is read as a bounce.
 *
 * Text is never trusted to be what it says (NOTES "GMime 3.2"): the part's
 * bytes are taken with only the transfer encoding undone, then converted
 * here - from the declared charset when iconv knows it and the result is
 * valid, else as UTF-8 when they already are, else through the fallback
 * charsets, and ISO-8859-1 last (it always converts). So an unknown charset
 * or a part mislabelled us-ascii holding Arabic still gives readable text.
 *
 * A message without a Message-ID gets one made from the sender, the Date,
 * the subject and the text, so a second delivery of the same mail gets the
 * same id - and the same intake key - while two different mails do not.
 */
#include "mail_parse.h"

#include <gmime/gmime.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "mem.h"

#define ID_MAX     998 /* one header line */
#define NAME_MAX_B 255
#define TYPE_MAX_B 127

static const char *const default_fallbacks[] = {"utf-8", "windows-1256", NULL};

/* The walk's state. */
struct walk {
    const struct mail_limits *lim;
    struct mail_parsed *out;
    struct tw_buf plain, html;
    size_t att_cap;
    int failed;
    char *reason;
    size_t reason_size;
};

static GIConv conv_get(const char *name);

/* mail_init - g_mime_init once */
void mail_init(void)
{
    static int done;
    if (!done) {
        g_mime_init();
        done = 1;
        /* Keep the converters Arabic mail needs loaded. */
        conv_get("CP1256");
        conv_get("ISO-8859-6");
        conv_get("ISO-8859-1");
    }
}

/* set_reason - record why the message cannot be taken (first reason wins) */
__attribute__((format(printf, 2, 3))) static void
set_reason(struct walk *w, const char *fmt, ...)
{
    if (w->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->reason, w->reason_size, fmt, ap);
    va_end(ap);
    w->failed = 1;
}

/* clean_text - S as body text: CRLF and CR as LF, NUL and other controls
 * (but tab and LF) dropped; in place */
static void clean_text(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\r') {
            *o++ = '\n';
            if (p[1] == '\n')
                p++;
        } else if (c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f)) {
            *o++ = (char)c;
        }
    }
    *o = '\0';
}

/* one_line - S (valid UTF-8) as a header value: controls and runs of
 * white space as one space, trimmed, cut to MAX bytes on a character
 * boundary; new string */
static char *one_line(const char *s, size_t max)
{
    size_t n = strlen(s);
    char *r = tw_malloc(n + 1);
    size_t o = 0;
    int space = 1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == ' ') {
            if (!space)
                r[o++] = ' ';
            space = 1;
            continue;
        }
        r[o++] = (char)*p;
        space = 0;
    }
    while (o > 0 && r[o - 1] == ' ')
        o--;
    if (max && o > max) {
        o = max;
        while (o > 0 && ((unsigned char)r[o] & 0xc0) == 0x80)
            o--;
    }
    r[o] = '\0';
    return r;
}

/* Converters to UTF-8, opened once per charset and kept for the process.
 * Opening one per call made glibc load and unload its gconv module every
 * time (dlopen, mmap, munmap), which cost more than the parse itself; a
 * converter kept open also keeps the module loaded for GMime's own header
 * decoding. The parser is used from one thread; this cache is not locked. */
#define CONV_MAX 32
static struct {
    char name[48];
    GIConv cd;
} convs[CONV_MAX];
static size_t nconvs;

/* glib's failed converter; the one place its integer-to-pointer cast is */
#define NO_CONV ((GIConv)-1) /* NOLINT(performance-no-int-to-ptr) */

/* conv_get - the converter from NAME to UTF-8, NO_CONV if unknown */
static GIConv conv_get(const char *name)
{
    for (size_t i = 0; i < nconvs; i++)
        if (!g_ascii_strcasecmp(convs[i].name, name))
            return convs[i].cd;
    GIConv cd = g_iconv_open("UTF-8", name);
    if (nconvs < CONV_MAX && strlen(name) < sizeof convs[0].name) {
        snprintf(convs[nconvs].name, sizeof convs[0].name, "%s", name);
        convs[nconvs++].cd = cd; /* unknown ones too: not looked up again */
    } else if (cd != NO_CONV) {
        g_iconv_close(cd); /* a full cache: give up on it (rare) */
        return NO_CONV;
    }
    return cd;
}

/* try_convert - LEN bytes of IN from CHARSET to UTF-8; NULL if iconv does
 * not know the charset or the bytes are not valid in it */
static char *try_convert(const char *in, size_t len, const char *charset)
{
    GIConv cd = conv_get(g_mime_charset_iconv_name(charset));
    if (cd == NO_CONV)
        return NULL;
    g_iconv(cd, NULL, NULL, NULL, NULL); /* reset the shift state */
    size_t size = 4 * len + 16, il = len, ol = size - 1;
    char *out = tw_malloc(size), *ip = (char *)in, *op = out;
    while (il > 0)
        if (g_iconv(cd, &ip, &il, &op, &ol) == (size_t)-1) {
            free(out);
            return NULL; /* invalid in this charset (or no room: odd) */
        }
    g_iconv(cd, NULL, NULL, &op, &ol);
    *op = '\0';
    size_t n = (size_t)(op - out);
    if (!g_utf8_validate(out, (gssize)n, NULL) || strlen(out) != n) {
        free(out);
        return NULL;
    }
    return out;
}

/* is_ascii_charset - us-ascii and its aliases (or none given) */
static int is_ascii_charset(const char *cs)
{
    return !cs || !g_ascii_strcasecmp(cs, "us-ascii") ||
           !g_ascii_strcasecmp(cs, "ascii") ||
           !g_ascii_strcasecmp(cs, "ansi_x3.4-1968");
}

/* to_utf8 - LEN bytes of IN, declared CHARSET (may be NULL), as UTF-8 */
static char *to_utf8(const char *in, size_t len, const char *charset,
                     const char *const *fallbacks)
{
    char *r;
    int valid = g_utf8_validate(in, (gssize)len, NULL) && !memchr(in, 0, len);
    if (valid && (!charset || is_ascii_charset(charset) ||
                  !g_ascii_strcasecmp(charset, "utf-8") ||
                  !g_ascii_strcasecmp(charset, "utf8")))
        return tw_strndup(in, len);
    if (charset && !is_ascii_charset(charset) &&
        (r = try_convert(in, len, charset)) != NULL)
        return r;
    if (valid)
        return tw_strndup(in, len);
    for (const char *const *f = fallbacks; *f; f++)
        if ((r = try_convert(in, len, *f)) != NULL)
            return r;
    r = try_convert(in, len, "iso-8859-1");
    return r ? r : tw_strdup("");
}

/* part_bytes - PART's content with the transfer encoding undone; *LEN
 * gets its size; NULL when over CAP bytes (0: no cap). Caller frees. */
static unsigned char *part_bytes(GMimePart *part, size_t cap, size_t *len)
{
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    *len = 0;
    if (!w)
        return (unsigned char *)tw_strdup("");
    GMimeStream *mem = g_mime_stream_mem_new();
    g_mime_data_wrapper_write_to_stream(w, mem);
    GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    unsigned char *r = NULL;
    if (!cap || ba->len <= cap) {
        r = tw_malloc(ba->len + 1);
        memcpy(r, ba->data, ba->len);
        r[ba->len] = 0;
        *len = ba->len;
    } else {
        *len = ba->len;
    }
    g_object_unref(mem);
    return r;
}

/* part_text - a text part's content as clean UTF-8 (caller frees) */
static char *part_text(struct walk *w, GMimeObject *obj)
{
    size_t len;
    unsigned char *raw = part_bytes(GMIME_PART(obj), 0, &len);
    const char *cs = g_mime_object_get_content_type_parameter(obj, "charset");
    const char *const *fb = w->lim->fallback_charsets
                                ? w->lim->fallback_charsets
                                : default_fallbacks;
    char *t = to_utf8((const char *)raw, len, cs, fb);
    free(raw);
    clean_text(t);
    return t;
}

/* safe_name - NAME as a plain file name: no '/', '\\' or controls, at most
 * NAME_MAX_B bytes, never empty (new string) */
static char *safe_name(const char *name, size_t index, const char *type)
{
    char *r;
    if (name && *name && g_utf8_validate(name, -1, NULL)) {
        r = one_line(name, NAME_MAX_B);
        for (char *p = r; *p; p++)
            if (*p == '/' || *p == '\\')
                *p = '_';
        if (*r && strcmp(r, ".") != 0 && strcmp(r, "..") != 0)
            return r;
        free(r);
    }
    const char *ext = "";
    if (type && strcmp(type, "message/rfc822") == 0)
        ext = ".eml";
    else if (type && strncmp(type, "text/", 5) == 0)
        ext = ".txt";
    return tw_asprintf("attachment-%zu%s", index + 1, ext);
}

/* add_attachment - take DATA (owned) as an attachment */
static void add_attachment(struct walk *w, const char *name, const char *type,
                           unsigned char *data, size_t size)
{
    struct mail_parsed *m = w->out;
    if (m->natt >= w->lim->max_attachments) {
        set_reason(w, "more than %zu attachments", w->lim->max_attachments);
        free(data);
        return;
    }
    if (m->natt == w->att_cap) {
        w->att_cap = w->att_cap ? 2 * w->att_cap : 4;
        m->att = tw_realloc(m->att, w->att_cap * sizeof *m->att);
    }
    struct mail_attachment *a = &m->att[m->natt];
    memset(a, 0, sizeof *a);
    a->name = safe_name(name, m->natt, type);
    a->type = tw_strdup(
        type && strlen(type) <= TYPE_MAX_B ? type : "application/octet-stream");
    a->data = data;
    a->size = size;
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, size);
    sodium_bin2hex(a->sha256, sizeof a->sha256, h, sizeof h);
    m->natt++;
}

/* mime_type - "type/subtype" of OBJ, lower case (caller g_free()s) */
static char *mime_type(GMimeObject *obj)
{
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    char *t = g_mime_content_type_get_mime_type(ct);
    for (char *p = t; *p; p++)
        *p = g_ascii_tolower(*p);
    return t;
}

/* take_part - a leaf: body text or attachment */
static void take_part(struct walk *w, GMimeObject *obj)
{
    GMimePart *part = GMIME_PART(obj);
    char *type = mime_type(obj);
    const char *fname = g_mime_part_get_filename(part);
    GMimeContentDisposition *cd = g_mime_object_get_content_disposition(obj);
    int attachment = cd && g_mime_content_disposition_is_attachment(cd);
    int text =
        strcmp(type, "text/plain") == 0 || strcmp(type, "text/html") == 0;
    if (text && !attachment && !(fname && cd)) {
        char *t = part_text(w, obj);
        struct tw_buf *b =
            strcmp(type, "text/plain") == 0 ? &w->plain : &w->html;
        if ((b->len && tw_buf_add(b, "\n", 1)) || tw_buf_add(b, t, strlen(t)))
            set_reason(w, "the text is over %zu bytes", w->lim->max_body);
        free(t);
    } else {
        size_t len;
        unsigned char *data = part_bytes(part, w->lim->max_attachment, &len);
        if (!data)
            set_reason(w,
                       "attachment \"%s\" is %zu bytes, over the %zu-byte "
                       "limit",
                       fname ? fname : type, len, w->lim->max_attachment);
        else
            add_attachment(w, fname, type, data, len);
    }
    g_free(type);
}

/* field_value - the value of FIELD in RFC 822-style TEXT ("Field: value"
 * lines), after an optional "type;" prefix when STRIP_TYPE; NULL if absent */
static char *field_value(const char *text, const char *field, int strip_type)
{
    size_t fl = strlen(field);
    for (const char *p = text; p && *p;
         p = strchr(p, '\n'), p = p ? p + 1 : p) {
        if (g_ascii_strncasecmp(p, field, fl) != 0 || p[fl] != ':')
            continue;
        const char *v = p + fl + 1;
        size_t n = strcspn(v, "\n");
        while (v[n] == '\n' && (v[n + 1] == ' ' || v[n + 1] == '\t'))
            n += 1 + strcspn(v + n + 1, "\n"); /* folded lines */
        char *raw = tw_strndup(v, n);
        char *r = raw;
        if (strip_type && strchr(r, ';'))
            r = strchr(r, ';') + 1;
        char *line = one_line(r, ID_MAX);
        free(raw);
        return line;
    }
    return NULL;
}

/* take_dsn_status - the message/delivery-status part of a bounce: the first
 * recipient block that failed (else the first one) */
static void take_dsn_status(struct walk *w, GMimeObject *obj)
{
    struct mail_parsed *m = w->out;
    size_t len;
    unsigned char *raw = part_bytes(GMIME_PART(obj), 1 << 20, &len);
    if (!raw)
        return;
    char *t = to_utf8((const char *)raw, len, NULL, default_fallbacks);
    free(raw);
    clean_text(t);
    /* Blocks are separated by blank lines; the first is per message. */
    char *block = t;
    while (block && *block) {
        char *end = strstr(block, "\n\n");
        if (end)
            *end = '\0';
        char *action = field_value(block, "Action", 0);
        char *rcpt = field_value(block, "Final-Recipient", 1);
        if (rcpt && (!m->dsn_recipient ||
                     (action && !g_ascii_strcasecmp(action, "failed") &&
                      (!m->dsn_action ||
                       g_ascii_strcasecmp(m->dsn_action, "failed"))))) {
            free(m->dsn_recipient);
            free(m->dsn_action);
            free(m->dsn_status);
            free(m->dsn_reason);
            m->dsn_recipient = rcpt;
            m->dsn_action = action;
            m->dsn_status = field_value(block, "Status", 0);
            m->dsn_reason = field_value(block, "Diagnostic-Code", 1);
            rcpt = action = NULL;
        }
        free(rcpt);
        free(action);
        block = end ? end + 2 : NULL;
        while (block && *block == '\n')
            block++;
    }
    free(t);
}

/* take_dsn_headers - the returned headers (text/rfc822-headers) of the mail
 * that bounced: its Message-ID */
static void take_dsn_headers(struct walk *w, GMimeObject *obj)
{
    size_t len;
    unsigned char *raw = part_bytes(GMIME_PART(obj), 1 << 20, &len);
    if (!raw)
        return;
    char *t = to_utf8((const char *)raw, len, NULL, default_fallbacks);
    free(raw);
    clean_text(t);
    char *id = field_value(t, "Message-ID", 0);
    free(t);
    if (id && !w->out->dsn_message_id) {
        char *s = id + strspn(id, " <");
        s[strcspn(s, "> ")] = '\0';
        if (*s)
            w->out->dsn_message_id = tw_strdup(s);
    }
    free(id);
}

static void walk_object(struct walk *w, GMimeObject *obj, int in_report);

/* take_alternative - the best child of a multipart/alternative: the last
 * plain text one, else the last HTML one, else the first */
static void take_alternative(struct walk *w, GMimeMultipart *mp, int in_report)
{
    int n = g_mime_multipart_get_count(mp), plain = -1, html = -1;
    for (int i = 0; i < n; i++) {
        char *t = mime_type(g_mime_multipart_get_part(mp, i));
        if (strcmp(t, "text/plain") == 0)
            plain = i;
        else if (strcmp(t, "text/html") == 0 ||
                 strncmp(t, "multipart/", 10) == 0)
            html = html < 0 || strcmp(t, "text/html") != 0 ? i : html;
        g_free(t);
    }
    int pick = plain >= 0 ? plain : html >= 0 ? html : 0;
    if (n > 0)
        walk_object(w, g_mime_multipart_get_part(mp, pick), in_report);
}

/* take_message_part - an attached message (message/rfc822): kept whole as
 * an .eml attachment; in a bounce, the original's Message-ID */
static void take_message_part(struct walk *w, GMimeObject *obj, int in_report)
{
    GMimeMessage *inner =
        g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
    if (!inner)
        return;
    if (in_report) {
        const char *id = g_mime_message_get_message_id(inner);
        if (id && *id && !w->out->dsn_message_id)
            w->out->dsn_message_id = one_line(id, ID_MAX);
        return;
    }
    GMimeStream *mem = g_mime_stream_mem_new();
    g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, mem);
    GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    if (ba->len > w->lim->max_attachment) {
        set_reason(w, "attached message is %u bytes, over the %zu-byte limit",
                   ba->len, w->lim->max_attachment);
    } else {
        unsigned char *data = tw_malloc(ba->len + 1);
        memcpy(data, ba->data, ba->len);
        const char *subj = g_mime_message_get_subject(inner);
        char *name = subj && *subj ? tw_asprintf("%s.eml", subj) : NULL;
        add_attachment(w, name, "message/rfc822", data, ba->len);
        free(name);
    }
    g_object_unref(mem);
}

/* walk_object - one node of the MIME tree */
static void walk_object(struct walk *w, GMimeObject *obj, int in_report)
{
    if (w->failed || !obj)
        return;
    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        char *t = mime_type(obj);
        if (strcmp(t, "multipart/alternative") == 0) {
            take_alternative(w, mp, in_report);
        } else {
            int report = 0;
            if (strcmp(t, "multipart/report") == 0) {
                const char *rt = g_mime_object_get_content_type_parameter(
                    obj, "report-type");
                report = rt && !g_ascii_strcasecmp(rt, "delivery-status");
                w->out->is_dsn |= report;
            }
            int n = g_mime_multipart_get_count(mp);
            for (int i = 0; i < n && !w->failed; i++)
                walk_object(w, g_mime_multipart_get_part(mp, i),
                            in_report || report);
        }
        g_free(t);
    } else if (GMIME_IS_MESSAGE_PART(obj)) {
        take_message_part(w, obj, in_report);
    } else if (GMIME_IS_PART(obj)) {
        char *t = mime_type(obj);
        if (in_report && (strcmp(t, "message/delivery-status") == 0 ||
                          strcmp(t, "message/global-delivery-status") == 0))
            take_dsn_status(w, obj);
        else if (in_report && strcmp(t, "text/rfc822-headers") == 0)
            take_dsn_headers(w, obj);
        else
            take_part(w, obj);
        g_free(t);
    }
}

/* mailbox - the first mailbox of LIST: address and display name */
static void mailbox(InternetAddressList *list, char **addr, char **name)
{
    if (!list)
        return;
    int n = internet_address_list_length(list);
    for (int i = 0; i < n; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
            continue;
        const char *a =
            internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
        const char *nm = internet_address_get_name(ia);
        if (!a || !*a || !g_utf8_validate(a, -1, NULL))
            continue;
        *addr = one_line(a, 254);
        if (nm && *nm && g_utf8_validate(nm, -1, NULL))
            *name = one_line(nm, 200);
        return;
    }
}

/* header - a header's decoded value as one line, NULL if absent */
static char *header(GMimeMessage *msg, const char *name)
{
    const char *v = g_mime_object_get_header(GMIME_OBJECT(msg), name);
    if (!v || !g_utf8_validate(v, -1, NULL))
        return NULL;
    return one_line(v, ID_MAX);
}

/* id_list - the ids of REFS space-separated, at most ID_MAX bytes: the
 * first (the thread's root) and as many of the last as fit */
static char *id_list(GMimeReferences *refs)
{
    int n = refs ? g_mime_references_length(refs) : 0;
    if (n == 0)
        return NULL;
    struct tw_buf b;
    tw_buf_init(&b, ID_MAX);
    const char *root = g_mime_references_get_message_id(refs, 0);
    int rc = tw_buf_add(&b, root, strlen(root));
    int first = n;
    size_t used = strlen(root);
    while (first > 1) {
        size_t l = strlen(g_mime_references_get_message_id(refs, first - 1));
        if (used + 1 + l > ID_MAX)
            break;
        used += 1 + l;
        first--;
    }
    for (int i = first; i < n && rc == TW_OK; i++) {
        const char *id = g_mime_references_get_message_id(refs, i);
        rc = tw_buf_addf(&b, " %s", id);
    }
    char *r = tw_buf_take(&b, NULL);
    char *line = one_line(r, ID_MAX);
    free(r);
    return line;
}

/* synth_id - a Message-ID for a message without one: sender, Date,
 * subject and text, hashed */
static char *synth_id(GMimeMessage *msg, const struct mail_parsed *m)
{
    crypto_hash_sha256_state st;
    unsigned char h[crypto_hash_sha256_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    const char *date = g_mime_object_get_header(GMIME_OBJECT(msg), "Date");
    const char *parts[] = {m->from_addr ? m->from_addr : "", date ? date : "",
                           m->subject, m->body ? m->body : ""};
    crypto_hash_sha256_init(&st);
    for (size_t i = 0; i < 4; i++)
        crypto_hash_sha256_update(&st, (const unsigned char *)parts[i],
                                  strlen(parts[i]) + 1);
    for (size_t i = 0; i < m->natt; i++)
        crypto_hash_sha256_update(&st, (const unsigned char *)m->att[i].sha256,
                                  64);
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    hex[40] = '\0';
    return tw_asprintf("synth.%s@tawasul.invalid", hex);
}

/* is_daemon_sender - MAILER-DAEMON, postmaster or an empty Return-Path */
static int is_daemon_sender(GMimeMessage *msg, const char *from)
{
    const char *rp = g_mime_object_get_header(GMIME_OBJECT(msg), "Return-Path");
    if (rp && strstr(rp, "<>"))
        return 1;
    if (!from)
        return 0;
    return !g_ascii_strncasecmp(from, "mailer-daemon@", 14) ||
           !g_ascii_strncasecmp(from, "postmaster@", 11);
}

/* mail_parse - see mail_parse.h */
int mail_parse(const char *data, size_t len, const struct mail_limits *lim,
               struct mail_parsed *out, char *reason, size_t reason_size)
{
    struct walk w = {
        .lim = lim, .out = out, .reason = reason, .reason_size = reason_size};
    const char *const *fb =
        lim->fallback_charsets ? lim->fallback_charsets : default_fallbacks;
    memset(out, 0, sizeof *out);
    reason[0] = '\0';
    mail_init();
    tw_buf_init(&w.plain, lim->max_body);
    tw_buf_init(&w.html, 4 * lim->max_body);

    GMimeParserOptions *po = g_mime_parser_options_new();
    g_mime_parser_options_set_fallback_charsets(po, (const char **)fb);
    GMimeStream *s = g_mime_stream_mem_new_with_buffer(data, len);
    GMimeParser *p = g_mime_parser_new_with_stream(s);
    GMimeMessage *msg = g_mime_parser_construct_message(p, po);
    g_object_unref(p);
    g_object_unref(s);
    if (!msg) {
        set_reason(&w, "not a mail message (no headers could be read)");
        goto out;
    }
    mailbox(g_mime_message_get_from(msg), &out->from_addr, &out->from_name);
    mailbox(g_mime_message_get_reply_to(msg), &out->reply_to_addr,
            &out->reply_to_name);
    if (!out->from_addr &&
        !g_mime_object_get_header(GMIME_OBJECT(msg), "Subject") &&
        !g_mime_object_get_header(GMIME_OBJECT(msg), "Message-ID")) {
        set_reason(&w, "not a mail message (no From, Subject or Message-ID)");
        goto out;
    }
    const char *subj = g_mime_message_get_subject(msg);
    out->subject = one_line(subj && g_utf8_validate(subj, -1, NULL) ? subj : "",
                            lim->max_subject);
    const char *id = g_mime_message_get_message_id(msg);
    if (id && *id && g_utf8_validate(id, -1, NULL))
        out->message_id = one_line(id, ID_MAX);
    const char *irt =
        g_mime_object_get_header(GMIME_OBJECT(msg), "In-Reply-To");
    if (irt) {
        GMimeReferences *r = g_mime_references_parse(po, irt);
        if (r && g_mime_references_length(r) > 0)
            out->in_reply_to =
                one_line(g_mime_references_get_message_id(r, 0), ID_MAX);
        if (r)
            g_mime_references_free(r);
    }
    const char *refs =
        g_mime_object_get_header(GMIME_OBJECT(msg), "References");
    if (refs) {
        GMimeReferences *r = g_mime_references_parse(po, refs);
        out->references = id_list(r);
        if (r)
            g_mime_references_free(r);
    }
    GDateTime *dt = g_mime_message_get_date(msg);
    if (dt)
        out->date = (tw_time)g_date_time_to_unix(dt) * TW_SEC;
    out->auto_submitted = header(msg, "Auto-Submitted");
    out->precedence = header(msg, "Precedence");
    out->x_loop = header(msg, "X-Loop");
    out->list_id = header(msg, "List-Id");
    out->from_daemon = is_daemon_sender(msg, out->from_addr);

    walk_object(&w, g_mime_message_get_mime_part(msg), 0);
    if (w.failed)
        goto out;
    if (w.plain.len) {
        out->body = tw_buf_take(&w.plain, NULL);
    } else if (w.html.len) {
        out->body = mail_html_to_text(tw_buf_str(&w.html), w.html.len);
        out->html_only = 1;
        if (strlen(out->body) > lim->max_body) {
            set_reason(&w, "the text is over %zu bytes", lim->max_body);
            goto out;
        }
    } else {
        out->body = tw_strdup("");
    }
    size_t bl = strlen(out->body);
    while (bl > 0 && strchr(" \t\n", out->body[bl - 1]))
        out->body[--bl] = '\0';
    if (out->in_reply_to || out->references || strchr(out->subject, '['))
        out->body_shown = mail_trim_quotes(out->body);
    if (!out->message_id) {
        out->message_id = synth_id(msg, out);
        out->message_id_synth = 1;
    }
out:
    if (msg)
        g_object_unref(msg);
    g_mime_parser_options_free(po);
    tw_buf_free(&w.plain);
    tw_buf_free(&w.html);
    if (w.failed) {
        mail_parsed_clear(out);
        return TW_PERMFAIL;
    }
    return TW_OK;
}

/* mail_parsed_clear - free everything in M */
void mail_parsed_clear(struct mail_parsed *m)
{
    char **strs[] = {
        &m->from_addr,  &m->from_name,  &m->reply_to_addr,  &m->reply_to_name,
        &m->subject,    &m->message_id, &m->in_reply_to,    &m->references,
        &m->body,       &m->body_shown, &m->auto_submitted, &m->precedence,
        &m->x_loop,     &m->list_id,    &m->dsn_message_id, &m->dsn_recipient,
        &m->dsn_action, &m->dsn_status, &m->dsn_reason};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
    for (size_t i = 0; i < m->natt; i++) {
        free(m->att[i].name);
        free(m->att[i].type);
        free(m->att[i].data);
    }
    free(m->att);
    memset(m, 0, sizeof *m);
}

/* --- HTML to text ----------------------------------------------------- */

/* tag_is - whether the tag name at P (after '<' and an optional '/') is
 * NAME, followed by a delimiter */
static int tag_is(const char *p, const char *name)
{
    size_t n = strlen(name);
    return g_ascii_strncasecmp(p, name, n) == 0 &&
           (p[n] == '>' || p[n] == ' ' || p[n] == '/' || p[n] == '\t' ||
            p[n] == '\n' || p[n] == '\r');
}

/* put_entity - decode the entity at P (after '&') into B; returns the
 * bytes consumed after '&', 0 if it is not one we know */
static size_t put_entity(struct tw_buf *b, const char *p)
{
    static const struct {
        const char *name, *text;
    } named[] = {{"amp;", "&"},      {"lt;", "<"},       {"gt;", ">"},
                 {"quot;", "\""},    {"apos;", "'"},     {"nbsp;", " "},
                 {"rlm;", "\u200f"}, {"lrm;", "\u200e"}, {"zwnj;", "\u200c"}};
    int rc = TW_OK;
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        size_t n = strlen(named[i].name);
        if (g_ascii_strncasecmp(p, named[i].name, n) == 0) {
            rc = tw_buf_add(b, named[i].text, strlen(named[i].text));
            return rc == TW_OK ? n : 0;
        }
    }
    if (*p != '#')
        return 0;
    char *end;
    unsigned long cp = p[1] == 'x' || p[1] == 'X' ? strtoul(p + 2, &end, 16)
                                                  : strtoul(p + 1, &end, 10);
    if (end == p + 1 || end == p + 2 || *end != ';' || cp == 0 ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp < 0x20)
        return 0;
    char u[8];
    int n = g_unichar_to_utf8((gunichar)cp, u);
    rc = tw_buf_add(b, u, (size_t)n);
    return rc == TW_OK ? (size_t)(end - p) + 1 : 0;
}

/* mail_html_to_text - tags out, blocks as lines, entities decoded, runs of
 * white space as one space, at most two line breaks in a row */
char *mail_html_to_text(const char *html, size_t len)
{
    static const char *const blocks[] = {
        "p",  "div", "br",         "li",    "tr", "h1", "h2", "h3", "h4",
        "h5", "h6",  "blockquote", "table", "ul", "ol", "hr", NULL};
    struct tw_buf b;
    tw_buf_init(&b, 0);
    int rc = TW_OK, space = 1, lines = 2;
    const char *p = html, *end = html + len;
    while (p < end && *p) {
        if (*p == '<') {
            const char *t = p + 1 + (p[1] == '/');
            const char *close = NULL;
            if (tag_is(t, "script") || tag_is(t, "style") ||
                tag_is(t, "head") || tag_is(t, "title")) {
                if (p[1] != '/') {
                    char endtag[16];
                    size_t n = strcspn(t, " \t\r\n/>");
                    snprintf(endtag, sizeof endtag, "</%.*s", (int)n, t);
                    close = g_strstr_len(t, end - t, endtag);
                    if (!close) {
                        /* a never-closed script hides the rest */
                        p = end;
                        continue;
                    }
                    t = close + 2;
                }
            } else if (strncmp(p, "<!--", 4) == 0) {
                const char *c = g_strstr_len(p, end - p, "-->");
                p = c ? c + 3 : end;
                continue;
            }
            for (const char *const *k = blocks; *k; k++)
                if (tag_is(t, *k)) {
                    if (lines < 2)
                        rc |= tw_buf_add(&b, "\n", 1);
                    lines++;
                    space = 1;
                    break;
                }
            const char *gt = memchr(t, '>', (size_t)(end - t));
            p = gt ? gt + 1 : end;
            continue;
        }
        unsigned char c = (unsigned char)*p;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            if (!space)
                rc |= tw_buf_add(&b, " ", 1);
            space = 1;
            p++;
            continue;
        }
        if (c == '&') {
            size_t n = put_entity(&b, p + 1);
            if (n) {
                p += 1 + n;
                space = 0;
                lines = 0;
                continue;
            }
        }
        rc |= tw_buf_add(&b, p, 1);
        space = 0;
        lines = 0;
        p++;
    }
    (void)rc; /* no cap: cannot fail */
    char *r = tw_buf_take(&b, NULL);
    /* trim spaces at line ends and starts, and the whole */
    char *o = r;
    for (char *q = r; *q; q++) {
        if (*q == ' ' &&
            (q[1] == '\n' || q[1] == '\0' || o == r || o[-1] == '\n'))
            continue;
        *o++ = *q;
    }
    *o = '\0';
    while (o > r && (o[-1] == '\n' || o[-1] == ' '))
        *--o = '\0';
    clean_text(r);
    return r;
}

/* --- Quoted replies ---------------------------------------------------- */

/* line_at - copy of the line starting at P (without the newline) */
static char *line_at(const char *p)
{
    return tw_strndup(p, strcspn(p, "\n"));
}

/* ends_with - S (trimmed of trailing spaces) ends with SUFFIX */
static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* quote_header - whether the line at P (with the next one, for wrapped
 * "On ... wrote:") starts a quoted earlier message */
static int quote_header(const char *p)
{
    char *l = line_at(p);
    const char *next = strchr(p, '\n');
    char *l2 = next ? line_at(next + 1) : tw_strdup("");
    char *both = tw_asprintf("%s %s", l, l2);
    const char *s = l + strspn(l, " \t");
    int r = 0;
    if ((strncmp(s, "On ", 3) == 0 &&
         (ends_with(l, "wrote:") || ends_with(both, "wrote:"))) ||
        (strncmp(s, "في ", strlen("في ")) == 0 && strstr(both, "كتب") &&
         (ends_with(l, ":") || ends_with(both, ":"))) ||
        ends_with(l, "كتب:"))
        r = 1;
    else if (strstr(s, "-----Original Message-----") == s ||
             strstr(s, "----- Original Message -----") == s ||
             strstr(s, "-----الرسالة الأصلية-----") == s ||
             strstr(s, "----- الرسالة الأصلية -----") == s)
        r = 1;
    else if (strncmp(s, "________________________________", 32) == 0 &&
             (strncmp(l2, "From:", 5) == 0 || strncmp(l2, "من:", 5) == 0))
        r = 1;
    else if ((strncmp(s, "From: ", 6) == 0 || strncmp(s, "من: ", 6) == 0) &&
             next &&
             (strstr(next, "\nSent: ") || strstr(next, "\nDate: ") ||
              strncmp(l2, "Sent: ", 6) == 0 || strncmp(l2, "Date: ", 6) == 0 ||
              strncmp(l2, "أرسل: ", strlen("أرسل: ")) == 0))
        r = 1;
    free(l);
    free(l2);
    free(both);
    return r;
}

/* rest_quoted - whether every non-blank line from P on starts with '>' */
static int rest_quoted(const char *p)
{
    while (*p) {
        const char *s = p + strspn(p, " \t");
        if (*s != '\n' && *s != '>' && *s)
            return 0;
        p = strchr(p, '\n');
        if (!p)
            break;
        p++;
    }
    return 1;
}

/* mail_trim_quotes - the text before the first quote header, or before a
 * trailing block of '>' lines */
char *mail_trim_quotes(const char *text)
{
    const char *cut = NULL;
    for (const char *p = text; p && *p;) {
        const char *s = p + strspn(p, " \t");
        if (quote_header(p) || (*s == '>' && rest_quoted(p))) {
            cut = p;
            break;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!cut)
        return NULL;
    size_t n = (size_t)(cut - text);
    while (n > 0 &&
           (text[n - 1] == '\n' || text[n - 1] == ' ' || text[n - 1] == '\t'))
        n--;
    if (n == 0)
        return NULL;
    return tw_strndup(text, n);
}

/* mail_key - "email:" and the hex sha256 of MESSAGE_ID */
char *mail_key(const char *message_id, char *buf)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)message_id,
                       strlen(message_id));
    memcpy(buf, "email:", 7);
    sodium_bin2hex(buf + 6, 65, h, sizeof h);
    return buf;
}
