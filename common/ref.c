/*
 * ref.c - case references PREFIX-YYYY-NNNNNN: formatting and checking, in
 * the one place the format is spelled out in C.
 */
#include "ref.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

int tw_ref_prefix_valid(const char *p)
{
    size_t n = strlen(p);
    if (n < 1 || n > 8)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 'A' || p[i] > 'Z')
            return 0;
    return 1;
}

int tw_case_ref_format(char *buf, const char *prefix, int year, long number)
{
    if (!tw_ref_prefix_valid(prefix) || year < 1000 || year > 9999 ||
        number < 1 || number > TW_REF_NUMBER_MAX) {
        buf[0] = '\0';
        return TW_PERMFAIL;
    }
    snprintf(buf, TW_REF_MAX, "%s-%04d-%06ld", prefix, year, number);
    return TW_OK;
}

int tw_case_ref_parse(char *s, int fix, int *year, long *number)
{
    size_t n = strlen(s), i = 0;
    while (i < n && isalpha((unsigned char)s[i]))
        i++;
    /* letters, '-', 4 digits, '-', 6 digits */
    if (i < 1 || i > 8 || n != i + 12 || s[i] != '-' || s[i + 5] != '-')
        return 0;
    for (size_t j = 1; j <= 4; j++)
        if (!isdigit((unsigned char)s[i + j]))
            return 0;
    for (size_t j = 6; j <= 11; j++)
        if (!isdigit((unsigned char)s[i + j]))
            return 0;
    for (size_t j = 0; j < i; j++)
        if (!isupper((unsigned char)s[j]) && !fix)
            return 0;
    if (fix)
        for (size_t j = 0; j < i; j++)
            s[j] = (char)toupper((unsigned char)s[j]);
    int y = 0;
    long num = 0;
    for (size_t j = 1; j <= 4; j++)
        y = y * 10 + (s[i + j] - '0');
    for (size_t j = 6; j <= 11; j++)
        num = num * 10 + (s[i + j] - '0');
    if (num < 1)
        return 0;
    if (year)
        *year = y;
    if (number)
        *number = num;
    return 1;
}
