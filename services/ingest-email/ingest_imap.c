/*
 * ingest_imap.c - polling a mailbox with libcurl: fetch, spool, move.
 *
 * DESIGN
 * ------
 * Each poll asks for the UIDs still in the mailbox (UID SEARCH, as a custom
 * request on the mailbox URL, so curl selects the mailbox itself - never a
 * SELECT of our own, which makes curl lose track; NOTES "libcurl IMAP"),
 * then for each: fetch it by its UID URL into a sink, store it durably in
 * the spool (or the quarantine, when oversized), and only then move it to
 * the processed folder with UID MOVE (or flag it \Deleted and EXPUNGE once
 * per poll). A crash between spooling and moving fetches it again next
 * time; the same Message-ID makes the same intake key, so the engine takes
 * it once. Search asks for every message, not only unseen ones: a fetch
 * marks a message \Seen, and one seen but never spooled must not be lost.
 *
 * One fetcher at a time: the poll holds an flock on SPOOL/imap.lock, so a
 * second daemon on the same spool skips its turn instead of racing.
 */
#include "ingest.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "mem.h"

struct ingest_imap {
    const struct ingest_config *cfg;
    CURL *curl;
    char *url; /* the mailbox URL without a trailing '/' */
    int folder_made;
};

/* ingest_imap_new - a curl handle for the configured mailbox */
struct ingest_imap *ingest_imap_new(const struct ingest_config *cfg)
{
    if (!cfg->imap_url || strncmp(cfg->imap_url, "imap", 4) != 0) {
        tw_error("ingest_email.imap.url: \"%s\" is not an imap:// or "
                 "imaps:// URL",
                 cfg->imap_url ? cfg->imap_url : "");
        return NULL;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct ingest_imap *im = tw_calloc(1, sizeof *im);
    im->cfg = cfg;
    im->curl = curl_easy_init();
    im->url = tw_strdup(cfg->imap_url);
    size_t n = strlen(im->url);
    while (n > 0 && im->url[n - 1] == '/')
        im->url[--n] = '\0';
    return im;
}

/* ingest_imap_destroy - NULL-safe */
void ingest_imap_destroy(struct ingest_imap **imp)
{
    struct ingest_imap *im = *imp;
    if (!im)
        return;
    if (im->curl)
        curl_easy_cleanup(im->curl);
    free(im->url);
    free(im);
    *imp = NULL;
}

/* to_buf - curl write callback into a struct tw_buf */
static size_t to_buf(char *p, size_t size, size_t n, void *arg)
{
    return tw_buf_add(arg, p, size * n) == TW_OK ? size * n : 0;
}

/* to_sink - curl write callback into a struct ingest_sink */
static size_t to_sink(char *p, size_t size, size_t n, void *arg)
{
    return ingest_sink_add(arg, p, size * n) == TW_OK ? size * n : 0;
}

/* request - run URL with custom COMMAND (NULL: a plain fetch), the answer
 * through FN into ARG; the curl code */
static CURLcode request(struct ingest_imap *im, const char *url,
                        const char *command, curl_write_callback fn, void *arg)
{
    CURL *c = im->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (im->cfg->imap_username && *im->cfg->imap_username)
        curl_easy_setopt(c, CURLOPT_USERNAME, im->cfg->imap_username);
    if (im->cfg->imap_password && *im->cfg->imap_password)
        curl_easy_setopt(c, CURLOPT_PASSWORD, im->cfg->imap_password);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, command);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fn);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, arg);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    return curl_easy_perform(c);
}

/* command - a custom command on the mailbox; TW_OK or TW_TEMPFAIL */
static int command(struct ingest_imap *im, const char *cmd, struct tw_buf *out)
{
    struct tw_buf sink;
    tw_buf_init(&sink, 1 << 20);
    CURLcode rc = request(im, im->url, cmd, to_buf, out ? out : &sink);
    tw_buf_free(&sink);
    if (rc != CURLE_OK) {
        tw_warn("imap: %s: %s", cmd, curl_easy_strerror(rc));
        return TW_TEMPFAIL;
    }
    return TW_OK;
}

/* search - the UIDs in the mailbox, at most MAX; *UIDS caller frees */
static long search(struct ingest_imap *im, unsigned long **uids, long max)
{
    struct tw_buf b;
    tw_buf_init(&b, 16 << 20);
    const char *q = im->cfg->imap_processed && *im->cfg->imap_processed
                        ? "UID SEARCH ALL"
                        : "UID SEARCH UNDELETED";
    *uids = NULL;
    if (command(im, q, &b) != TW_OK) {
        tw_buf_free(&b);
        return -1;
    }
    long n = 0;
    *uids = tw_calloc((size_t)max, sizeof **uids);
    const char *p = strstr(tw_buf_str(&b), "* SEARCH");
    if (p) {
        p += 8;
        while (*p && *p != '\r' && *p != '\n' && n < max) {
            char *end;
            unsigned long u = strtoul(p, &end, 10);
            if (end == p)
                break;
            (*uids)[n++] = u;
            p = end;
        }
    }
    tw_buf_free(&b);
    return n;
}

/* fetch - message UID into the spool; TW_OK once stored */
static int fetch(struct ingest_imap *im, struct tw_spool *sp, unsigned long uid)
{
    char url[2200], name[TW_SPOOL_NAME_MAX];
    snprintf(url, sizeof url, "%s/;UID=%lu", im->url, uid);
    struct ingest_sink *s = ingest_sink_new(sp, (size_t)im->cfg->max_message,
                                            (size_t)im->cfg->quarantine_max);
    CURLcode rc = request(im, url, NULL, to_sink, s);
    if (rc != CURLE_OK) {
        tw_warn("imap: UID %lu: fetch: %s", uid, curl_easy_strerror(rc));
        ingest_sink_destroy(&s);
        return TW_TEMPFAIL;
    }
    if (ingest_sink_commit(&s, name) != TW_OK)
        return TW_TEMPFAIL;
    tw_info("%s: fetched from IMAP uid=%lu", name, uid);
    return TW_OK;
}

/* ingest_imap_poll - fetch, spool, move; one fetcher at a time */
long ingest_imap_poll(struct ingest_imap *im, struct tw_spool *sp)
{
    char lock[2200];
    snprintf(lock, sizeof lock, "%s/imap.lock", tw_spool_dir(sp));
    int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        tw_debug("imap: another fetcher holds %s", lock);
        if (lfd >= 0)
            close(lfd);
        return 0;
    }
    const char *folder = im->cfg->imap_processed;
    int move = folder && *folder;
    char cmd[600];
    if (move && !im->folder_made) {
        snprintf(cmd, sizeof cmd, "CREATE \"%s\"", folder);
        struct tw_buf ignore;
        tw_buf_init(&ignore, 1 << 16);
        CURLcode rc = request(im, im->url, cmd, to_buf, &ignore);
        tw_buf_free(&ignore);
        if (rc == CURLE_LOGIN_DENIED) {
            tw_error("imap: %s: login denied", im->url);
            close(lfd);
            return -1;
        }
        im->folder_made = 1; /* "already exists" is fine too */
    }
    unsigned long *uids = NULL;
    long n = search(im, &uids, (long)im->cfg->imap_batch), got = 0;
    int deleted = 0;
    for (long i = 0; i < n; i++) {
        if (fetch(im, sp, uids[i]) != TW_OK)
            break;
        got++;
        if (move)
            snprintf(cmd, sizeof cmd, "UID MOVE %lu \"%s\"", uids[i], folder);
        else
            snprintf(cmd, sizeof cmd, "UID STORE %lu +FLAGS.SILENT (\\Deleted)",
                     uids[i]);
        if (command(im, cmd, NULL) != TW_OK)
            tw_warn("imap: UID %lu spooled but not moved; it will be fetched "
                    "again (harmless)",
                    uids[i]);
        deleted += !move;
    }
    if (deleted && command(im, "EXPUNGE", NULL) != TW_OK)
        tw_warn("imap: EXPUNGE failed; deleted mail stays flagged");
    free(uids);
    flock(lfd, LOCK_UN);
    close(lfd);
    return n < 0 ? -1 : got;
}
