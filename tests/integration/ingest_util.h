/*
 * ingest_util.h - what the email intake tests share: starting
 * tawasul-ingest-email as a daemon, feeding the pipe, Maildirs, waiting for
 * the database to show a result.
 */
#ifndef TW_INGEST_UTIL_H
#define TW_INGEST_UTIL_H

#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem.h"

/* The ingest section every test uses: the spool is relative to the test's
 * folder, where the programs run. */
#define INGEST_YAML                                                            \
    "ingest_email:\n  spool: spool\n  max_message: 4KB\n"                      \
    "  scan_interval: 200ms\n  throttle_count: 1000\n"

/* ingest_spawn - start tawasul-ingest-email with T's config and ARGS (a
 * NULL-terminated list after the program name), stderr to DIR/LOG */
static inline pid_t ingest_spawn(struct th *t, const char *log,
                                 const char *const *args)
{
    char prog[400], path[400];
    snprintf(prog, sizeof prog, "%s/tawasul-ingest-email", getenv("TW_BIN"));
    snprintf(path, sizeof path, "%s/%s", t->dir, log);
    const char *argv[16] = {prog, "-c", t->config};
    int n = 3;
    for (; args && *args && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        if (chdir(t->dir) != 0)
            _exit(126);
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
        execv(prog, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* ingest_stop - SIG the daemon and wait; its exit status (128+n killed) */
static inline int ingest_stop(pid_t pid, int sig)
{
    int status = 0;
    kill(pid, sig);
    for (int i = 0; i < 400; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status)
                                     : 128 + WTERMSIG(status);
        th_sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    fail_msg("tawasul-ingest-email did not stop within 20 s");
    return -1;
}

/* wait_count - poll SQL until it returns WANT (at most MS); the last value */
static inline long wait_count(struct th *t, long want, int ms, const char *sql)
{
    long v = -1;
    for (int waited = 0; waited <= ms; waited += 50) {
        v = th_count(t, "%s", sql);
        if (v == want)
            return v;
        th_sleep_ms(50);
    }
    return v;
}

/* count_files - regular files in DIR (not hidden, not *.reason) */
static inline long count_files(const char *dir)
{
    char cmd[1400];
    snprintf(cmd, sizeof cmd,
             "find '%s' -maxdepth 1 -type f ! -name '.*' ! -name '*.reason' "
             "| wc -l",
             dir);
    FILE *p = popen(cmd, "r");
    long n = -1;
    if (p) {
        if (fscanf(p, "%ld", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

/* make_maildir - DIR/{tmp,new,cur} */
static inline void make_maildir(const char *dir)
{
    const char *subs[] = {"", "/tmp", "/new", "/cur"};
    for (int i = 0; i < 4; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s%s", dir, subs[i]);
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            fail_msg("mkdir %s: %s", p, strerror(errno));
    }
}

/* deliver_file - write DATA (LEN bytes) into MAILDIR/new/NAME the Maildir
 * way (tmp/, then rename) */
static inline void deliver_file(const char *maildir, const char *name,
                                const char *data, size_t len)
{
    char tmp[700], dst[700];
    snprintf(tmp, sizeof tmp, "%s/tmp/%s", maildir, name);
    snprintf(dst, sizeof dst, "%s/new/%s", maildir, name);
    FILE *f = fopen(tmp, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        fail_msg("%s: cannot write", tmp);
    if (rename(tmp, dst) != 0)
        fail_msg("rename %s: %s", dst, strerror(errno));
}

/* read_fixture - a mail fixture's bytes (caller frees) */
static inline char *read_fixture(const char *name, size_t *len)
{
    char rel[200];
    snprintf(rel, sizeof rel, "mail/%s", name);
    FILE *f = fopen(th_fixture(rel), "rb");
    if (!f)
        fail_msg("%s: cannot open", th_fixture(rel));
    char *buf = tw_malloc(1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

#endif
