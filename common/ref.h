/*
 * ref.h - case references, PREFIX-YYYY-NNNNNN (e.g. AW-2026-000123).
 *
 * The prefix is 1-8 capital ASCII letters (config site.ref_prefix), the
 * year is the year of receipt in the site's zone, and the number counts up
 * from 1 each year per prefix (the engine hands numbers out from the
 * ref_counters table). The schema's CHECK on cases.ref says the same.
 */
#ifndef TW_REF_H
#define TW_REF_H

#include <stddef.h>

#define TW_REF_MAX        24 /* "ABCDEFGH-2026-000123" and a NUL, with room */
#define TW_REF_NUMBER_MAX 999999

/* tw_ref_prefix_valid - whether P is 1-8 capital letters */
int tw_ref_prefix_valid(const char *p);
/* tw_case_ref_format - format a case reference as PREFIX-YYYY-NNNNNN into
 * BUF (TW_REF_MAX bytes); TW_PERMFAIL if a part is out of range */
__attribute__((warn_unused_result)) int
tw_case_ref_format(char *buf, const char *prefix, int year, long number);
/* tw_case_ref_parse - whether S is a well-formed reference; the year and
 * number go to *YEAR and *NUMBER when not NULL. Lower-case input is
 * accepted (people type it) and upper-cased in place when FIX is set. */
int tw_case_ref_parse(char *s, int fix, int *year, long *number);

#endif
