/*
 * test_engine_ops - the op framework (engine_ops.c) through its first op,
 * "note": one transaction per op, the key recorded with the reply so a
 * resend is answered again and applied once, and every refusal named.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

static int setup(void **state)
{
    struct th *t = tw_calloc(1, sizeof *t);
    th_setup(t, "engine_ops", NULL);
    th_migrate(t);
    th_engine_start(t);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct th *t = *state;
    if (!t)
        return 0;
    th_teardown(t);
    free(t);
    return 0;
}

/* ok - fail with the reply when it is not a success */
static void ok(json_t *r)
{
    if (!json_is_true(json_object_get(r, "ok"))) {
        char *s = json_dumps(r, JSON_COMPACT);
        fail_msg("not ok: %s", s);
    }
}

static const char *str(const json_t *r, const char *name)
{
    const char *s = json_string_value(json_object_get(r, name));
    return s ? s : "";
}

/* new_case - a case to work on; its ref into REF */
static void new_case(struct th *t, const char *key, char *ref, size_t size)
{
    json_t *r = th_call(t, th_intake(key, "a case for ops"), 10000);
    assert_true(json_is_true(json_object_get(r, "ok")));
    snprintf(ref, size, "%s", str(r, "case"));
    json_decref(r);
}

static json_t *note(const char *key, const char *actor, const char *ref,
                    const char *text)
{
    json_t *c = json_pack("{s:i, s:s, s:s, s:s, s:s}", "v", 1, "op", "note",
                          "key", key, "case", ref, "text", text);
    if (actor)
        json_object_set_new(c, "actor", json_string(actor));
    return c;
}

static void note_is_written_with_its_event(void **state)
{
    struct th *t = *state;
    char ref[32];
    new_case(t, "test:ops-1", ref, sizeof ref);
    json_t *r =
        th_call(t, note("test:note-1", "huda", ref, "اتصلت بالعضو"), 10000);
    ok(r);
    assert_string_equal(str(r, "case"), ref);
    assert_string_equal(str(r, "status"), "new");
    assert_null(json_object_get(r, "repeated"));
    json_decref(r);
    assert_int_equal(th_count(t,
                              "SELECT count(*) FROM messages m JOIN cases c"
                              " ON c.id = m.case_id WHERE c.ref = '%s'"
                              " AND m.direction = 'internal'"
                              " AND m.body = 'اتصلت بالعضو'"
                              " AND m.author = 'huda'",
                              ref),
                     1);
    assert_int_equal(th_count(t,
                              "SELECT count(*) FROM case_events e JOIN cases c"
                              " ON c.id = e.case_id WHERE c.ref = '%s'"
                              " AND e.kind = 'note' AND e.actor = 'huda'",
                              ref),
                     1);
    assert_int_equal(th_count(t, "SELECT count(*) FROM op_keys WHERE key ="
                                 " 'test:note-1' AND op = 'note'"),
                     1);
}

static void resent_key_is_answered_again_and_applied_once(void **state)
{
    struct th *t = *state;
    char ref[32];
    new_case(t, "test:ops-2", ref, sizeof ref);
    json_t *a = th_call(t, note("test:note-2", "huda", ref, "once"), 10000);
    json_t *b = th_call(t, note("test:note-2", "huda", ref, "once"), 10000);
    ok(a);
    ok(b);
    assert_true(json_is_true(json_object_get(b, "repeated")));
    assert_string_equal(str(b, "case"), ref);
    json_decref(a);
    json_decref(b);
    assert_int_equal(th_count(t,
                              "SELECT count(*) FROM case_events e JOIN cases c"
                              " ON c.id = e.case_id WHERE c.ref = '%s'"
                              " AND e.kind = 'note'",
                              ref),
                     1);
}

/* refused - send CMD, expect error CODE, and that nothing was recorded */
static void refused(struct th *t, json_t *cmd, const char *code,
                    const char *words)
{
    char key[128];
    snprintf(key, sizeof key, "%s", str(cmd, "key"));
    json_t *r = th_call(t, cmd, 10000);
    assert_true(json_is_false(json_object_get(r, "ok")));
    assert_string_equal(str(r, "error"), code);
    if (!strstr(str(r, "message"), words))
        fail_msg("message \"%s\" lacks \"%s\"", str(r, "message"), words);
    json_decref(r);
    assert_int_equal(
        th_count(t, "SELECT count(*) FROM op_keys WHERE key = '%s'", key), 0);
}

static void bad_ops_are_refused_by_name(void **state)
{
    struct th *t = *state;
    char ref[32];
    new_case(t, "test:ops-3", ref, sizeof ref);
    refused(t, note("test:bad-1", NULL, ref, "x"), "invalid", "actor");
    refused(t, note("test:bad-2", "huda", "AW-2026-999999", "x"), "not_found",
            "no such case");
    refused(t, note("test:bad-3", "huda", "nonsense", "x"), "invalid",
            "not a case reference");
    json_t *c = note("test:bad-4", "huda", ref, "x");
    json_object_set_new(c, "txet", json_string("typo"));
    refused(t, c, "invalid", "txet: unknown field");
    c = note("test:bad-5", "huda", ref, "");
    refused(t, c, "invalid", "text");
    c = note("test:bad-6", "huda", ref, "x");
    json_object_set_new(c, "text", json_integer(5));
    refused(t, c, "invalid", "text: must be a string");
    assert_int_equal(th_count(t,
                              "SELECT count(*) FROM case_events e JOIN cases c"
                              " ON c.id = e.case_id WHERE c.ref = '%s'"
                              " AND e.kind = 'note'",
                              ref),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(note_is_written_with_its_event),
        cmocka_unit_test(resent_key_is_answered_again_and_applied_once),
        cmocka_unit_test(bad_ops_are_refused_by_name),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
