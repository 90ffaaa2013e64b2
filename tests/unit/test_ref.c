/* test_ref - case references PREFIX-YYYY-NNNNNN */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "error.h"
#include "ref.h"

static void formats_with_zero_padding(void **state)
{
    (void)state;
    char buf[TW_REF_MAX];
    assert_int_equal(tw_case_ref_format(buf, "AW", 2026, 123), TW_OK);
    assert_string_equal(buf, "AW-2026-000123");
    assert_int_equal(tw_case_ref_format(buf, "COOP", 2027, 999999), TW_OK);
    assert_string_equal(buf, "COOP-2027-999999");
}

static void refuses_out_of_range_parts(void **state)
{
    (void)state;
    char buf[TW_REF_MAX];
    assert_int_equal(tw_case_ref_format(buf, "AW", 2026, 0), TW_PERMFAIL);
    assert_int_equal(tw_case_ref_format(buf, "AW", 2026, 1000000), TW_PERMFAIL);
    assert_int_equal(tw_case_ref_format(buf, "aw", 2026, 1), TW_PERMFAIL);
    assert_int_equal(tw_case_ref_format(buf, "", 2026, 1), TW_PERMFAIL);
    assert_int_equal(tw_case_ref_format(buf, "ABCDEFGHI", 2026, 1),
                     TW_PERMFAIL);
    assert_int_equal(tw_case_ref_format(buf, "A1", 2026, 1), TW_PERMFAIL);
}

static void parses_and_fixes_case(void **state)
{
    (void)state;
    char s[] = "aw-2026-000042";
    int year = 0;
    long n = 0;
    assert_false(tw_case_ref_parse(s, 0, NULL, NULL));
    assert_true(tw_case_ref_parse(s, 1, &year, &n));
    assert_string_equal(s, "AW-2026-000042");
    assert_int_equal(year, 2026);
    assert_int_equal(n, 42);
}

static void rejects_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"AW-2026-00042",   "AW-26-000042",   "AW2026000042",
                         "AW-2026-0000420", "-2026-000042",   "AW-2026-000000",
                         "AW-2026-00004x",  "AW_2026_000042", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char s[32];
        strcpy(s, bad[i]);
        assert_false(tw_case_ref_parse(s, 1, NULL, NULL));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(formats_with_zero_padding),
        cmocka_unit_test(refuses_out_of_range_parts),
        cmocka_unit_test(parses_and_fixes_case),
        cmocka_unit_test(rejects_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
