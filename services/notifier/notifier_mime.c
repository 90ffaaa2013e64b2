/*
 * notifier_mime.c - a rendered message as MIME text, built with GMime.
 *
 * multipart/alternative with text/plain and text/html, both UTF-8 (base64
 * for Arabic, whatever is shortest for English); the subject and display
 * names RFC 2047-encoded by GMime; Message-ID on site.mail_domain; In-Reply-To
 * and References to the case's thread (the parent's References plus the
 * parent, as DESIGN.md "Email intake" asks, so Outlook threads too);
 * Auto-Submitted and our X-Loop stamp so no auto-responder answers us and our
 * own intake drops a loop. CRLF line ends, as libesmtp needs.
 */
#include "notifier.h"

#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "mem.h"

#define REFERENCES_MAX 20 /* ids kept in References (the newest) */

static GMimeFormatOptions *format_crlf;

/* mime_init - GMime's global set-up */
void mime_init(void)
{
    g_mime_init();
    format_crlf = g_mime_format_options_new();
    g_mime_format_options_set_newline_format(format_crlf,
                                             GMIME_NEWLINE_FORMAT_DOS);
}

/* mime_shutdown - undo mime_init */
void mime_shutdown(void)
{
    if (format_crlf)
        g_mime_format_options_free(format_crlf);
    format_crlf = NULL;
    g_mime_shutdown();
}

/* crlf - TEXT with every LF as CRLF (for canonical text parts); new */
static char *crlf(const char *text, size_t *len)
{
    struct tw_buf b;
    tw_buf_init(&b, 0);
    for (const char *p = text; *p; p++) {
        int st = *p == '\n'   ? tw_buf_add(&b, "\r\n", 2)
                 : *p == '\r' ? TW_OK
                              : tw_buf_add(&b, p, 1);
        (void)st; /* no cap */
    }
    return tw_buf_take(&b, len);
}

/* text_part - a text/SUBTYPE part holding TEXT in UTF-8 */
static GMimeObject *text_part(const char *subtype, const char *text, int ar)
{
    GMimePart *part = g_mime_part_new_with_type("text", subtype);
    size_t len;
    char *body = crlf(text, &len);
    GMimeStream *mem = g_mime_stream_mem_new_with_buffer(body, len);
    free(body);
    GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(
        mem, GMIME_CONTENT_ENCODING_DEFAULT);
    g_mime_part_set_content(part, w);
    g_object_unref(w);
    g_object_unref(mem);
    g_mime_object_set_content_type_parameter(GMIME_OBJECT(part), "charset",
                                             "utf-8");
    g_mime_part_set_content_encoding(
        part, ar ? GMIME_CONTENT_ENCODING_BASE64
                 : g_mime_part_get_best_content_encoding(
                       part, GMIME_ENCODING_CONSTRAINT_7BIT));
    return GMIME_OBJECT(part);
}

/* add_id - append "<ID>" to B (ID given with or without <>) */
static void add_id(struct tw_buf *b, const char *id, size_t n)
{
    if (n >= 2 && id[0] == '<' && id[n - 1] == '>') {
        id++;
        n -= 2;
    }
    if (n == 0)
        return;
    int st = tw_buf_addf(b, "%s<%.*s>", b->len ? " " : "", (int)n, id);
    (void)st; /* no cap */
}

/* references - the parent's References plus the parent, the newest
 * REFERENCES_MAX kept (the first one too, as RFC 5322 advises); new or
 * NULL when there is no parent */
static char *references(const struct mail *m)
{
    if (!m->parent_id)
        return NULL;
    const char *ids[REFERENCES_MAX * 4];
    size_t lens[REFERENCES_MAX * 4], n = 0;
    for (const char *p = m->parent_refs ? m->parent_refs : ""; *p;) {
        p += strspn(p, " \t\r\n,");
        size_t l = strcspn(p, " \t\r\n,");
        if (l && n < sizeof ids / sizeof ids[0]) {
            ids[n] = p;
            lens[n++] = l;
        }
        p += l;
    }
    struct tw_buf b;
    tw_buf_init(&b, 0);
    size_t from = n > REFERENCES_MAX - 1 ? n - (REFERENCES_MAX - 2) : 0;
    if (from > 0)
        add_id(&b, ids[0], lens[0]);
    for (size_t i = from; i < n; i++)
        add_id(&b, ids[i], lens[i]);
    add_id(&b, m->parent_id, strlen(m->parent_id));
    return tw_buf_take(&b, NULL);
}

/* add_mailbox - NAME <ADDR> to MSG's TYPE list, the name encoded as UTF-8
 * (GMime would otherwise pick a legacy charset such as ISO-8859-6) */
static void add_mailbox(GMimeMessage *msg, GMimeAddressType type,
                        const char *name, const char *addr)
{
    InternetAddress *ia = internet_address_mailbox_new(name, addr);
    internet_address_set_charset(ia, "utf-8");
    internet_address_list_add(g_mime_message_get_addresses(msg, type), ia);
    g_object_unref(ia);
}

/* mime_build - M's rendered message as MIME text into M->wire */
int mime_build(const struct notifier_config *cfg,
               const struct tw_base_config *base, struct mail *m, tw_time now)
{
    int ar = strcmp(m->lang, "en") != 0;
    GMimeMessage *msg = g_mime_message_new(TRUE);
    GMimeObject *obj = GMIME_OBJECT(msg);

    const char *from_name = *cfg->from_name             ? cfg->from_name
                            : ar && *base->site_name_ar ? base->site_name_ar
                                                        : base->site_name;
    add_mailbox(msg, GMIME_ADDRESS_TYPE_FROM, from_name, cfg->smtp_from);
    const char *to_name = json_string_value(json_object_get(m->params, "name"));
    add_mailbox(msg, GMIME_ADDRESS_TYPE_TO, to_name ? to_name : "",
                m->recipient);
    if (*cfg->smtp_reply_to)
        add_mailbox(msg, GMIME_ADDRESS_TYPE_REPLY_TO, from_name,
                    cfg->smtp_reply_to);
    /* "[REF]" is in every case's subject, whatever the template says. */
    char *subject = NULL;
    if (m->ref && !strstr(m->r.subject, m->ref))
        subject = tw_asprintf("[%s] %s", m->ref, m->r.subject);
    g_mime_message_set_subject(msg, subject ? subject : m->r.subject, "utf-8");
    free(subject);
    GDateTime *date = g_date_time_new_from_unix_local(now / TW_SEC);
    g_mime_message_set_date(msg, date);
    g_date_time_unref(date);
    g_mime_message_set_message_id(msg, m->message_id);

    free(m->references);
    m->references = references(m);
    if (m->references) {
        struct tw_buf irt;
        tw_buf_init(&irt, 0);
        add_id(&irt, m->parent_id, strlen(m->parent_id));
        g_mime_object_set_header(obj, "In-Reply-To", tw_buf_str(&irt), NULL);
        g_mime_object_set_header(obj, "References", m->references, NULL);
        tw_buf_free(&irt);
    }
    g_mime_object_set_header(obj, "Auto-Submitted", "auto-generated", NULL);
    char *loop = *cfg->x_loop
                     ? tw_strdup(cfg->x_loop)
                     : tw_asprintf("tawasul@%s", base->site_mail_domain);
    g_mime_object_set_header(obj, "X-Loop", loop, NULL);
    free(loop);
    if (m->ref)
        g_mime_object_set_header(obj, "X-Tawasul-Case", m->ref, NULL);

    GMimeMultipart *alt = g_mime_multipart_new_with_subtype("alternative");
    GMimeObject *plain = text_part("plain", m->r.text, ar);
    GMimeObject *html = text_part("html", m->r.html, ar);
    g_mime_multipart_add(alt, plain);
    g_mime_multipart_add(alt, html);
    g_object_unref(plain);
    g_object_unref(html);
    g_mime_message_set_mime_part(msg, GMIME_OBJECT(alt));
    g_object_unref(alt);

    char *text = g_mime_object_to_string(obj, format_crlf);
    g_object_unref(msg);
    if (!text) {
        snprintf(m->error, sizeof m->error, "could not build the message");
        return TW_PERMFAIL;
    }
    free(m->wire);
    m->wire = tw_strdup(text);
    g_free(text);
    return TW_OK;
}
