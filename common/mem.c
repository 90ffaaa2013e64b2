/*
 * mem.c - allocation wrappers that abort on out-of-memory, so no caller
 * carries a half-handled NULL path (STYLE.md "Errors").
 */
#include "mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "tawasul: fatal: out of memory allocating %zu bytes\n", n);
    abort();
}

void *tw_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *tw_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    return p;
}

void *tw_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *tw_strdup(const char *s)
{
    return tw_strndup(s, strlen(s));
}

char *tw_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = tw_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *tw_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    char *p = tw_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}
