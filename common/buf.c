/*
 * buf.c - growable byte buffer with a hard cap. Growth doubles; a failed
 * append leaves the content untouched so the caller can report and go on.
 */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "mem.h"

void tw_buf_init(struct tw_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->size = 0;
    b->cap = cap;
}

void tw_buf_free(struct tw_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->size = 0;
}

void tw_buf_reset(struct tw_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* grow - make room for N more bytes plus the NUL */
static int grow(struct tw_buf *b, size_t n)
{
    if (b->cap && (n > b->cap || b->len > b->cap - n))
        return TW_PERMFAIL;
    size_t need = b->len + n + 1;
    if (need <= b->size)
        return TW_OK;
    size_t size = b->size ? b->size : 64;
    while (size < need)
        size *= 2;
    b->data = tw_realloc(b->data, size);
    b->size = size;
    return TW_OK;
}

int tw_buf_add(struct tw_buf *b, const void *p, size_t n)
{
    if (grow(b, n) != TW_OK)
        return TW_PERMFAIL;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return TW_OK;
}

int tw_buf_addf(struct tw_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || grow(b, (size_t)n) != TW_OK)
        return TW_PERMFAIL;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return TW_OK;
}

char *tw_buf_take(struct tw_buf *b, size_t *len)
{
    if (!b->data)
        b->data = tw_calloc(1, 1);
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->size = 0;
    return p;
}

const char *tw_buf_str(const struct tw_buf *b)
{
    return b->data ? b->data : "";
}
