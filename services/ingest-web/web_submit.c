/*
 * web_submit.c - spool first, then the bus; the drain loop.
 *
 * DESIGN
 * ------
 * A request thread queues each submission for the spool thread and its
 * HTTP connection is suspended. The spool thread writes what has queued up
 * as one batch (tw_spool_put_many: one journal commit for many fsync'd
 * items - group commit, as the engine does for cases) and only then hands
 * the items to the bus thread: from then on each survives a crash of the
 * portal, and the member may be told it was received. The bus thread owns
 * the bus client (ZeroMQ sockets belong to one thread).
 *
 * The bus thread sends, matches replies by key, removes the spool item
 * when the engine has committed the case (or moves it to failed/ with the
 * reason when the engine refuses it for good), and wakes the waiting page.
 * A page that has waited reply_wait is woken with "queued": the item stays
 * with the bus client, which keeps resending it. Every drain_interval the
 * thread lists the spool and sends what it does not hold - items from
 * before a restart, or ones set aside while max_pending were in flight - so
 * the spool on disk is the truth and memory only a cache of it.
 *
 * Spool item: one line of JSON {"command":{...},"parts":[len,...]}, a
 * newline, then the attachment bytes back to back.
 */
#include "web.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "bus.h"
#include "error.h"
#include "log.h"
#include "mem.h"
#include "spool.h"

#define BUCKETS 4096

/* A submission handed from a request thread to the bus thread. */
struct inbox_item {
    char key[TW_KEY_MAX_WEB];
    char name[TW_SPOOL_NAME_MAX];
    json_t *command;
    struct tw_bus_part *parts; /* data owned */
    size_t nparts;
    struct web_waiter *waiter;
    char *head; /* the spool item's first line, until it is spooled */
    struct inbox_item *next;
};

/* A submission the bus client holds, by key. */
struct entry {
    char key[TW_KEY_MAX_WEB];
    char name[TW_SPOOL_NAME_MAX];
    struct web_waiter *waiter;
    tw_time deadline; /* monotonic, while a waiter waits */
    struct entry *next;
};

struct web_submitter {
    struct web *w;
    struct tw_spool *spool;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct inbox_item *inbox, **inbox_tail; /* under mu */
    int stop;                               /* under mu */
    atomic_llong engine_seen;               /* mono time of the last reply */
    /* the spool thread: request threads queue, it writes batches */
    pthread_t spool_thread;
    pthread_mutex_t smu;
    pthread_cond_t scv;
    struct inbox_item *squeue, **squeue_tail; /* under smu */
    int sstop;                                /* under smu */
    /* bus thread only */
    struct tw_bus_client *bus;
    struct entry *table[BUCKETS];
    struct entry **waiting; /* entries with a waiter */
    size_t nwaiting, capwaiting;
    tw_time next_drain;
};

/* hash - FNV-1a of KEY, a bucket index */
static size_t hash(const char *key)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % BUCKETS;
}

static struct entry *find(struct web_submitter *s, const char *key)
{
    for (struct entry *e = s->table[hash(key)]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* unlink_entry - take E out of the table and free it */
static void unlink_entry(struct web_submitter *s, struct entry *e)
{
    for (struct entry **p = &s->table[hash(e->key)]; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            break;
        }
    }
    free(e);
}

/* wait_add - remember that E has a waiter to wake */
static void wait_add(struct web_submitter *s, struct entry *e)
{
    if (s->nwaiting == s->capwaiting) {
        s->capwaiting = s->capwaiting ? 2 * s->capwaiting : 64;
        s->waiting = tw_realloc(s->waiting, s->capwaiting * sizeof *s->waiting);
    }
    s->waiting[s->nwaiting++] = e;
}

/* wait_remove - forget E's waiter slot */
static void wait_remove(struct web_submitter *s, struct entry *e)
{
    for (size_t i = 0; i < s->nwaiting; i++) {
        if (s->waiting[i] == e) {
            s->waiting[i] = s->waiting[--s->nwaiting];
            return;
        }
    }
}

/* wake - hand RESULT's outcome to the waiter W */
static void wake(struct web_waiter *w, enum web_outcome o)
{
    w->result.outcome = o;
    w->wake(w->arg);
}

/* on_reply - the bus client's callback: the final word on KEY */
static void on_reply(void *arg, const char *key, const json_t *reply)
{
    struct web_submitter *s = arg;
    struct entry *e = find(s, key);
    int ok = json_is_true(json_object_get(reply, "ok"));
    const char *err = json_string_value(json_object_get(reply, "error"));
    const char *msg = json_string_value(json_object_get(reply, "message"));

    if (ok || (err && strcmp(err, "timeout") != 0))
        atomic_store(&s->engine_seen, tw_clock_mono());
    if (!e)
        return;
    if (ok) {
        tw_spool_remove(s->spool, e->name);
    } else if (json_is_true(json_object_get(reply, "retry"))) {
        /* the client gave up (it never does with give_up 0): leave the item
         * for the drain */
    } else {
        char *why = tw_asprintf("%s: %s", err ? err : "error", msg ? msg : "");
        tw_warn("%s: engine refused the submission: %s", key, why);
        tw_spool_reject(s->spool, e->name, why);
        free(why);
    }
    if (e->waiter) {
        struct web_result *r = &e->waiter->result;
        const char *ref = json_string_value(json_object_get(reply, "case"));
        if (ref)
            snprintf(r->ref, sizeof r->ref, "%s", ref);
        snprintf(r->error, sizeof r->error, "%s", err ? err : "");
        snprintf(r->message, sizeof r->message, "%s", msg ? msg : "");
        const char *t;
        if ((t = json_string_value(json_object_get(reply, "received_at"))) &&
            tw_time_parse(t, &r->received_at) != TW_OK)
            r->received_at = 0;
        if ((t = json_string_value(json_object_get(reply, "sla_due_at"))) &&
            tw_time_parse(t, &r->due_at) != TW_OK)
            r->due_at = 0;
        r->verified = json_is_true(json_object_get(reply, "verified"));
        r->repeated = json_is_true(json_object_get(reply, "repeated"));
        wait_remove(s, e);
        wake(e->waiter, ok ? WEB_DONE
                        : json_is_true(json_object_get(reply, "retry"))
                            ? WEB_QUEUED
                            : WEB_REJECTED);
    }
    unlink_entry(s, e);
}

/* send_item - give KEY's command to the bus client and track it; WAITER
 * (may be NULL) is woken on the outcome. Takes COMMAND. */
static void send_item(struct web_submitter *s, const char *key,
                      const char *name, json_t *command,
                      const struct tw_bus_part *parts, size_t n,
                      struct web_waiter *waiter)
{
    struct entry *e = find(s, key);
    if (e) { /* the drain sent it already: just wait for it */
        json_decref(command);
        if (waiter) {
            e->waiter = waiter;
            e->deadline = tw_clock_mono() + s->w->cfg->reply_wait;
            wait_add(s, e);
        }
        return;
    }
    if ((int64_t)tw_bus_client_pending(s->bus) >= s->w->cfg->max_pending) {
        /* The spool keeps it; the drain sends it when there is room. */
        json_decref(command);
        if (waiter)
            wake(waiter, WEB_QUEUED);
        return;
    }
    if (tw_bus_client_submit(s->bus, command, parts, n) != TW_OK) {
        if (waiter)
            wake(waiter, WEB_QUEUED);
        return;
    }
    e = tw_calloc(1, sizeof *e);
    snprintf(e->key, sizeof e->key, "%s", key);
    snprintf(e->name, sizeof e->name, "%s", name);
    size_t h = hash(key);
    e->next = s->table[h];
    s->table[h] = e;
    if (waiter) {
        e->waiter = waiter;
        e->deadline = tw_clock_mono() + s->w->cfg->reply_wait;
        wait_add(s, e);
    }
}

/* parse_item - split a spool item into its command (new reference) and
 * attachment parts (pointing into DATA); TW_PERMFAIL if malformed */
static int parse_item(const char *data, size_t len, json_t **command,
                      struct tw_bus_part *parts, size_t max, size_t *n)
{
    const char *nl = memchr(data, '\n', len);
    if (!nl)
        return TW_PERMFAIL;
    json_t *wrap = json_loadb(data, (size_t)(nl - data), 0, NULL);
    json_t *cmd = json_object_get(wrap, "command");
    json_t *lens = json_object_get(wrap, "parts");
    size_t off = (size_t)(nl - data) + 1, i;
    json_t *v;
    if (!json_is_object(cmd) || !json_is_array(lens) ||
        json_array_size(lens) > max) {
        json_decref(wrap);
        return TW_PERMFAIL;
    }
    json_array_foreach(lens, i, v)
    {
        json_int_t l = json_integer_value(v);
        if (l < 0 || (size_t)l > len - off) {
            json_decref(wrap);
            return TW_PERMFAIL;
        }
        parts[i].data = data + off;
        parts[i].len = (size_t)l;
        off += (size_t)l;
    }
    *n = json_array_size(lens);
    *command = json_incref(cmd);
    json_decref(wrap);
    return TW_OK;
}

/* drain - send the spooled items the client does not hold */
static void drain(struct web_submitter *s)
{
    int64_t room =
        s->w->cfg->max_pending - (int64_t)tw_bus_client_pending(s->bus);
    if (room <= 0)
        return;
    char **names = NULL;
    long n = tw_spool_list(s->spool, 0, &names);
    long sent = 0;
    for (long i = 0; i < n && sent < room; i++) {
        char *data = NULL;
        size_t len = 0;
        size_t cap = (size_t)s->w->cfg->max_request + 65536;
        if (tw_spool_read(s->spool, names[i], &data, &len, cap) != TW_OK)
            continue;
        json_t *cmd = NULL;
        struct tw_bus_part parts[16];
        size_t np = 0;
        if (parse_item(data, len, &cmd, parts, 16, &np) != TW_OK) {
            tw_spool_reject(s->spool, names[i], "not a portal spool item");
            free(data);
            continue;
        }
        const char *key = json_string_value(json_object_get(cmd, "key"));
        if (!key || find(s, key)) {
            json_decref(cmd);
            free(data);
            continue;
        }
        char k[TW_KEY_MAX_WEB];
        snprintf(k, sizeof k, "%s", key);
        send_item(s, k, names[i], cmd, parts, np, NULL);
        sent++;
        free(data);
    }
    if (sent > 0)
        tw_info("spool: re-sent %ld waiting submission(s)", sent);
    tw_spool_names_free(&names);
}

/* item_free - an inbox item and what it owns */
static void item_free(struct inbox_item *it)
{
    json_decref(it->command);
    for (size_t i = 0; i < it->nparts; i++)
        free((void *)it->parts[i].data);
    free(it->parts);
    free(it->head);
    free(it);
}

/* take_inbox - move what the request threads handed over to the client */
static void take_inbox(struct web_submitter *s, struct inbox_item *list)
{
    while (list) {
        struct inbox_item *it = list;
        list = it->next;
        send_item(s, it->key, it->name, it->command, it->parts, it->nparts,
                  it->waiter);
        it->command = NULL; /* send_item took it */
        item_free(it);
    }
}

/* expire_waiters - wake the pages that have waited long enough */
static void expire_waiters(struct web_submitter *s, int all)
{
    tw_time now = tw_clock_mono();
    for (size_t i = 0; i < s->nwaiting;) {
        struct entry *e = s->waiting[i];
        if (all || now >= e->deadline) {
            struct web_waiter *w = e->waiter;
            e->waiter = NULL;
            s->waiting[i] = s->waiting[--s->nwaiting];
            wake(w, WEB_QUEUED);
        } else {
            i++;
        }
    }
}

/* run - the bus thread */
static void *run(void *arg)
{
    struct web_submitter *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        if (!s->inbox && !s->stop && s->nwaiting == 0 &&
            tw_bus_client_pending(s->bus) == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        }
        struct inbox_item *list = s->inbox;
        s->inbox = NULL;
        s->inbox_tail = &s->inbox;
        int stop = s->stop;
        pthread_mutex_unlock(&s->mu);

        take_inbox(s, list);
        if (stop) {
            expire_waiters(s, 1);
            break;
        }
        if (tw_bus_client_pending(s->bus) > 0)
            (void)tw_bus_client_poll(s->bus, s->nwaiting ? 1000 : 20000);
        expire_waiters(s, 0);
        if (tw_clock_mono() >= s->next_drain) {
            drain(s);
            s->next_drain = tw_clock_mono() + s->w->cfg->drain_interval;
        }
    }
    return NULL;
}

/* spool_batch - write LIST durably as one batch, then hand it to the bus
 * thread; on failure every waiter hears WEB_FAILED (nothing was kept) */
static void spool_batch(struct web_submitter *s, struct inbox_item *list)
{
    size_t n = 0, k = 0;
    for (struct inbox_item *it = list; it; it = it->next)
        n++;
    struct tw_spool_item *items = tw_calloc(n, sizeof *items);
    struct iovec *iov = tw_calloc(n * 18, sizeof *iov);
    char(*names)[TW_SPOOL_NAME_MAX] = tw_calloc(n, sizeof *names);
    for (struct inbox_item *it = list; it; it = it->next, k++) {
        struct iovec *v = &iov[k * 18];
        v[0].iov_base = it->head;
        v[0].iov_len = strlen(it->head);
        v[1].iov_base = (void *)"\n";
        v[1].iov_len = 1;
        for (size_t i = 0; i < it->nparts; i++) {
            v[2 + i].iov_base = (void *)it->parts[i].data;
            v[2 + i].iov_len = it->parts[i].len;
        }
        items[k].iov = v;
        items[k].n = (int)(2 + it->nparts);
    }
    tw_time t0 = tw_clock_mono();
    int ok = tw_spool_put_many(s->spool, items, n, names) == TW_OK;
    tw_debug("spool: %zu item(s) in %lld us", n,
             (long long)(tw_clock_mono() - t0));
    k = 0;
    for (struct inbox_item *it = list; it; it = it->next, k++) {
        snprintf(it->name, sizeof it->name, "%s", names[k]);
        free(it->head);
        it->head = NULL;
    }
    free(items);
    free(iov);
    free(names);
    if (!ok) {
        while (list) {
            struct inbox_item *it = list;
            list = it->next;
            wake(it->waiter, WEB_FAILED);
            item_free(it);
        }
        return;
    }
    pthread_mutex_lock(&s->mu);
    if (s->stop) { /* shutting down: they wait on disk for the next start */
        pthread_mutex_unlock(&s->mu);
        while (list) {
            struct inbox_item *it = list;
            list = it->next;
            wake(it->waiter, WEB_QUEUED);
            item_free(it);
        }
        return;
    }
    *s->inbox_tail = list;
    while (*s->inbox_tail)
        s->inbox_tail = &(*s->inbox_tail)->next;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* spool_run - the spool thread: batches until stopped and drained */
static void *spool_run(void *arg)
{
    struct web_submitter *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->smu);
        while (!s->squeue && !s->sstop)
            pthread_cond_wait(&s->scv, &s->smu);
        struct inbox_item *list = s->squeue;
        s->squeue = NULL;
        s->squeue_tail = &s->squeue;
        int stop = s->sstop;
        pthread_mutex_unlock(&s->smu);
        if (list)
            spool_batch(s, list);
        else if (stop)
            break;
    }
    return NULL;
}

struct web_submitter *web_submitter_new(struct web *w, const char *dir)
{
    struct web_submitter *s = tw_calloc(1, sizeof *s);
    s->w = w;
    s->spool = tw_spool_open(dir);
    if (!s->spool) {
        free(s);
        return NULL;
    }
    struct tw_bus_client_opts o;
    tw_bus_client_opts_default(&o);
    o.timeout = w->base->bus_request_timeout;
    o.window = (int)w->base->bus_window;
    o.backoff_max = w->base->bus_backoff_max;
    o.give_up = 0; /* never: the item is on disk and must reach the engine */
    s->bus = tw_bus_client_new(w->zctx, w->base->bus_intake, &o, on_reply, s);
    if (!s->bus) {
        tw_spool_close(&s->spool);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->smu, NULL);
    pthread_cond_init(&s->scv, NULL);
    s->inbox_tail = &s->inbox;
    s->squeue_tail = &s->squeue;
    s->next_drain = 0; /* at once: items from before a restart */
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        tw_bus_client_destroy(&s->bus);
        tw_spool_close(&s->spool);
        free(s);
        return NULL;
    }
    if (pthread_create(&s->spool_thread, NULL, spool_run, s) != 0) {
        web_submitter_stop(s);
        pthread_join(s->thread, NULL);
        tw_bus_client_destroy(&s->bus);
        tw_spool_close(&s->spool);
        free(s);
        return NULL;
    }
    return s;
}

void web_submitter_stop(struct web_submitter *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void web_submitter_destroy(struct web_submitter **sp)
{
    struct web_submitter *s = *sp;
    if (!s)
        return;
    pthread_mutex_lock(&s->smu);
    s->sstop = 1;
    pthread_cond_signal(&s->scv);
    pthread_mutex_unlock(&s->smu);
    pthread_join(s->spool_thread, NULL); /* spools what is queued */
    web_submitter_stop(s);
    pthread_join(s->thread, NULL);
    /* Whatever is still in flight stays spooled for the next start. */
    tw_bus_client_destroy(&s->bus);
    for (size_t i = 0; i < BUCKETS; i++) {
        while (s->table[i]) {
            struct entry *e = s->table[i];
            s->table[i] = e->next;
            free(e);
        }
    }
    free(s->waiting);
    tw_spool_close(&s->spool);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->smu);
    pthread_cond_destroy(&s->scv);
    free(s);
    *sp = NULL;
}

int web_submit(struct web_submitter *s, const json_t *command,
               const struct tw_bus_part *parts, size_t n, struct web_waiter *w)
{
    const char *key = json_string_value(json_object_get(command, "key"));
    if (!key || strlen(key) >= TW_KEY_MAX_WEB || n > 16)
        return TW_PERMFAIL;
    json_t *lens = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(lens, json_integer((json_int_t)parts[i].len));
    json_t *wrap = json_pack("{s:O, s:o}", "command", command, "parts", lens);
    struct inbox_item *it = tw_calloc(1, sizeof *it);
    it->head = json_dumps(wrap, JSON_COMPACT);
    json_decref(wrap);
    snprintf(it->key, sizeof it->key, "%s", key);
    it->command = json_deep_copy(command);
    it->nparts = n;
    it->parts = n ? tw_calloc(n, sizeof *it->parts) : NULL;
    for (size_t i = 0; i < n; i++) {
        void *copy = tw_malloc(parts[i].len ? parts[i].len : 1);
        memcpy(copy, parts[i].data, parts[i].len);
        it->parts[i].data = copy;
        it->parts[i].len = parts[i].len;
    }
    it->waiter = w;
    pthread_mutex_lock(&s->smu);
    *s->squeue_tail = it;
    s->squeue_tail = &it->next;
    pthread_cond_signal(&s->scv);
    pthread_mutex_unlock(&s->smu);
    return TW_OK;
}

long web_submitter_spooled(struct web_submitter *s)
{
    return tw_spool_count(s->spool);
}

int web_submitter_engine_up(struct web_submitter *s)
{
    tw_time seen = atomic_load(&s->engine_seen);
    return seen && tw_clock_mono() - seen < 60 * TW_SEC;
}
