/*
 * mem.h - allocation wrappers that never return NULL.
 *
 * Out of memory is not an error a daemon can handle usefully half-way
 * through a request, so these log and abort (STYLE.md "Errors").
 */
#ifndef TW_MEM_H
#define TW_MEM_H

#include <stddef.h>

void *tw_malloc(size_t n) __attribute__((malloc, returns_nonnull));
void *tw_calloc(size_t count, size_t size)
    __attribute__((malloc, returns_nonnull));
void *tw_realloc(void *p, size_t n) __attribute__((returns_nonnull));
char *tw_strdup(const char *s) __attribute__((malloc, returns_nonnull));
char *tw_strndup(const char *s, size_t n)
    __attribute__((malloc, returns_nonnull));
/* tw_asprintf - a newly allocated formatted string; caller frees */
char *tw_asprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), malloc, returns_nonnull));

#endif
