/*
 * test_mail_parse - the email parser on every fixture in
 * tests/fixtures/mail: charsets, RFC 2047 and 2231, HTML, attachments,
 * threading headers, loops, bounces, limits and the charset traps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "mail_parse.h"
#include "mem.h"

static const struct mail_limits lim = {
    .max_body = 256 * 1024,
    .max_attachments = 20,
    .max_attachment = 10 << 20,
    .max_subject = 500,
    .fallback_charsets = NULL,
};

/* load - a fixture's bytes (caller frees) */
static char *load(const char *name, size_t *len)
{
    char path[512];
    const char *dir = getenv("TW_FIXTURES");
    snprintf(path, sizeof path, "%s/mail/%s", dir ? dir : "tests/fixtures",
             name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: cannot open", path);
    char *buf = tw_malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

/* parse - parse fixture NAME into M with LIMITS; returns mail_parse's
 * result, REASON gets its reason */
static int parse_with(const char *name, const struct mail_limits *l,
                      struct mail_parsed *m, char *reason)
{
    size_t len;
    char *data = load(name, &len);
    int rc = mail_parse(data, len, l, m, reason, 256);
    free(data);
    return rc;
}

static void parse_ok(const char *name, struct mail_parsed *m)
{
    char reason[256];
    if (parse_with(name, &lim, m, reason) != TW_OK)
        fail_msg("%s: %s", name, reason);
}

static void windows_1256_body_and_b_subject(void **state)
{
    (void)state;
    struct mail_parsed m;
    parse_ok("win1256.eml", &m);
    assert_string_equal(m.subject, "طلب تحديث بيانات العضوية");
    assert_string_equal(m.from_addr, "abdullah@example.org");
    assert_string_equal(m.from_name, "عبدالله الدوسري");
    assert_string_equal(m.message_id, "win1256.1@example.org");
    assert_false(m.message_id_synth);
    assert_non_null(strstr(m.body, "أرجو تحديث بيانات عضويتي ورقم الجوال."));
    assert_null(strchr(m.body, '\r'));
    assert_true(m.date > 0);
    mail_parsed_clear(&m);
}

static void iso_8859_6_body_and_q_subject(void **state)
{
    (void)state;
    struct mail_parsed m;
    parse_ok("iso88596.eml", &m);
    assert_string_equal(m.subject, "استفسار عن الأرباح");
    assert_string_equal(m.from_name, "Sara");
    assert_non_null(strstr(m.body, "متى توزع أرباح المساهمين لهذا العام؟"));
    mail_parsed_clear(&m);
}

static void html_only_becomes_text(void **state)
{
    (void)state;
    struct mail_parsed m;
    parse_ok("html_only.eml", &m);
    assert_true(m.html_only);
    assert_non_null(strstr(m.body, "مرحبا،\n"));
    assert_non_null(
        strstr(m.body, "أود الاستفسار عن خدمة التوصيل & الخصومات."));
    assert_non_null(strstr(m.body, "شكرا لكم"));
    assert_null(strstr(m.body, "alert"));
    assert_null(strstr(m.body, "color"));
    assert_null(strchr(m.body, '<'));
    mail_parsed_clear(&m);
}

static void alternative_prefers_plain(void **state)
{
    (void)state;
    struct mail_parsed m;
    parse_ok("alternative.eml", &m);
    assert_string_equal(m.body, "النص العادي للرسالة");
    assert_false(m.html_only);
    assert_int_equal(m.natt, 0);
    mail_parsed_clear(&m);
}

static void attachments_with_arabic_rfc2231_names(void **state)
{
    (void)state;
    struct mail_parsed m;
    parse_ok("attachment_arabic.eml", &m);
    assert_string_equal(m.subject, "مستندات العضوية");
    assert_int_equal(m.natt, 2);
    assert_string_equal(m.att[0].name, "كشف حساب.pdf");
    assert_string_equal(m.att[0].type, "application/pdf");
    assert_int_equal(m.att[0].size, 16 + 1024);
    assert_memory_equal(m.att[0].data, "%PDF-1.4", 8);
    assert_int_equal(strlen(m.att[0].sha256), 64);
    assert_string_equal(m.att[1].name, "صورة الهوية.png");
    assert_string_equal(m.att[1].type, "image/png");
    assert_non_null(strstr(m.body, "مرفق صورة الهوية"));
    mail_parsed_clear(&m);
}

static void missing_message_id_is_synthesised_stably(void **state)
{
    (void)state;
    struct mail_parsed a, b;
    parse_ok("no_message_id.eml", &a);
    parse_ok("no_message_id.eml", &b);
    assert_true(a.message_id_synth);
    assert_string_equal(a.message_id, b.message_id);
    assert_non_null(strstr(a.message_id, "@"));
    char k1[80], k2[80];
    assert_string_equal(mail_key(a.message_id, k1), mail_key(b.message_id, k2));
    assert_int_equal(strlen(k1), 6 + 64);
    /* A different message from the same sender gets another id. */
    struct mail_parsed c;
    parse_ok("win1256.eml", &c);
    assert_string_not_equal(a.message_id, c.message_id);
    mail_parsed_clear(&a);
    mail_parsed_clear(&b);
    mail_parsed_clear(&c);
}

static void reply_threading_headers_and_trim(void **state)
{
    (void)state;
    struct mail_parsed m;
    parse_ok("reply_in_reply_to.eml", &m);
    assert_string_equal(m.in_reply_to, "win1256.1@example.org");
    assert_string_equal(m.references, "win1256.1@example.org");
    assert_non_null(m.body_shown);
    assert_string_equal(m.body_shown, "أرفقت رقم الجوال الجديد: 0501234567");
    /* the original keeps the quote */
    assert_non_null(strstr(m.body, "> أرجو تحديث بيانات عضويتي"));
    mail_parsed_clear(&m);
}

static void loop_headers_are_read(void **state)
{
    (void)state;
    struct mail_parsed m;
    parse_ok("auto_reply.eml", &m);
    assert_string_equal(m.auto_submitted, "auto-replied");
    mail_parsed_clear(&m);
    parse_ok("precedence_bulk.eml", &m);
    assert_string_equal(m.precedence, "bulk");
    mail_parsed_clear(&m);
    parse_ok("x_loop.eml", &m);
    assert_string_equal(m.x_loop, "tawasul@tawasul.invalid");
    mail_parsed_clear(&m);
}

static void dsn_bounce_is_read(void **state)
{
    (void)state;
    struct mail_parsed m;
    parse_ok("dsn_bounce.eml", &m);
    assert_true(m.is_dsn);
    assert_true(m.from_daemon);
    assert_string_equal(m.dsn_message_id, "out.ack.1@tawasul.invalid");
    assert_string_equal(m.dsn_recipient, "nobody@example.org");
    assert_string_equal(m.dsn_action, "failed");
    assert_string_equal(m.dsn_status, "5.1.1");
    assert_non_null(strstr(m.dsn_reason, "550 5.1.1"));
    assert_non_null(strstr(m.dsn_reason, "User unknown"));
    mail_parsed_clear(&m);
}

static void limits_refuse_with_a_reason(void **state)
{
    (void)state;
    struct mail_parsed m;
    char reason[256];
    struct mail_limits small = lim;
    small.max_attachment = 512;
    assert_int_equal(parse_with("attachment_arabic.eml", &small, &m, reason),
                     TW_PERMFAIL);
    assert_non_null(strstr(reason, "over the 512-byte limit"));
    small = lim;
    small.max_attachments = 1;
    assert_int_equal(parse_with("attachment_arabic.eml", &small, &m, reason),
                     TW_PERMFAIL);
    assert_non_null(strstr(reason, "more than 1 attachments"));
    small = lim;
    small.max_body = 1024;
    assert_int_equal(parse_with("oversize.eml", &small, &m, reason),
                     TW_PERMFAIL);
    assert_non_null(strstr(reason, "text is over"));
    assert_int_equal(parse_with("garbage.eml", &lim, &m, reason), TW_PERMFAIL);
    assert_non_null(strstr(reason, "not a mail message"));
}

static void charset_traps(void **state)
{
    (void)state;
    struct mail_parsed m;
    parse_ok("mislabelled_ascii.eml", &m);
    assert_string_equal(m.body, "مرحبا بكم");
    mail_parsed_clear(&m);
    parse_ok("raw_8bit_header.eml", &m);
    assert_string_equal(m.subject, "شكوى عن الخدمة");
    assert_string_equal(m.from_name, "سعد");
    mail_parsed_clear(&m);
    parse_ok("unknown_charset.eml", &m);
    assert_string_equal(m.body, "أهلا وسهلا");
    mail_parsed_clear(&m);
}

static void trim_quotes_patterns(void **state)
{
    (void)state;
    char *t = mail_trim_quotes("شكرا\n\nفي 24 نوفمبر 2026، كتب عبدالله:\n> "
                               "نص قديم\n");
    assert_string_equal(t, "شكرا");
    free(t);
    t = mail_trim_quotes("Fine.\n-----Original Message-----\nFrom: x\n");
    assert_string_equal(t, "Fine.");
    free(t);
    t = mail_trim_quotes("ok\n________________________________\nFrom: a\n"
                         "Sent: b\n");
    assert_string_equal(t, "ok");
    free(t);
    assert_null(mail_trim_quotes("no quotes here\n> but inline\nmore text\n"));
    assert_null(mail_trim_quotes("> only a quote\n"));
}

static void html_entities(void **state)
{
    (void)state;
    const char *h = "<p>a&lt;b &#1587;&#x644;&#1575;&#1605;</p><br>c";
    char *t = mail_html_to_text(h, strlen(h));
    assert_string_equal(t, "a<b سلام\n\nc");
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(windows_1256_body_and_b_subject),
        cmocka_unit_test(iso_8859_6_body_and_q_subject),
        cmocka_unit_test(html_only_becomes_text),
        cmocka_unit_test(alternative_prefers_plain),
        cmocka_unit_test(attachments_with_arabic_rfc2231_names),
        cmocka_unit_test(missing_message_id_is_synthesised_stably),
        cmocka_unit_test(reply_threading_headers_and_trim),
        cmocka_unit_test(loop_headers_are_read),
        cmocka_unit_test(dsn_bounce_is_read),
        cmocka_unit_test(limits_refuse_with_a_reason),
        cmocka_unit_test(charset_traps),
        cmocka_unit_test(trim_quotes_patterns),
        cmocka_unit_test(html_entities),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
