/*
 * spool.h - a durable directory queue for work received but not yet acked.
 *
 * Layout (Maildir's, for the same reasons): DIR/tmp/ for items being written,
 * DIR/new/ for items waiting to be delivered, DIR/failed/ for items a person
 * must look at (each with a NAME.reason text file beside it).
 *
 * tw_spool_put writes to tmp/, fsyncs the file, renames it into new/ and
 * fsyncs new/: once it returns TW_OK the item survives kill -9 and power
 * loss, and only then may the source be acknowledged (MTA exit 0, IMAP
 * delete, file move). The delivering loop lists new/, sends each item to the
 * engine, and removes it when the engine has acked (commit before
 * acknowledge, everywhere). Leftovers in tmp/ are half-written items from a
 * crash; they were never acknowledged to anyone, so opening the spool
 * deletes those older than an hour.
 *
 * Item names are unique across processes and hosts
 * ("<sec>.<usec>.<pid>_<n>.<host>"), and sort by arrival.
 */
#ifndef TW_SPOOL_H
#define TW_SPOOL_H

#include <stddef.h>
#include <sys/uio.h>

struct tw_spool;

#define TW_SPOOL_NAME_MAX 128

/* tw_spool_open - open (creating if needed) the spool at DIR. NULL on
 * failure (logged). */
struct tw_spool *tw_spool_open(const char *dir);
/* tw_spool_close - NULL-safe; nulls *SP */
void tw_spool_close(struct tw_spool **sp);
/* tw_spool_dir - the spool's directory (borrowed) */
const char *tw_spool_dir(const struct tw_spool *sp);

/* tw_spool_put - durably store the N pieces of IOV as one item; NAME (at
 * least TW_SPOOL_NAME_MAX bytes, may be NULL) gets the item's name.
 * TW_OK only after the data and the directory entry are on disk. */
__attribute__((warn_unused_result)) int
tw_spool_put(struct tw_spool *sp, const struct iovec *iov, int n, char *name);

/* One item for tw_spool_put_many: its pieces. */
struct tw_spool_item {
    const struct iovec *iov;
    int n;
};

/* tw_spool_put_many - durably store N items at once (group commit, for a
 * service that receives many at a time): all are written to tmp/, then
 * made durable together (one syncfs on Linux), renamed into new/, and new/
 * is fsync'd once, so a batch costs two flushes instead of two per item. NAMES
 * (N arrays of TW_SPOOL_NAME_MAX bytes) get the items' names. All or nothing:
 * TW_OK only when every item is on disk; on failure none is left in new/. */
__attribute__((warn_unused_result)) int
tw_spool_put_many(struct tw_spool *sp, const struct tw_spool_item *items,
                  size_t n, char (*names)[TW_SPOOL_NAME_MAX]);

/* tw_spool_list - names of the items in new/, oldest first, at most MAX
 * (0: all). *NAMES is a NULL-terminated array the caller frees with
 * tw_spool_names_free. Returns the count, or -1 on error. */
long tw_spool_list(struct tw_spool *sp, size_t max, char ***names);
void tw_spool_names_free(char ***names);

/* tw_spool_read - read item NAME into *DATA (caller frees; NUL-terminated)
 * and *LEN. TW_PERMFAIL if it is larger than CAP bytes or gone. */
__attribute__((warn_unused_result)) int tw_spool_read(struct tw_spool *sp,
                                                      const char *name,
                                                      char **data, size_t *len,
                                                      size_t cap);

/* tw_spool_remove - delete a delivered item; a missing item is not an error
 * (delivery is at-least-once) */
int tw_spool_remove(struct tw_spool *sp, const char *name);

/* tw_spool_reject - move item NAME to failed/ with REASON written beside it
 * as NAME.reason, for a person to read and re-run */
int tw_spool_reject(struct tw_spool *sp, const char *name, const char *reason);

/* tw_spool_retry - move item NAME (or every item when NAME is NULL) from
 * failed/ back into new/, removing its reason file. Returns how many moved,
 * or -1 on error. */
long tw_spool_retry(struct tw_spool *sp, const char *name);

/* tw_spool_count - items waiting in new/ (-1 on error) */
long tw_spool_count(struct tw_spool *sp);

#endif
