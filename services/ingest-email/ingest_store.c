/*
 * ingest_store.c - taking a message from its source without losing it.
 *
 * DESIGN
 * ------
 * A message is read into memory up to ingest_email.max_message; a normal one
 * then goes into the spool with tw_spool_put (fsync'd before the source is
 * acknowledged). A larger one is never parsed, and never cut either: the
 * sink spills what it has and the rest of the stream into a file in the
 * spool's tmp/, and committing it fsyncs the file, renames it into failed/
 * with NAME.reason beside it - the spool's own quarantine layout, so
 * tw_spool_retry (`tawasul mail reprocess`) can put it back. Past the hard
 * cap (quarantine_max) nothing is kept and the caller refuses the mail, so
 * the sender's MTA bounces it rather than it vanishing.
 */
#include "ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "log.h"
#include "mem.h"

struct ingest_sink {
    struct tw_spool *sp;
    struct tw_buf mem;
    size_t max, hard, total;
    int fd; /* the spill file, -1 while in memory */
    char name[TW_SPOOL_NAME_MAX];
    char tmp_path[PATH_MAX];
};

/* spill_name - a unique item name for a spilled message */
static void spill_name(char *buf)
{
    static unsigned long n;
    struct timespec ts;
    char host[64];
    clock_gettime(CLOCK_REALTIME, &ts);
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    for (char *p = host; *p; p++)
        if (*p == '/' || *p == ':' || *p <= ' ')
            *p = '_';
    snprintf(buf, TW_SPOOL_NAME_MAX, "%010lld.%06ld.%ld_q%05lu.%s",
             (long long)ts.tv_sec, ts.tv_nsec / 1000, (long)getpid(), n++,
             host);
}

/* write_all - write N bytes through short writes; 0 or -1 */
static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ingest_sink_new - see ingest.h */
struct ingest_sink *ingest_sink_new(struct tw_spool *sp, size_t max,
                                    size_t hard)
{
    struct ingest_sink *s = tw_calloc(1, sizeof *s);
    s->sp = sp;
    s->max = max;
    s->hard = hard;
    s->fd = -1;
    tw_buf_init(&s->mem, max);
    return s;
}

/* spill - start the spill file with what is in memory */
static int spill(struct ingest_sink *s)
{
    spill_name(s->name);
    snprintf(s->tmp_path, sizeof s->tmp_path, "%s/tmp/%s", tw_spool_dir(s->sp),
             s->name);
    s->fd = open(s->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (s->fd < 0) {
        tw_error("%s: cannot create: %s", s->tmp_path, strerror(errno));
        return TW_TEMPFAIL;
    }
    if (write_all(s->fd, s->mem.data ? s->mem.data : "", s->mem.len) != 0) {
        tw_error("%s: write: %s", s->tmp_path, strerror(errno));
        return TW_TEMPFAIL;
    }
    tw_buf_free(&s->mem);
    return TW_OK;
}

/* ingest_sink_add - memory first, then the spill file */
int ingest_sink_add(struct ingest_sink *s, const void *p, size_t n)
{
    if (s->hard && s->total + n > s->hard)
        return TW_PERMFAIL;
    s->total += n;
    if (s->fd < 0 && tw_buf_add(&s->mem, p, n) == TW_OK)
        return TW_OK;
    if (s->fd < 0 && spill(s) != TW_OK)
        return TW_TEMPFAIL;
    if (write_all(s->fd, p, n) != 0) {
        tw_error("%s: write: %s", s->tmp_path, strerror(errno));
        return TW_TEMPFAIL;
    }
    return TW_OK;
}

int ingest_sink_spilled(const struct ingest_sink *s)
{
    return s->fd >= 0;
}

size_t ingest_sink_size(const struct ingest_sink *s)
{
    return s->total;
}

/* sync_path - fsync the file or folder at PATH */
static int sync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* write_reason - failed/NAME.reason, through tmp/, fsync'd */
static int write_reason(struct tw_spool *sp, const char *name,
                        const char *reason)
{
    char tmp[PATH_MAX], dst[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/tmp/%s.reason", tw_spool_dir(sp), name);
    snprintf(dst, sizeof dst, "%s/failed/%s.reason", tw_spool_dir(sp), name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, reason, strlen(reason)) | write_all(fd, "\n", 1);
    if (rc == 0)
        rc = fsync(fd);
    close(fd);
    if (rc == 0)
        rc = rename(tmp, dst);
    if (rc != 0)
        unlink(tmp);
    return rc;
}

/* finish_quarantine - the spill file at S->tmp_path into failed/ */
static int finish_quarantine(struct ingest_sink *s, const char *reason)
{
    char dst[PATH_MAX], dir[PATH_MAX];
    if (fsync(s->fd) != 0 || close(s->fd) != 0) {
        s->fd = -1;
        tw_error("%s: fsync: %s", s->tmp_path, strerror(errno));
        return TW_TEMPFAIL;
    }
    s->fd = -1;
    snprintf(dst, sizeof dst, "%s/failed/%s", tw_spool_dir(s->sp), s->name);
    snprintf(dir, sizeof dir, "%s/failed", tw_spool_dir(s->sp));
    if (write_reason(s->sp, s->name, reason) != 0 ||
        rename(s->tmp_path, dst) != 0 || sync_path(dir) != 0) {
        tw_error("%s: cannot quarantine: %s", s->name, strerror(errno));
        return TW_TEMPFAIL;
    }
    s->tmp_path[0] = '\0';
    tw_warn("%s: quarantined in %s: %s", s->name, dir, reason);
    return TW_OK;
}

/* ingest_sink_commit - spool or quarantine, durably */
int ingest_sink_commit(struct ingest_sink **sp, char *name)
{
    struct ingest_sink *s = *sp;
    int rc;
    if (s->fd < 0) {
        static char empty[1];
        struct iovec iov = {s->mem.data ? s->mem.data : empty, s->mem.len};
        rc = tw_spool_put(s->sp, &iov, 1, name);
    } else {
        char reason[160];
        snprintf(reason, sizeof reason,
                 "too large: %zu bytes, over ingest_email.max_message (%zu)",
                 s->total, s->max);
        rc = finish_quarantine(s, reason);
        if (rc == TW_OK && name)
            snprintf(name, TW_SPOOL_NAME_MAX, "%s", s->name);
    }
    ingest_sink_destroy(sp);
    return rc;
}

/* ingest_sink_destroy - free; a spill file not committed is removed */
void ingest_sink_destroy(struct ingest_sink **sp)
{
    struct ingest_sink *s = *sp;
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    if (s->tmp_path[0])
        unlink(s->tmp_path);
    tw_buf_free(&s->mem);
    free(s);
    *sp = NULL;
}

/* ingest_read_fd - the whole of FD into S */
int ingest_read_fd(struct ingest_sink *s, int fd)
{
    char buf[65536];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            tw_error("read: %s", strerror(errno));
            return TW_TEMPFAIL;
        }
        if (r == 0)
            return TW_OK;
        int rc = ingest_sink_add(s, buf, (size_t)r);
        if (rc != TW_OK)
            return rc;
    }
}

/* ingest_quarantine_file - copy PATH into failed/ with REASON, remove it */
int ingest_quarantine_file(struct tw_spool *sp, const char *path,
                           const char *reason)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        tw_error("%s: %s", path, strerror(errno));
        return errno == ENOENT ? TW_PERMFAIL : TW_TEMPFAIL;
    }
    struct ingest_sink *s = ingest_sink_new(sp, 0, 0);
    int rc = spill(s);
    if (rc == TW_OK)
        rc = ingest_read_fd(s, fd);
    close(fd);
    if (rc == TW_OK)
        rc = finish_quarantine(s, reason);
    ingest_sink_destroy(&s);
    if (rc == TW_OK && unlink(path) != 0)
        tw_warn("%s: quarantined, but cannot remove it: %s", path,
                strerror(errno));
    return rc;
}

/* ingest_quarantine_reason - replace the reason of quarantined NAME */
int ingest_quarantine_reason(struct tw_spool *sp, const char *name,
                             const char *reason)
{
    if (write_reason(sp, name, reason) != 0) {
        tw_error("%s: cannot write its reason: %s", name, strerror(errno));
        return TW_TEMPFAIL;
    }
    return TW_OK;
}
