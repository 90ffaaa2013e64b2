/*
 * buf.h - a growable byte buffer with a hard cap (after curl's dynbuf).
 *
 * Every buffer that holds outside input has a limit: appending past it fails
 * with TW_PERMFAIL and leaves the buffer as it was, so the caller can answer
 * "too large" instead of growing without bound. The content is always
 * NUL-terminated (the NUL is not counted in len).
 */
#ifndef TW_BUF_H
#define TW_BUF_H

#include <stddef.h>

struct tw_buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t size;
    size_t cap; /* maximum len; 0 means no limit */
};

/* tw_buf_init - an empty buffer that never holds more than CAP bytes */
void tw_buf_init(struct tw_buf *b, size_t cap);
/* tw_buf_free - release the memory; the buffer is empty again */
void tw_buf_free(struct tw_buf *b);
/* tw_buf_reset - empty the buffer, keeping its memory */
void tw_buf_reset(struct tw_buf *b);
/* tw_buf_add - append N bytes; TW_PERMFAIL past the cap */
__attribute__((warn_unused_result)) int tw_buf_add(struct tw_buf *b,
                                                   const void *p, size_t n);
/* tw_buf_addf - append formatted text; TW_PERMFAIL past the cap */
__attribute__((warn_unused_result, format(printf, 2, 3))) int
tw_buf_addf(struct tw_buf *b, const char *fmt, ...);
/* tw_buf_take - hand the content to the caller (who frees it); never NULL */
char *tw_buf_take(struct tw_buf *b, size_t *len);
/* tw_buf_str - the content as a string (borrowed, valid until the next
 * change), "" when empty */
const char *tw_buf_str(const struct tw_buf *b);

#endif
