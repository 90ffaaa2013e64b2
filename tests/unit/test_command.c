/*
 * test_command.c - the bus command contract: what a client may send and the
 * message a person sees when it is wrong.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "config.h"
#include "log.h"

static const struct tw_intake_limits limits = {
    .max_subject = 200,
    .max_body = 1000,
    .max_attachments = 3,
    .max_attachment = 100,
    .categories = NULL,
};

/* parse_intake - run TEXT through both parsers like the engine does */
static int parse_intake(const char *text, const struct tw_bus_part *parts,
                        size_t n, const struct tw_intake_limits *lim,
                        struct tw_intake *in, enum tw_errcode *code, char *msg)
{
    json_t *j = NULL;
    const char *op = NULL, *key = NULL;
    int rc = tw_command_parse(text, strlen(text), &j, &op, &key, code, msg);
    if (rc == TW_OK)
        rc = tw_intake_parse(j, parts, n, lim, in, code, msg);
    json_decref(j);
    return rc;
}

/* expect_fail - TEXT fails with CODE and a message containing WANT */
static void expect_fail_n(const char *text, const struct tw_bus_part *parts,
                          size_t n, const struct tw_intake_limits *lim,
                          enum tw_errcode want_code, const char *want)
{
    struct tw_intake in;
    enum tw_errcode code = TW_E_NONE;
    char msg[TW_MSG_MAX];
    memset(&in, 0, sizeof in);
    int rc = parse_intake(text, parts, n, lim, &in, &code, msg);
    if (rc != TW_PERMFAIL || code != want_code || !strstr(msg, want))
        print_error("input: %s\n got rc=%d code=%s msg=%s\n want code=%s "
                    "msg containing \"%s\"\n",
                    text, rc, tw_errcode_name(code), msg,
                    tw_errcode_name(want_code), want);
    assert_int_equal(rc, TW_PERMFAIL);
    assert_int_equal(code, want_code);
    assert_non_null(strstr(msg, want));
    assert_null(in.json);
    tw_intake_clear(&in);
}

static void expect_fail(const char *text, enum tw_errcode want_code,
                        const char *want)
{
    expect_fail_n(text, NULL, 0, &limits, want_code, want);
}

#define ENV "\"v\":1,\"op\":\"intake\",\"key\":\"phone:1\""

static void test_valid_intake_defaults(void **state)
{
    (void)state;
    struct tw_intake in;
    enum tw_errcode code;
    char msg[TW_MSG_MAX];
    const char *text =
        "{" ENV ",\"channel\":\"phone\",\"subject\":\"Dividend question\"}";
    assert_int_equal(parse_intake(text, NULL, 0, &limits, &in, &code, msg),
                     TW_OK);
    assert_string_equal(in.key, "phone:1");
    assert_string_equal(in.channel, "phone");
    assert_string_equal(in.kind, "request");
    assert_null(in.category);
    assert_string_equal(in.subject, "Dividend question");
    assert_string_equal(in.body, "");
    assert_true(in.received_at == 0);
    assert_null(in.actor);
    assert_null(in.member_email);
    assert_null(in.msg_id);
    assert_int_equal(in.nattachments, 0);
    tw_intake_clear(&in);
    tw_intake_clear(&in); /* safe to repeat */
}

static void test_valid_intake_full(void **state)
{
    (void)state;
    struct tw_intake in;
    enum tw_errcode code;
    char msg[TW_MSG_MAX];
    char m[] = "membership", d[] = "dividends";
    char *cats[] = {m, d};
    struct tw_strlist l = {2, cats};
    struct tw_intake_limits lim = limits;
    lim.categories = &l;
    struct tw_bus_part parts[2] = {{"hello", 5}, {"%PDF-1.4", 8}};
    const char *text =
        "{" ENV ",\"channel\":\"email\",\"kind\":\"complaint\","
        "\"category\":\"dividends\",\"subject\":\"  مرحبا  \","
        "\"body\":\"line 1\\r\\nline 2\\tend\","
        "\"received_at\":\"2026-03-01T09:30:00+03:00\",\"actor\":\"sara.k\","
        "\"member\":{\"number\":\"M-1024/7\",\"email\":\"ali@example.sa\","
        "\"phone\":\"+966 (50) 123-4567\",\"name\":\"علي\",\"lang\":\"ar\"},"
        "\"message\":{\"from\":\"Ali <ali@example.sa>\",\"message_id\":"
        "\"abc@x\",\"in_reply_to\":\"p@x\",\"references\":\"o@x p@x\"},"
        "\"attachments\":[{\"name\":\"a.txt\",\"type\":\"text/plain\"},"
        "{\"name\":\"scan.pdf\"}]}";
    assert_int_equal(parse_intake(text, parts, 2, &lim, &in, &code, msg),
                     TW_OK);
    assert_string_equal(in.kind, "complaint");
    assert_string_equal(in.category, "dividends");
    assert_string_equal(in.body, "line 1\r\nline 2\tend");
    /* 2026-03-01T06:30:00Z */
    assert_true(in.received_at == INT64_C(1772346600) * 1000000);
    assert_string_equal(in.actor, "sara.k");
    assert_string_equal(in.member_number, "M-1024/7");
    assert_string_equal(in.member_phone, "+966501234567");
    assert_string_equal(in.member_lang, "ar");
    assert_string_equal(in.msg_references, "o@x p@x");
    assert_int_equal(in.nattachments, 2);
    assert_string_equal(in.attachments[0].type, "text/plain");
    assert_string_equal(in.attachments[1].type, "application/octet-stream");
    assert_int_equal(in.attachments[1].size, 8);
    assert_ptr_equal(in.attachments[1].data, parts[1].data);
    tw_intake_clear(&in);
}

static void test_envelope_errors(void **state)
{
    (void)state;
    expect_fail("{\"v\":1,", TW_E_BAD_JSON, "line 1 column");
    expect_fail("[1,2]", TW_E_BAD_JSON, "object");
    expect_fail("{\"op\":\"intake\",\"key\":\"k\"}", TW_E_BAD_VERSION,
                "v: required");
    expect_fail("{\"v\":2,\"op\":\"intake\",\"key\":\"k\"}", TW_E_BAD_VERSION,
                "v: version 2");
    expect_fail("{\"v\":\"1\",\"op\":\"intake\",\"key\":\"k\"}",
                TW_E_BAD_VERSION, "v:");
    expect_fail("{\"v\":1,\"op\":\"launch\",\"key\":\"k\"}", TW_E_UNKNOWN_OP,
                "op: unknown operation \"launch\"");
    expect_fail("{\"v\":1,\"key\":\"k\"}", TW_E_UNKNOWN_OP, "op: required");
    expect_fail("{\"v\":1,\"op\":\"intake\"}", TW_E_INVALID, "key: required");
    expect_fail("{\"v\":1,\"op\":\"intake\",\"key\":\"a b\"}", TW_E_INVALID,
                "key: must be");
    expect_fail("{\"v\":1,\"op\":\"intake\",\"key\":\"\"}", TW_E_INVALID,
                "key: must be");
    expect_fail("{\"v\":1,\"op\":\"intake\",\"key\":7}", TW_E_INVALID,
                "key: must be");
}

static void test_key_too_long(void **state)
{
    (void)state;
    char text[400];
    char key[TW_KEY_MAX + 2];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    snprintf(text, sizeof text, "{\"v\":1,\"op\":\"note\",\"key\":\"%s\"}",
             key);
    expect_fail(text, TW_E_INVALID, "key: must be");
    key[TW_KEY_MAX] = '\0'; /* exactly the maximum is fine */
    snprintf(text, sizeof text, "{\"v\":1,\"op\":\"note\",\"key\":\"%s\"}",
             key);
    json_t *j = NULL;
    const char *op, *k;
    enum tw_errcode code;
    char msg[TW_MSG_MAX];
    assert_int_equal(
        tw_command_parse(text, strlen(text), &j, &op, &k, &code, msg), TW_OK);
    assert_string_equal(op, "note");
    assert_int_equal(strlen(k), TW_KEY_MAX);
    json_decref(j);
}

static void test_key_reported_on_later_failure(void **state)
{
    (void)state;
    json_t *j = NULL;
    const char *op = NULL, *key = NULL;
    enum tw_errcode code;
    char msg[TW_MSG_MAX];
    const char *t = "{\"v\":2,\"op\":\"intake\",\"key\":\"web:42\"}";
    assert_int_equal(tw_command_parse(t, strlen(t), &j, &op, &key, &code, msg),
                     TW_PERMFAIL);
    assert_int_equal(code, TW_E_BAD_VERSION);
    assert_non_null(key);
    assert_string_equal(key, "web:42");
    assert_null(op);
    json_decref(j);

    t = "{\"v\":1,\"op\":\"fly\",\"key\":\"web:43\"}";
    assert_int_equal(tw_command_parse(t, strlen(t), &j, &op, &key, &code, msg),
                     TW_PERMFAIL);
    assert_int_equal(code, TW_E_UNKNOWN_OP);
    assert_string_equal(key, "web:43");
    json_decref(j);

    t = "not json";
    assert_int_equal(tw_command_parse(t, strlen(t), &j, &op, &key, &code, msg),
                     TW_PERMFAIL);
    assert_null(key);
    assert_null(j);
}

static void test_intake_field_errors(void **state)
{
    (void)state;
    expect_fail("{" ENV ",\"channel\":\"phone\",\"subject\":\"s\","
                "\"sujbect\":\"typo\"}",
                TW_E_INVALID, "sujbect: unknown field");
    expect_fail("{" ENV ",\"channel\":\"phone\"}", TW_E_INVALID,
                "subject: required");
    expect_fail("{" ENV ",\"channel\":\"phone\",\"subject\":\"   \"}",
                TW_E_INVALID, "subject: required");
    expect_fail("{" ENV ",\"channel\":\"phone\",\"subject\":\"a\\nb\"}",
                TW_E_INVALID, "subject: must be one line");
    expect_fail("{" ENV ",\"channel\":\"phone\",\"subject\":\"a\\tb\"}",
                TW_E_INVALID, "subject:");
    expect_fail("{" ENV ",\"channel\":\"phone\",\"subject\":5}", TW_E_INVALID,
                "subject: must be a string");
    expect_fail("{" ENV ",\"subject\":\"s\"}", TW_E_INVALID,
                "channel: required");
    expect_fail("{" ENV ",\"channel\":\"fax\",\"subject\":\"s\"}", TW_E_INVALID,
                "channel: \"fax\" is not one of email, web");
    expect_fail("{" ENV ",\"channel\":\"web\",\"kind\":\"praise\","
                "\"subject\":\"s\"}",
                TW_E_INVALID, "kind: \"praise\"");
    expect_fail("{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                "\"body\":\"a\\u0007b\"}",
                TW_E_INVALID, "body:");
    expect_fail("{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                "\"actor\":\"Sara\"}",
                TW_E_INVALID, "actor: \"Sara\"");
    expect_fail("{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                "\"member\":{\"email\":\"x@\"}}",
                TW_E_INVALID, "member.email: \"x@\" is not a valid address");
    expect_fail("{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                "\"member\":{\"phone\":\"call me\"}}",
                TW_E_INVALID, "member.phone: \"call me\"");
    expect_fail("{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                "\"member\":{\"lang\":\"fr\"}}",
                TW_E_INVALID, "member.lang:");
    expect_fail("{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                "\"member\":{\"number\":\"-12\"}}",
                TW_E_INVALID, "member.number:");
    expect_fail("{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                "\"member\":{\"mail\":\"a@b.c\"}}",
                TW_E_INVALID, "member.mail: unknown field");
    expect_fail("{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                "\"message\":{\"message_id\":\"a\\r\\nBcc: x\"}}",
                TW_E_INVALID, "message.message_id:");
}

static void test_limits(void **state)
{
    (void)state;
    char text[2048];
    char subject[300];
    memset(subject, 's', 201);
    subject[201] = '\0';
    snprintf(text, sizeof text,
             "{" ENV ",\"channel\":\"web\",\"subject\":\"%s\"}", subject);
    expect_fail(text, TW_E_TOO_LARGE, "subject: 201 bytes");

    char body[1100];
    memset(body, 'b', 1001);
    body[1001] = '\0';
    snprintf(text, sizeof text,
             "{" ENV ",\"channel\":\"web\",\"subject\":\"s\",\"body\":\"%s\"}",
             body);
    expect_fail(text, TW_E_TOO_LARGE, "body: 1001 bytes");
}

static void test_received_at(void **state)
{
    (void)state;
    expect_fail("{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                "\"received_at\":\"2026-03-01T09:30:00\"}",
                TW_E_INVALID, "received_at: \"2026-03-01T09:30:00\"");
    expect_fail("{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                "\"received_at\":\"2026-03-01\"}",
                TW_E_INVALID, "received_at:");
    expect_fail("{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                "\"received_at\":\"2026-02-30T09:30:00Z\"}",
                TW_E_INVALID, "received_at:");
    const char *zones[] = {"2026-03-01T06:30:00Z", "2026-03-01T09:30:00+03",
                           "2026-03-01T09:30:00+0300",
                           "2026-03-01 03:30:00-03:00"};
    for (size_t i = 0; i < 4; i++) {
        char text[256];
        struct tw_intake in;
        enum tw_errcode code;
        char msg[TW_MSG_MAX];
        snprintf(text, sizeof text,
                 "{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                 "\"received_at\":\"%s\"}",
                 zones[i]);
        assert_int_equal(parse_intake(text, NULL, 0, &limits, &in, &code, msg),
                         TW_OK);
        assert_true(in.received_at == INT64_C(1772346600) * 1000000);
        tw_intake_clear(&in);
    }
}

static void test_category(void **state)
{
    (void)state;
    char m[] = "membership", d[] = "dividends";
    char *cats[] = {m, d};
    struct tw_strlist l = {2, cats};
    struct tw_intake_limits lim = limits;
    lim.categories = &l;
    expect_fail_n("{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                  "\"category\":\"loans\"}",
                  NULL, 0, &lim, TW_E_INVALID,
                  "category: \"loans\" is not one of membership, dividends");

    /* No configured list: any category goes. */
    struct tw_intake in;
    enum tw_errcode code;
    char msg[TW_MSG_MAX];
    const char *t = "{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                    "\"category\":\"loans\"}";
    assert_int_equal(parse_intake(t, NULL, 0, &limits, &in, &code, msg), TW_OK);
    assert_string_equal(in.category, "loans");
    tw_intake_clear(&in);
}

static void test_attachments(void **state)
{
    (void)state;
    struct tw_bus_part two[2] = {{"a", 1}, {"b", 1}};
    expect_fail_n("{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                  "\"attachments\":[{\"name\":\"a\"},{\"name\":\"b\"},"
                  "{\"name\":\"c\"}]}",
                  two, 2, &limits, TW_E_INVALID,
                  "3 attachments described, 2 sent");
    expect_fail_n("{" ENV ",\"channel\":\"web\",\"subject\":\"s\"}", two, 2,
                  &limits, TW_E_INVALID, "0 attachments described, 2 sent");

    char big[101] = {0};
    struct tw_bus_part oversize[1] = {{big, sizeof big}};
    expect_fail_n("{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                  "\"attachments\":[{\"name\":\"scan.pdf\"}]}",
                  oversize, 1, &limits, TW_E_TOO_LARGE,
                  "\"scan.pdf\" is 101 bytes, over the 100-byte limit");

    struct tw_bus_part four[4] = {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}};
    expect_fail_n("{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                  "\"attachments\":[{\"name\":\"a\"},{\"name\":\"b\"},"
                  "{\"name\":\"c\"},{\"name\":\"d\"}]}",
                  four, 4, &limits, TW_E_TOO_LARGE, "at most 3");

    struct tw_bus_part one[1] = {{"a", 1}};
    expect_fail_n("{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                  "\"attachments\":[{\"name\":\"../etc/passwd\"}]}",
                  one, 1, &limits, TW_E_INVALID, "attachments[0].name:");
    expect_fail_n("{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                  "\"attachments\":[{\"type\":\"text/plain\"}]}",
                  one, 1, &limits, TW_E_INVALID,
                  "attachments[0].name: required");
    expect_fail_n("{" ENV ",\"channel\":\"web\",\"subject\":\"s\","
                  "\"attachments\":[{\"name\":\"a\",\"type\":\"text\"}]}",
                  one, 1, &limits, TW_E_INVALID,
                  "attachments[0].type: \"text\"");
}

static void test_phone_normalize(void **state)
{
    (void)state;
    struct {
        const char *in, *out;
    } cases[] = {
        {"+966 50 123 4567", "+966501234567"},
        {"(050) 123-4567", "0501234567"},
        {"050.123.4567", "0501234567"},
        {"٠٥٠١٢٣٤٥٦٧", "0501234567"}, /* Arabic-Indic digits */
        {"12345", "12345"},
        {"1234", NULL},
        {"050-123-4567 ext 5", NULL},
        {"50+1234567", NULL},
        {"++966501234567", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = tw_phone_normalize(cases[i].in);
        if (cases[i].out) {
            assert_non_null(p);
            assert_string_equal(p, cases[i].out);
        } else {
            assert_null(p);
        }
        free(p);
    }
}

static void test_email_valid(void **state)
{
    (void)state;
    assert_true(tw_email_valid("ali@example.sa"));
    assert_true(tw_email_valid("first.last+tag@mail.example.com"));
    assert_true(tw_email_valid("علي@مثال.السعودية"));
    assert_false(tw_email_valid("x@"));
    assert_false(tw_email_valid("@example.com"));
    assert_false(tw_email_valid("a b@example.com"));
    assert_false(tw_email_valid("a@b@example.com"));
    assert_false(tw_email_valid("Ali <ali@example.sa>"));
    assert_false(tw_email_valid("a..b@example.com"));
    assert_false(tw_email_valid("a@example.com\r\nBcc: x@y.z"));
    assert_false(tw_email_valid(NULL));
    char longaddr[300]; /* a@bbb...b.com, 255 bytes */
    memset(longaddr, 'b', sizeof longaddr);
    memcpy(longaddr, "a@", 2);
    memcpy(longaddr + 251, ".com", 5);
    assert_false(tw_email_valid(longaddr));
    longaddr[250] = '\0'; /* 250 bytes: fine */
    assert_true(tw_email_valid(longaddr));
}

static void test_key_new_and_names(void **state)
{
    (void)state;
    char *a = tw_key_new("web");
    char *b = tw_key_new("web");
    assert_int_equal(strlen(a), 4 + 36);
    assert_memory_equal(a, "web:", 4);
    assert_int_equal(a[4 + 14], '4'); /* version nibble */
    assert_non_null(strchr("89ab", a[4 + 19]));
    assert_string_not_equal(a, b);
    free(a);
    free(b);
    assert_true(tw_name_in(tw_channels, "walk_in"));
    assert_false(tw_name_in(tw_channels, "fax"));
    assert_true(tw_name_in(tw_kinds, "suggestion"));
    assert_true(tw_name_in(tw_langs, "ar"));
    assert_false(tw_name_in(tw_langs, NULL));
}

int main(void)
{
    tw_log_init("test_command", TW_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_intake_defaults),
        cmocka_unit_test(test_valid_intake_full),
        cmocka_unit_test(test_envelope_errors),
        cmocka_unit_test(test_key_too_long),
        cmocka_unit_test(test_key_reported_on_later_failure),
        cmocka_unit_test(test_intake_field_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_received_at),
        cmocka_unit_test(test_category),
        cmocka_unit_test(test_attachments),
        cmocka_unit_test(test_phone_normalize),
        cmocka_unit_test(test_email_valid),
        cmocka_unit_test(test_key_new_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
