/* test_link - signed status and survey links */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "link.h"

static const char secret[] = "0123456789abcdef0123456789abcdef-test";

static void token_is_stable_and_checks(void **state)
{
    (void)state;
    char a[TW_LINK_TOKEN_MAX], b[TW_LINK_TOKEN_MAX];
    assert_int_equal(tw_link_token(secret, "status", "AW-2026-000001", a),
                     TW_OK);
    assert_int_equal(tw_link_token(secret, "status", "AW-2026-000001", b),
                     TW_OK);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 22);
    assert_true(tw_link_check(secret, "status", "AW-2026-000001", a));
}

static void token_is_bound_to_purpose_ref_and_secret(void **state)
{
    (void)state;
    char a[TW_LINK_TOKEN_MAX];
    assert_int_equal(tw_link_token(secret, "status", "AW-2026-000001", a),
                     TW_OK);
    assert_false(tw_link_check(secret, "survey", "AW-2026-000001", a));
    assert_false(tw_link_check(secret, "status", "AW-2026-000002", a));
    assert_false(tw_link_check("another secret that is long enough......",
                               "status", "AW-2026-000001", a));
    a[3] = a[3] == 'A' ? 'B' : 'A';
    assert_false(tw_link_check(secret, "status", "AW-2026-000001", a));
    assert_false(tw_link_check(secret, "status", "AW-2026-000001", ""));
    assert_false(tw_link_check(secret, "status", "AW-2026-000001", NULL));
}

static void short_secret_is_refused(void **state)
{
    (void)state;
    char a[TW_LINK_TOKEN_MAX];
    assert_int_equal(tw_link_token("short", "status", "AW-2026-000001", a),
                     TW_PERMFAIL);
    assert_int_equal(tw_link_token(NULL, "status", "AW-2026-000001", a),
                     TW_PERMFAIL);
    assert_false(tw_link_check("short", "status", "AW-2026-000001", a));
    assert_null(tw_link_url("http://x", "", "status", "AW-2026-000001"));
}

static void url_joins_base_without_double_slash(void **state)
{
    (void)state;
    char tok[TW_LINK_TOKEN_MAX];
    assert_int_equal(tw_link_token(secret, "survey", "AW-2026-000009", tok),
                     TW_OK);
    char *u = tw_link_url("https://coop.example/portal/", secret, "survey",
                          "AW-2026-000009");
    assert_non_null(u);
    char want[256];
    snprintf(want, sizeof want,
             "https://coop.example/portal/survey/AW-2026-000009?t=%s", tok);
    assert_string_equal(u, want);
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(token_is_stable_and_checks),
        cmocka_unit_test(token_is_bound_to_purpose_ref_and_secret),
        cmocka_unit_test(short_secret_is_refused),
        cmocka_unit_test(url_joins_base_without_double_slash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
