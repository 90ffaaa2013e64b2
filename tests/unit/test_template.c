/* test_template - the email templates: the shipped ones load and render
 * for the reader; a typo in a placeholder or a missing value is an error,
 * never an empty string */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "error.h"
#include "mem.h"
#include "template.h"

static const char *const names[] = {
    "acknowledgement", "info_requested",    "referred",        "accepted",
    "rejected",        "service_completed", "reopened",        "reply_received",
    "sla_warning",     "sla_breach",        "delivery_failed", "daily_digest",
};

static char shipped[512];

static struct tw_base_config base(void)
{
    struct tw_base_config b;
    memset(&b, 0, sizeof b);
    b.site_name = (char *)"جمعية أواصر التعاونية";
    b.site_portal_url = (char *)"https://portal.example.org";
    b.site_secret = (char *)"0123456789abcdef0123456789abcdef-test";
    return b;
}

static int setup(void **state)
{
    (void)state;
    snprintf(shipped, sizeof shipped, "%s/config/templates", TW_SOURCE_DIR);
    return tw_clock_set_zone("Asia/Riyadh") == TW_OK ? 0 : -1;
}

static struct tw_templates *load_shipped(void)
{
    struct tw_templates *t = NULL;
    char *errors = NULL;
    int st = tw_templates_load(shipped, &t, &errors);
    if (st != TW_OK)
        fail_msg("shipped templates do not load:\n%s", errors);
    free(errors);
    return t;
}

static json_t *ack_params(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "ref",
                     "AW-2026-000123", "subject", "طلب دعم لرسوم الدراسة",
                     "name", "عبدالله الدوسري", "channel", "phone", "kind",
                     "request", "received_at", "2026-11-22T10:00:00+03:00",
                     "sla_due_at", "2026-12-06T10:00:00+03:00");
}

static void arabic_acknowledgement_reads_for_the_member(void **state)
{
    (void)state;
    struct tw_templates *t = load_shipped();
    struct tw_base_config b = base();
    json_t *params = ack_params();
    json_t *v = tw_templates_values(&b, NULL, "ar", params);
    struct tw_rendered r;
    char err[TW_TEMPLATE_ERR_MAX];
    assert_int_equal(
        tw_templates_render(t, "acknowledgement", "ar", v, &r, err), TW_OK);
    assert_string_equal(r.subject,
                        "[AW-2026-000123] استلمنا طلبك: طلب دعم لرسوم الدراسة");
    /* the promised date, for an Arabic reader */
    assert_non_null(strstr(r.text, "الأحد ٦ ديسمبر ٢٠٢٦"));
    assert_non_null(strstr(r.text, "عبدالله الدوسري"));
    assert_non_null(strstr(r.text, "اتصال هاتفي"));
    assert_non_null(
        strstr(r.text, "https://portal.example.org/status/AW-2026-000123?t="));
    assert_null(strstr(r.text, "{{"));
    assert_null(strstr(r.text, "عضونا الكريم")); /* the name is known */
    assert_non_null(strstr(r.html, "<html dir=\"rtl\" lang=\"ar\">"));
    assert_non_null(strstr(r.html, "<a dir=\"ltr\" href=\"https://portal"));
    tw_rendered_free(&r);

    /* English, and no name: the general greeting */
    json_object_set_new(v, "name", json_null());
    assert_int_equal(
        tw_templates_render(t, "acknowledgement", "en", v, &r, err), TW_OK);
    assert_non_null(strstr(r.text, "Sunday 6 December 2026"));
    assert_non_null(strstr(r.text, "Dear member,"));
    assert_non_null(strstr(r.html, "<html dir=\"ltr\" lang=\"en\">"));
    tw_rendered_free(&r);
    json_decref(v);
    json_decref(params);
    tw_templates_destroy(&t);
    assert_null(t);
}

static void html_is_escaped_and_lists_are_bulleted(void **state)
{
    (void)state;
    struct tw_templates *t = load_shipped();
    struct tw_base_config b = base();
    json_t *p = json_pack("{s:s, s:s, s:n, s:[s, s]}", "ref", "AW-2026-000001",
                          "subject", "<script>x</script> & co", "name",
                          "missing", "صورة الهوية", "كشف حساب");
    json_t *v = tw_templates_values(&b, NULL, "ar", p);
    struct tw_rendered r;
    char err[TW_TEMPLATE_ERR_MAX];
    assert_int_equal(tw_templates_render(t, "info_requested", "ar", v, &r, err),
                     TW_OK);
    assert_null(strstr(r.html, "<script>"));
    assert_non_null(strstr(r.html, "&lt;script&gt;x&lt;/script&gt; &amp; co"));
    assert_non_null(strstr(r.text, "• صورة الهوية\n• كشف حساب"));
    assert_non_null(strstr(r.text, "عضونا الكريم"));
    tw_rendered_free(&r);
    json_decref(v);
    json_decref(p);
    tw_templates_destroy(&t);
}

static void missing_value_is_an_error_not_a_blank(void **state)
{
    (void)state;
    struct tw_templates *t = load_shipped();
    struct tw_base_config b = base();
    /* rejected needs its reason */
    json_t *p = json_pack("{s:s, s:s, s:s}", "ref", "AW-2026-000001", "subject",
                          "x", "decided_at", "2026-12-01T09:00:00+03:00");
    json_t *v = tw_templates_values(&b, NULL, "ar", p);
    struct tw_rendered r;
    char err[TW_TEMPLATE_ERR_MAX];
    assert_int_equal(tw_templates_render(t, "rejected", "ar", v, &r, err),
                     TW_PERMFAIL);
    assert_non_null(strstr(err, "{{reason}}"));
    assert_null(r.text);
    /* a date that is not one */
    json_object_set_new(v, "reason", json_string("r"));
    json_object_set_new(v, "decided_at", json_string("soon"));
    assert_int_equal(tw_templates_render(t, "rejected", "en", v, &r, err),
                     TW_PERMFAIL);
    assert_non_null(strstr(err, "decided_at"));
    assert_int_equal(tw_templates_render(t, "no_such", "en", v, &r, err),
                     TW_PERMFAIL);
    json_decref(v);
    json_decref(p);
    tw_templates_destroy(&t);
}

/* copy_file - FROM to TO */
static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

static void unknown_placeholder_is_reported_with_file_and_line(void **state)
{
    (void)state;
    char dir[] = "/tmp/tw-templates-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[600], from[600];
    for (int l = 0; l < 2; l++) {
        const char *lang = l ? "en" : "ar";
        snprintf(path, sizeof path, "%s/%s", dir, lang);
        assert_int_equal(mkdir(path, 0755), 0);
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            snprintf(from, sizeof from, "%s/%s/%s.txt", shipped, lang,
                     names[i]);
            snprintf(path, sizeof path, "%s/%s/%s.txt", dir, lang, names[i]);
            copy_file(from, path);
        }
    }
    snprintf(path, sizeof path, "%s/en/referred.txt", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("Subject: [{{ref}}] referred\n\nDear {{nmae}},\n{{#reason}}x\n", f);
    fclose(f);

    struct tw_templates *t = NULL;
    char *errors = NULL;
    assert_int_equal(tw_templates_load(dir, &t, &errors), TW_PERMFAIL);
    assert_null(t);
    assert_non_null(errors);
    assert_non_null(strstr(errors, "en/referred.txt:3: unknown placeholder "
                                   "{{nmae}}"));
    assert_non_null(strstr(errors, "unknown placeholder {{reason}}"));
    assert_non_null(strstr(errors, "never closed"));
    free(errors);

    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            snprintf(path, sizeof path, "%s/%s/%s.txt", dir, l ? "en" : "ar",
                     names[i]);
            unlink(path);
        }
    snprintf(path, sizeof path, "%s/ar", dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/en", dir);
    rmdir(path);
    assert_int_equal(rmdir(dir), 0);
}

static void dates_and_digits(void **state)
{
    (void)state;
    char buf[128];
    tw_time t;
    assert_int_equal(tw_time_parse("2026-12-06T23:30:00+00:00", &t), TW_OK);
    /* 02:30 on Monday in Riyadh */
    assert_string_equal(tw_date_human(t, "ar", buf, sizeof buf),
                        "الاثنين ٧ ديسمبر ٢٠٢٦");
    assert_string_equal(tw_date_human(t, "en", buf, sizeof buf),
                        "Monday 7 December 2026");
    char *d = tw_digits_ar("AW 2026");
    assert_string_equal(d, "AW ٢٠٢٦");
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arabic_acknowledgement_reads_for_the_member),
        cmocka_unit_test(html_is_escaped_and_lists_are_bulleted),
        cmocka_unit_test(missing_value_is_an_error_not_a_blank),
        cmocka_unit_test(unknown_placeholder_is_reported_with_file_and_line),
        cmocka_unit_test(dates_and_digits),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
