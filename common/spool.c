/*
 * spool.c - a durable directory queue, Maildir style.
 *
 * DESIGN
 * ------
 * An item is written under a unique name in tmp/, fsync'd, renamed into
 * new/, and new/ is fsync'd: rename is atomic, so a reader of new/ sees an
 * item whole or not at all, and once put returns the item survives a crash.
 * Names are "<sec>.<usec>.<pid>_<n>.<host>" with sec padded to 10 digits,
 * usec and the counter to 6, so sorting names sorts by arrival. The counter
 * is process-wide (several spools in one process still make distinct names)
 * and tmp/ files are created O_EXCL, so a clash is retried, never
 * overwritten.
 *
 * Every file is reached through a descriptor of its directory (openat and
 * friends), opened O_CLOEXEC. Names from callers are checked to be plain
 * file names, so "../x" can never escape the spool.
 */
/* syncfs(2), for tw_spool_put_many's group commit, is Linux's; elsewhere
 * each file is fsync'd. Defined before any header is read. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "mem.h"

#define STALE_TMP_SEC 3600
#define HOST_MAX      64

struct tw_spool {
    char *dir;
    int tmp_fd, new_fd, failed_fd; /* O_DIRECTORY descriptors */
    char host[HOST_MAX + 1];       /* sanitized host name */
};

/* Process-wide, so two spools in one process never make the same name. */
static atomic_ulong spool_counter;

/* name_ok - NAME is a plain file name of an item (no path, not hidden) */
static int name_ok(const char *name)
{
    return name && name[0] && name[0] != '.' && !strchr(name, '/') &&
           strlen(name) < TW_SPOOL_NAME_MAX;
}

/* open_subdir - create DIR/SUB if needed and open it as a directory */
static int open_subdir(const char *dir, const char *sub)
{
    char path[PATH_MAX];
    int fd = -1;
    if (snprintf(path, sizeof path, "%s/%s", dir, sub) >= (int)sizeof path) {
        tw_error("spool: %s: path too long", dir);
        return -1;
    }
    if (mkdir(path, 0750) != 0 && errno != EEXIST) {
        tw_error("spool: mkdir %s: %s", path, strerror(errno));
        return -1;
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        tw_error("spool: open %s: %s", path, strerror(errno));
    return fd;
}

/* sync_dir - fsync a directory so renames and unlinks in it are durable */
static int sync_dir(struct tw_spool *sp, int fd, const char *what)
{
    while (fsync(fd) != 0) {
        if (errno == EINTR)
            continue;
        tw_error("spool: %s/%s: fsync: %s", sp->dir, what, strerror(errno));
        return TW_TEMPFAIL;
    }
    return TW_OK;
}

/* host_name - this host's name with '/' and ':' (which would break a path
 * or a Maildir flag) and anything unprintable replaced by '_' */
static void host_name(char *buf, size_t size)
{
    char h[256];
    if (gethostname(h, sizeof h) != 0 || !h[0])
        snprintf(h, sizeof h, "localhost");
    h[sizeof h - 1] = '\0';
    size_t n = strnlen(h, size - 1);
    memcpy(buf, h, n);
    buf[n] = '\0';
    for (char *p = buf; *p; p++)
        if (*p == '/' || *p == ':' || *p <= ' ' || *p == 0x7f)
            *p = '_';
}

/* clean_tmp - remove files in tmp/ not touched for an hour: half-written
 * items from a crash, never acknowledged to anyone */
static void clean_tmp(struct tw_spool *sp)
{
    int fd = openat(sp->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        tw_warn("spool: %s/tmp: cannot list: %s", sp->dir, strerror(errno));
        return;
    }
    time_t cutoff = time(NULL) - STALE_TMP_SEC;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        if (fstatat(sp->tmp_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode) || st.st_mtime >= cutoff)
            continue;
        if (unlinkat(sp->tmp_fd, e->d_name, 0) == 0)
            tw_info("%s: removed stale tmp file from %s/tmp", e->d_name,
                    sp->dir);
        else
            tw_warn("%s: cannot remove stale tmp file: %s", e->d_name,
                    strerror(errno));
    }
    closedir(d);
}

/* tw_spool_open - open (creating if needed) the spool at DIR */
struct tw_spool *tw_spool_open(const char *dir)
{
    struct tw_spool *sp = tw_calloc(1, sizeof *sp);
    sp->dir = tw_strdup(dir);
    sp->tmp_fd = sp->new_fd = sp->failed_fd = -1;
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        tw_error("spool: mkdir %s: %s", dir, strerror(errno));
        goto fail;
    }
    sp->tmp_fd = open_subdir(dir, "tmp");
    sp->new_fd = open_subdir(dir, "new");
    sp->failed_fd = open_subdir(dir, "failed");
    if (sp->tmp_fd < 0 || sp->new_fd < 0 || sp->failed_fd < 0)
        goto fail;
    host_name(sp->host, sizeof sp->host);
    clean_tmp(sp);
    return sp;
fail:
    tw_spool_close(&sp);
    return NULL;
}

/* tw_spool_close - NULL-safe; nulls *SP */
void tw_spool_close(struct tw_spool **sp)
{
    if (!sp || !*sp)
        return;
    struct tw_spool *s = *sp;
    if (s->tmp_fd >= 0)
        close(s->tmp_fd);
    if (s->new_fd >= 0)
        close(s->new_fd);
    if (s->failed_fd >= 0)
        close(s->failed_fd);
    free(s->dir);
    free(s);
    *sp = NULL;
}

/* tw_spool_dir - the spool's directory (borrowed, lives with SP) */
const char *tw_spool_dir(const struct tw_spool *sp)
{
    return sp->dir;
}

/* make_name - a fresh unique item name into BUF (TW_SPOOL_NAME_MAX) */
static void make_name(struct tw_spool *sp, char *buf)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long n = atomic_fetch_add(&spool_counter, 1);
    snprintf(buf, TW_SPOOL_NAME_MAX, "%010lld.%06ld.%ld_%06lu.%s",
             (long long)ts.tv_sec, ts.tv_nsec / 1000, (long)getpid(), n,
             sp->host);
}

/* write_all - write the N pieces of IOV to FD, through short writes and
 * EINTR; IOV is not changed */
static int write_all(int fd, const struct iovec *iov, int n)
{
    struct iovec v[64];
    int i = 0;
    size_t off = 0; /* already written of iov[i] */
    while (i < n) {
        int k = 0;
        for (int j = i; j < n && k < 64; j++, k++) {
            v[k].iov_base = (char *)iov[j].iov_base + (j == i ? off : 0);
            v[k].iov_len = iov[j].iov_len - (j == i ? off : 0);
        }
        ssize_t w = writev(fd, v, k);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        size_t left = (size_t)w;
        while (i < n && left >= iov[i].iov_len - off) {
            left -= iov[i].iov_len - off;
            off = 0;
            i++;
        }
        off += left;
    }
    return 0;
}

/* write_file - create NAME in directory DFD (O_EXCL) with IOV's content and
 * fsync it. 0, or -1 with errno (EEXIST when the name is taken). */
static int write_file(int dfd, const char *name, const struct iovec *iov, int n)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, iov, n);
    while (rc == 0 && fsync(fd) != 0) {
        if (errno != EINTR)
            rc = -1;
    }
    int saved = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    if (rc != 0) {
        unlinkat(dfd, name, 0);
        errno = saved;
    }
    return rc;
}

/* tw_spool_put - write IOV to tmp/, fsync, rename into new/, fsync new/ */
int tw_spool_put(struct tw_spool *sp, const struct iovec *iov, int n,
                 char *name)
{
    int rc = TW_TEMPFAIL;
    char nm[TW_SPOOL_NAME_MAX];
    int tries = 0;
    for (;;) {
        make_name(sp, nm);
        if (write_file(sp->tmp_fd, nm, iov, n) == 0)
            break;
        if (errno != EEXIST || ++tries >= 10) {
            tw_error("spool: %s/tmp/%s: %s", sp->dir, nm, strerror(errno));
            goto out;
        }
    }
    if (renameat(sp->tmp_fd, nm, sp->new_fd, nm) != 0) {
        tw_error("spool: %s: rename into new/: %s", nm, strerror(errno));
        unlinkat(sp->tmp_fd, nm, 0);
        goto out;
    }
    if (sync_dir(sp, sp->new_fd, "new") != TW_OK)
        goto out;
    if (name)
        memcpy(name, nm, strlen(nm) + 1);
    rc = TW_OK;
out:
    return rc;
}

/* tw_spool_put_many - write all, fsync all, rename all, fsync new/ once */
int tw_spool_put_many(struct tw_spool *sp, const struct tw_spool_item *items,
                      size_t n, char (*names)[TW_SPOOL_NAME_MAX])
{
    int rc = TW_TEMPFAIL;
    int *fds = tw_calloc(n ? n : 1, sizeof *fds);
    size_t opened = 0, renamed = 0;

    for (; opened < n; opened++) {
        int tries = 0, fd;
        for (;;) {
            make_name(sp, names[opened]);
            fd = openat(sp->tmp_fd, names[opened],
                        O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
            if (fd >= 0 || errno != EEXIST || ++tries >= 10)
                break;
        }
        if (fd < 0) {
            tw_error("spool: %s/tmp/%s: %s", sp->dir, names[opened],
                     strerror(errno));
            goto out;
        }
        fds[opened] = fd;
        if (write_all(fd, items[opened].iov, items[opened].n) != 0) {
            tw_error("spool: %s/tmp/%s: write: %s", sp->dir, names[opened],
                     strerror(errno));
            opened++;
            goto out;
        }
    }
    /* One syncfs makes the whole batch durable: fsync of each file would
     * cost a journal commit each (delayed allocation allocates blocks at
     * fsync). It also flushes others' dirty data on the same filesystem,
     * which is why a spool wants a filesystem of its own under load. */
#ifdef __linux__
    if (n > 1 && syncfs(sp->tmp_fd) == 0)
        goto synced;
#endif
    for (size_t i = 0; i < n; i++) {
        while (fsync(fds[i]) != 0) {
            if (errno == EINTR)
                continue;
            tw_error("spool: %s/tmp/%s: fsync: %s", sp->dir, names[i],
                     strerror(errno));
            goto out;
        }
    }
#ifdef __linux__
synced:
#endif
    for (; renamed < n; renamed++) {
        if (renameat(sp->tmp_fd, names[renamed], sp->new_fd, names[renamed]) !=
            0) {
            tw_error("spool: %s: rename into new/: %s", names[renamed],
                     strerror(errno));
            goto out;
        }
    }
    if (sync_dir(sp, sp->new_fd, "new") != TW_OK)
        goto out;
    rc = TW_OK;
out:
    for (size_t i = 0; i < opened; i++)
        close(fds[i]);
    if (rc != TW_OK) {
        for (size_t i = 0; i < renamed; i++)
            unlinkat(sp->new_fd, names[i], 0);
        for (size_t i = renamed; i < opened; i++)
            unlinkat(sp->tmp_fd, names[i], 0);
    }
    free(fds);
    return rc;
}

/* cmp_names - qsort comparator: names sort by arrival */
static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* list_dir - names of the items in directory DFD (skipping hidden ones and,
 * when SKIP_REASON, *.reason files), sorted; -1 on error */
static long list_dir(struct tw_spool *sp, int dfd, int skip_reason,
                     char ***names)
{
    long count = -1;
    size_t n = 0, cap = 16;
    char **v = tw_malloc(cap * sizeof *v);
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        tw_error("spool: %s: cannot list: %s", sp->dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto out;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.')
            continue;
        if (skip_reason && len > 7 &&
            strcmp(e->d_name + len - 7, ".reason") == 0)
            continue;
        if (n + 1 >= cap) {
            cap *= 2;
            v = tw_realloc(v, cap * sizeof *v);
        }
        v[n++] = tw_strdup(e->d_name);
    }
    closedir(d);
    qsort(v, n, sizeof *v, cmp_names);
    count = (long)n;
out:
    v[n] = NULL;
    *names = v;
    if (count < 0)
        tw_spool_names_free(names);
    return count;
}

/* tw_spool_list - names in new/, oldest first, at most MAX (0: all) */
long tw_spool_list(struct tw_spool *sp, size_t max, char ***names)
{
    long n = list_dir(sp, sp->new_fd, 0, names);
    if (n > 0 && max && (size_t)n > max) {
        for (size_t i = max; i < (size_t)n; i++) {
            free((*names)[i]);
            (*names)[i] = NULL;
        }
        n = (long)max;
    }
    return n;
}

/* tw_spool_names_free - free a list from tw_spool_list; nulls *NAMES */
void tw_spool_names_free(char ***names)
{
    if (!names || !*names)
        return;
    for (char **p = *names; *p; p++)
        free(*p);
    free(*names);
    *names = NULL;
}

/* tw_spool_read - read item NAME whole; CAP 0 means no cap */
int tw_spool_read(struct tw_spool *sp, const char *name, char **data,
                  size_t *len, size_t cap)
{
    int rc = TW_TEMPFAIL;
    char *buf = NULL;
    int fd = -1;
    struct stat st;
    *data = NULL;
    *len = 0;
    if (!name_ok(name)) {
        rc = TW_PERMFAIL;
        goto out;
    }
    fd = openat(sp->new_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            rc = TW_PERMFAIL;
        else
            tw_error("%s: open: %s", name, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        tw_error("%s: stat: %s", name, strerror(errno));
        goto out;
    }
    if (cap && (uintmax_t)st.st_size > cap) {
        tw_warn("%s: %lld bytes, over the %zu-byte cap", name,
                (long long)st.st_size, cap);
        rc = TW_PERMFAIL;
        goto out;
    }
    /* Read one byte past the size seen, to notice a file that grew. */
    size_t size = (size_t)st.st_size;
    size_t got = 0;
    buf = tw_malloc(size + 2);
    for (;;) {
        ssize_t r = read(fd, buf + got, size + 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            tw_error("%s: read: %s", name, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
        if (got > size) {
            tw_warn("%s: changed while being read", name);
            goto out;
        }
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    buf = NULL;
    rc = TW_OK;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

/* tw_spool_remove - delete a delivered item; gone already is fine */
int tw_spool_remove(struct tw_spool *sp, const char *name)
{
    if (!name_ok(name))
        return TW_PERMFAIL;
    if (unlinkat(sp->new_fd, name, 0) != 0 && errno != ENOENT) {
        tw_error("%s: remove: %s", name, strerror(errno));
        return TW_TEMPFAIL;
    }
    return TW_OK;
}

/* tw_spool_reject - write failed/NAME.reason (through tmp/, fsync'd), then
 * move the item from new/ to failed/. TW_PERMFAIL if the item is gone. */
int tw_spool_reject(struct tw_spool *sp, const char *name, const char *reason)
{
    int rc = TW_TEMPFAIL;
    char rname[TW_SPOOL_NAME_MAX + 8];
    struct stat st;
    if (!name_ok(name)) {
        rc = TW_PERMFAIL;
        goto out;
    }
    if (fstatat(sp->new_fd, name, &st, 0) != 0) {
        rc = errno == ENOENT ? TW_PERMFAIL : TW_TEMPFAIL;
        tw_error("%s: reject: %s", name, strerror(errno));
        goto out;
    }
    snprintf(rname, sizeof rname, "%s.reason", name);
    reason = reason ? reason : "";
    size_t rlen = strlen(reason);
    struct iovec iov[2] = {
        {.iov_base = (void *)reason, .iov_len = rlen},
        {.iov_base = (void *)"\n",
         .iov_len = rlen && reason[rlen - 1] == '\n' ? 0 : 1},
    };
    unlinkat(sp->tmp_fd, rname, 0);
    if (write_file(sp->tmp_fd, rname, iov, 2) != 0 ||
        renameat(sp->tmp_fd, rname, sp->failed_fd, rname) != 0) {
        tw_error("%s: reject: cannot write the reason: %s", name,
                 strerror(errno));
        unlinkat(sp->tmp_fd, rname, 0);
        goto out;
    }
    if (renameat(sp->new_fd, name, sp->failed_fd, name) != 0) {
        rc = errno == ENOENT ? TW_PERMFAIL : TW_TEMPFAIL;
        tw_error("%s: reject: %s", name, strerror(errno));
        unlinkat(sp->failed_fd, rname, 0);
        goto out;
    }
    if (sync_dir(sp, sp->failed_fd, "failed") != TW_OK ||
        sync_dir(sp, sp->new_fd, "new") != TW_OK)
        goto out;
    tw_warn("%s: moved to %s/failed: %s", name, sp->dir, reason);
    rc = TW_OK;
out:
    return rc;
}

/* retry_one - move failed/NAME back to new/ and drop its reason; 1 if it
 * moved, 0 if it was not there, -1 on error */
static int retry_one(struct tw_spool *sp, const char *name)
{
    char rname[TW_SPOOL_NAME_MAX + 8];
    if (renameat(sp->failed_fd, name, sp->new_fd, name) != 0) {
        if (errno == ENOENT)
            return 0;
        tw_error("%s: retry: %s", name, strerror(errno));
        return -1;
    }
    snprintf(rname, sizeof rname, "%s.reason", name);
    if (unlinkat(sp->failed_fd, rname, 0) != 0 && errno != ENOENT)
        tw_warn("%s: cannot remove %s: %s", name, rname, strerror(errno));
    return 1;
}

/* tw_spool_retry - move NAME (NULL: all) from failed/ back into new/ */
long tw_spool_retry(struct tw_spool *sp, const char *name)
{
    long moved = -1;
    char **names = NULL;
    if (name) {
        if (!name_ok(name))
            goto out;
        int r = retry_one(sp, name);
        if (r < 0)
            goto out;
        moved = r;
    } else {
        if (list_dir(sp, sp->failed_fd, 1, &names) < 0)
            goto out;
        moved = 0;
        for (char **p = names; *p; p++) {
            int r = retry_one(sp, *p);
            if (r < 0) {
                moved = -1;
                break;
            }
            moved += r;
        }
    }
    if (sync_dir(sp, sp->new_fd, "new") != TW_OK ||
        sync_dir(sp, sp->failed_fd, "failed") != TW_OK)
        moved = -1;
out:
    tw_spool_names_free(&names);
    return moved;
}

/* tw_spool_count - items waiting in new/ */
long tw_spool_count(struct tw_spool *sp)
{
    char **names = NULL;
    long n = list_dir(sp, sp->new_fd, 0, &names);
    tw_spool_names_free(&names);
    return n;
}
