/*
 * bus.c - the ZeroMQ bus: the engine's ROUTER and PUB, the clients' Lazy
 * Pirate DEALER with a window, and the event subscriber.
 *
 * DESIGN
 * ------
 * Server. A DEALER client sends [json][att...] with no empty delimiter, so
 * the ROUTER reads [identity][json][att...] and answers [identity][json].
 * ZMQ_MAXMSGSIZE at twice max_request is the hard memory cap (a bigger frame
 * makes libzmq drop the connection); a request between the two is read and
 * answered "too_large" with its key, so the client stops resending it.
 * ZMQ_ROUTER_MANDATORY makes a reply to a vanished client an error we log
 * instead of a silent drop; the client resends on its own anyway.
 *
 * Client. Every request lives in a hash table by key and on exactly one of
 * three lists: ready (never sent, FIFO), delayed (waiting for a resend time,
 * sorted by it) or flight (sent, oldest first). A fourth list holds every
 * request in submit order, so the oldest give-up deadline is its head.
 * Sending takes due delayed requests first (they are older), then ready
 * ones, while fewer than `window` are in flight. A send that would block
 * (ZMQ_IMMEDIATE: no peer yet, or the HWM) leaves the request where it is
 * and the next zmq_poll asks for POLLOUT. When the engine has been silent for
 * `timeout` since the oldest in-flight request went out, the DEALER is closed
 * and reopened (the replies owed to the old identity are lost) and everything
 * in flight is delayed by the client's backoff, which any reply resets. While
 * the engine keeps answering other requests it is alive, merely busy, so a
 * request is only taken as lost (and sent again, on the same socket) after
 * LOST_FACTOR timeouts: a deep backlog does not turn into a storm of resends. A
 * "retry":true reply delays just that request by its own backoff. The reply
 * callback runs after the request has left every list, so it may submit again.
 */
#include "bus.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"
#include "mem.h"

/* --- Shared helpers ------------------------------------------------------ */

/* utf8_clean - replace every byte of S that is not part of valid UTF-8 with
 * '?' in place, so a truncated or hostile message can still go into JSON */
static void utf8_clean(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t n = 0;
        if (*p < 0x80)
            n = 1;
        else if (*p >= 0xc2 && *p <= 0xdf)
            n = 2;
        else if (*p >= 0xe0 && *p <= 0xef)
            n = 3;
        else if (*p >= 0xf0 && *p <= 0xf4)
            n = 4;
        size_t i = 1;
        while (n && i < n && (p[i] & 0xc0) == 0x80)
            i++;
        if (n == 0 || i < n) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

/* json_text - compact serialization of J (caller frees); NULL on failure */
static char *json_text(const json_t *j, size_t *len)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (s && len)
        *len = strlen(s);
    return s;
}

/* set_int - zmq_setsockopt for an int option, logging a failure */
static int set_int(void *sock, int opt, int value)
{
    if (zmq_setsockopt(sock, opt, &value, sizeof value) != 0) {
        tw_error("bus: zmq_setsockopt(%d): %s", opt, zmq_strerror(errno));
        return TW_PERMFAIL;
    }
    return TW_OK;
}

/* drain_more - discard the rest of a multipart message on SOCK */
static void drain_more(void *sock)
{
    int more = 0;
    size_t sz = sizeof more;
    while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        int rc = zmq_msg_recv(&m, sock, 0);
        zmq_msg_close(&m);
        if (rc < 0)
            break;
        sz = sizeof more;
    }
}

/* --- Replies ------------------------------------------------------------- */

/* tw_bus_reply_ok - {"v":1,"key":KEY,"ok":true} plus FIELDS' members; the
 * envelope's own members win over FIELDS' */
json_t *tw_bus_reply_ok(const char *key, const json_t *fields)
{
    json_t *r = json_pack("{s:i,s:s?,s:b}", "v", 1, "key", key, "ok", 1);
    assert(r);
    if (fields && json_is_object(fields))
        json_object_update_missing(r, (json_t *)fields);
    return r;
}

/* tw_bus_reply_error - {"v":1,"key":KEY,"ok":false,"error":name,
 * "retry":bool,"message":text}; the message is cut at 1 KB and made valid
 * UTF-8 so the reply can always be built */
json_t *tw_bus_reply_error(const char *key, enum tw_errcode code,
                           const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    utf8_clean(msg);
    json_t *r = json_pack("{s:i,s:s?,s:b,s:s,s:b,s:s}", "v", 1, "key", key,
                          "ok", 0, "error", tw_errcode_name(code), "retry",
                          (int)tw_errcode_retry(code), "message", msg);
    assert(r);
    return r;
}

/* --- Server -------------------------------------------------------------- */

struct tw_bus_server {
    void *router; /* NULL when no intake was asked for */
    void *pub;    /* NULL when no events endpoint was asked for */
    size_t max_request;
};

/* bind_hint - what a person should check when a bind fails with ERR */
static const char *bind_hint(int err)
{
    return err == EADDRINUSE ? " (is another tawasul-engine running? "
                               "see bus.intake and bus.events)"
                             : "";
}

/* tw_bus_server_new - bind ROUTER on INTAKE and PUB on EVENTS */
struct tw_bus_server *tw_bus_server_new(void *zctx, const char *intake,
                                        const char *events, size_t max_request)
{
    struct tw_bus_server *s = tw_calloc(1, sizeof *s);
    s->max_request = max_request;
    if (intake) {
        s->router = zmq_socket(zctx, ZMQ_ROUTER);
        if (!s->router) {
            tw_error("bus: zmq_socket(ROUTER): %s", zmq_strerror(errno));
            goto fail;
        }
        int64_t cap = max_request && max_request <= INT64_MAX / 2
                          ? (int64_t)max_request * 2
                          : -1;
        if (set_int(s->router, ZMQ_ROUTER_MANDATORY, 1) != TW_OK ||
            set_int(s->router, ZMQ_LINGER, 100) != TW_OK)
            goto fail;
        if (zmq_setsockopt(s->router, ZMQ_MAXMSGSIZE, &cap, sizeof cap)) {
            tw_error("bus: ZMQ_MAXMSGSIZE: %s", zmq_strerror(errno));
            goto fail;
        }
        if (zmq_bind(s->router, intake) != 0) {
            tw_error("bus: cannot bind intake %s: %s%s", intake,
                     zmq_strerror(errno), bind_hint(errno));
            goto fail;
        }
    }
    if (events) {
        s->pub = zmq_socket(zctx, ZMQ_PUB);
        if (!s->pub) {
            tw_error("bus: zmq_socket(PUB): %s", zmq_strerror(errno));
            goto fail;
        }
        if (set_int(s->pub, ZMQ_LINGER, 100) != TW_OK)
            goto fail;
        if (zmq_bind(s->pub, events) != 0) {
            tw_error("bus: cannot bind events %s: %s%s", events,
                     zmq_strerror(errno), bind_hint(errno));
            goto fail;
        }
    }
    return s;
fail:
    tw_bus_server_destroy(&s);
    return NULL;
}

/* tw_bus_server_destroy - close the sockets; NULL-safe; nulls *S */
void tw_bus_server_destroy(struct tw_bus_server **s)
{
    if (!s || !*s)
        return;
    if ((*s)->router)
        zmq_close((*s)->router);
    if ((*s)->pub)
        zmq_close((*s)->pub);
    free(*s);
    *s = NULL;
}

/* tw_bus_server_socket - the ROUTER, for zmq_poll */
void *tw_bus_server_socket(struct tw_bus_server *s)
{
    return s->router;
}

/* tw_bus_request_destroy - NULL-safe; nulls *REQ */
void tw_bus_request_destroy(struct tw_bus_request **req)
{
    if (!req || !*req)
        return;
    struct tw_bus_request *r = *req;
    for (size_t i = 0; i < r->nparts; i++)
        free((void *)r->parts[i].data);
    free(r->parts);
    free(r->command);
    free(r->identity);
    free(r);
    *req = NULL;
}

/* msg_dup - a copy of a frame's bytes plus a NUL (caller frees) */
static void *msg_dup(zmq_msg_t *m)
{
    size_t n = zmq_msg_size(m);
    char *p = tw_malloc(n + 1);
    if (n)
        memcpy(p, zmq_msg_data(m), n);
    p[n] = '\0';
    return p;
}

/* read_request - read the rest of a message whose identity frame is ID
 * into a new request. Returns TW_OK, TW_TEMPFAIL when no frame follows the
 * identity, TW_PERMFAIL on a receive error. */
static int read_request(struct tw_bus_server *s, zmq_msg_t *id,
                        struct tw_bus_request **out)
{
    int rc = TW_PERMFAIL;
    struct tw_bus_request *r = tw_calloc(1, sizeof *r);
    size_t cap_parts = 0;
    zmq_msg_t m;
    zmq_msg_init(&m);

    r->identity_len = zmq_msg_size(id);
    r->identity = msg_dup(id);
    if (!zmq_msg_more(id)) {
        rc = TW_TEMPFAIL;
        goto out;
    }
    for (int first = 1;; first = 0) {
        if (zmq_msg_recv(&m, s->router, 0) < 0) {
            tw_error("bus: receive: %s", zmq_strerror(errno));
            goto out;
        }
        size_t len = zmq_msg_size(&m);
        r->total_len += len;
        if (first) {
            r->command = msg_dup(&m);
            r->command_len = len;
        } else {
            if (r->nparts == cap_parts) {
                cap_parts = cap_parts ? cap_parts * 2 : 4;
                r->parts = tw_realloc(r->parts, cap_parts * sizeof *r->parts);
            }
            r->parts[r->nparts].data = msg_dup(&m);
            r->parts[r->nparts].len = len;
            r->nparts++;
        }
        if (!zmq_msg_more(&m))
            break;
    }
    rc = TW_OK;
out:
    zmq_msg_close(&m);
    if (rc == TW_OK)
        *out = r;
    else
        tw_bus_request_destroy(&r);
    return rc;
}

/* request_key - the "key" of a request's command if it can be read, for
 * error replies (copied into BUF of SIZE bytes); NULL otherwise */
static const char *request_key(const struct tw_bus_request *r, char *buf,
                               size_t size)
{
    const char *key = NULL;
    json_t *j = json_loadb(r->command, r->command_len, 0, NULL);
    json_t *k = json_object_get(j, "key");
    if (json_is_string(k) && json_string_length(k) < size) {
        memcpy(buf, json_string_value(k), json_string_length(k) + 1);
        key = buf;
    }
    json_decref(j);
    return key;
}

/* tw_bus_server_recv - take one waiting request without blocking; requests
 * with no command frame are dropped and oversize ones answered here */
int tw_bus_server_recv(struct tw_bus_server *s, struct tw_bus_request **req)
{
    int rc = TW_TEMPFAIL;
    zmq_msg_t id;
    zmq_msg_init(&id);
    *req = NULL;
    for (;;) {
        if (zmq_msg_recv(&id, s->router, ZMQ_DONTWAIT) < 0) {
            if (errno != EAGAIN && errno != EINTR)
                tw_error("bus: receive: %s", zmq_strerror(errno));
            goto out;
        }
        struct tw_bus_request *r = NULL;
        int got = read_request(s, &id, &r);
        if (got == TW_TEMPFAIL) {
            tw_warn("bus: dropped a request with no command frame");
            tw_bus_request_destroy(&r);
            continue;
        }
        if (got != TW_OK)
            goto out;
        if (s->max_request && r->total_len > s->max_request) {
            char kbuf[256];
            const char *key = request_key(r, kbuf, sizeof kbuf);
            tw_warn("%s: request of %zu bytes over the %zu-byte limit",
                    key ? key : "(no key)", r->total_len, s->max_request);
            json_t *e = tw_bus_reply_error(
                key, TW_E_TOO_LARGE,
                "request of %zu bytes is over the %zu-byte limit", r->total_len,
                s->max_request);
            (void)tw_bus_server_reply(s, r, e);
            json_decref(e);
            tw_bus_request_destroy(&r);
            continue;
        }
        *req = r;
        rc = TW_OK;
        goto out;
    }
out:
    zmq_msg_close(&id);
    return rc;
}

/* tw_bus_server_reply - send REPLY to the request's sender without
 * blocking. A vanished sender (EHOSTUNREACH) is logged at debug and counts
 * as done: the client resends on its own. TW_TEMPFAIL when the peer's queue
 * is full or the send fails. */
int tw_bus_server_reply(struct tw_bus_server *s,
                        const struct tw_bus_request *req, const json_t *reply)
{
    int rc = TW_TEMPFAIL;
    size_t len = 0;
    char *text = json_text(reply, &len);
    if (!text) {
        tw_error("bus: cannot serialize a reply");
        goto out;
    }
    if (zmq_send(s->router, req->identity, req->identity_len,
                 ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        if (errno == EHOSTUNREACH) {
            tw_debug("bus: reply to a client that has gone: %.200s", text);
            rc = TW_OK;
        } else {
            tw_warn("bus: cannot reply: %s", zmq_strerror(errno));
        }
        goto out;
    }
    if (zmq_send(s->router, text, len, ZMQ_DONTWAIT) < 0) {
        tw_warn("bus: cannot reply: %s", zmq_strerror(errno));
        goto out;
    }
    rc = TW_OK;
out:
    free(text);
    return rc;
}

/* tw_bus_publish - [TOPIC][json] on the PUB; drops (as PUB does) when no
 * subscriber keeps up, which is fine for hints */
int tw_bus_publish(struct tw_bus_server *s, const char *topic,
                   const json_t *body)
{
    int rc = TW_TEMPFAIL;
    size_t len = 0;
    char *text = NULL;
    if (!s->pub)
        goto out;
    text = json_text(body, &len);
    if (!text)
        goto out;
    if (zmq_send(s->pub, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) <
            0 ||
        zmq_send(s->pub, text, len, ZMQ_DONTWAIT) < 0) {
        tw_warn("bus: cannot publish %s: %s", topic, zmq_strerror(errno));
        goto out;
    }
    rc = TW_OK;
out:
    free(text);
    return rc;
}

/* --- Client -------------------------------------------------------------- */

enum req_state { REQ_READY, REQ_DELAYED, REQ_FLIGHT };

/* A doubly linked list threaded through struct req by one of two links. */
struct req_list {
    struct req *head, *tail;
    size_t n;
};

struct req_link {
    struct req *prev, *next;
};

struct req {
    char *key;
    char *text; /* the command, serialized once */
    size_t text_len;
    struct tw_bus_part *parts; /* copies */
    size_t nparts;
    tw_time submitted; /* monotonic */
    tw_time sent_at;   /* monotonic, while in flight */
    tw_time due;       /* monotonic, while delayed */
    enum req_state state;
    struct tw_backoff backoff; /* for "retry":true replies */
    json_t *last_temp;         /* last temporary error reply, or NULL */
    struct req_link q;         /* on ready, delayed or flight */
    struct req_link all;       /* on the submit-order list */
    struct req *hnext;         /* hash chain */
};

/* How many timeouts a request may wait while the engine answers others. */
#define LOST_FACTOR 4

struct tw_bus_client {
    tw_time heard; /* monotonic time of the last reply from the engine */
    void *zctx;
    void *sock;
    char *endpoint;
    struct tw_bus_client_opts o;
    tw_bus_reply_fn fn;
    void *arg;
    struct req **buckets;
    size_t nbuckets, count;
    struct req_list ready, delayed, flight, all;
    struct tw_backoff backoff; /* for reconnects; reset on any reply */
    int blocked;               /* the last send hit EAGAIN */
    int finished;              /* callbacks made in this poll */
    int in_callback;
};

/* tw_bus_client_opts_default - 3s timeout, window 64, 100ms..30s, never */
void tw_bus_client_opts_default(struct tw_bus_client_opts *o)
{
    o->timeout = 3 * TW_SEC;
    o->window = 64;
    o->backoff_min = 100 * TW_MSEC;
    o->backoff_max = 30 * TW_SEC;
    o->give_up = 0;
}

/* link_of - the link of R that list L uses */
static struct req_link *link_of(struct tw_bus_client *c,
                                const struct req_list *l, struct req *r)
{
    return l == &c->all ? &r->all : &r->q;
}

/* list_insert_after - put R into L after AT (NULL: at the head) */
static void list_insert_after(struct tw_bus_client *c, struct req_list *l,
                              struct req *at, struct req *r)
{
    struct req_link *lr = link_of(c, l, r);
    struct req *next = at ? link_of(c, l, at)->next : l->head;
    lr->prev = at;
    lr->next = next;
    if (at)
        link_of(c, l, at)->next = r;
    else
        l->head = r;
    if (next)
        link_of(c, l, next)->prev = r;
    else
        l->tail = r;
    l->n++;
}

/* list_remove - take R out of L */
static void list_remove(struct tw_bus_client *c, struct req_list *l,
                        struct req *r)
{
    struct req_link *lr = link_of(c, l, r);
    if (lr->prev)
        link_of(c, l, lr->prev)->next = lr->next;
    else
        l->head = lr->next;
    if (lr->next)
        link_of(c, l, lr->next)->prev = lr->prev;
    else
        l->tail = lr->prev;
    lr->prev = lr->next = NULL;
    l->n--;
}

/* state_list - the list a request in STATE lives on */
static struct req_list *state_list(struct tw_bus_client *c,
                                   enum req_state state)
{
    switch (state) {
    case REQ_READY:
        return &c->ready;
    case REQ_DELAYED:
        return &c->delayed;
    case REQ_FLIGHT:
        break;
    }
    return &c->flight;
}

/* delay - move R (off its list) onto the delayed list, due at DUE; the list
 * stays sorted by due time, equal times in arrival order */
static void delay(struct tw_bus_client *c, struct req *r, tw_time due)
{
    struct req *at = c->delayed.tail;
    while (at && at->due > due)
        at = at->q.prev;
    r->state = REQ_DELAYED;
    r->due = due;
    list_insert_after(c, &c->delayed, at, r);
}

/* hash_key - FNV-1a */
static size_t hash_key(const char *s)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    return (size_t)h;
}

/* table_find - the request with KEY, or NULL; *SLOT_P (if asked) gets the
 * slot that points at it, or where it would go */
static struct req *table_find(struct tw_bus_client *c, const char *key,
                              struct req ***slot_p)
{
    struct req **slot = &c->buckets[hash_key(key) & (c->nbuckets - 1)];
    while (*slot && strcmp((*slot)->key, key) != 0)
        slot = &(*slot)->hnext;
    if (slot_p)
        *slot_p = slot;
    return *slot;
}

/* table_grow - double the buckets once there are more requests than them */
static void table_grow(struct tw_bus_client *c)
{
    size_t n = c->nbuckets * 2;
    struct req **b = tw_calloc(n, sizeof *b);
    for (size_t i = 0; i < c->nbuckets; i++) {
        struct req *r = c->buckets[i];
        while (r) {
            struct req *next = r->hnext;
            size_t h = hash_key(r->key) & (n - 1);
            r->hnext = b[h];
            b[h] = r;
            r = next;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = n;
}

/* req_free - release R (already out of the table and every list) */
static void req_free(struct req *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nparts; i++)
        free((void *)r->parts[i].data);
    free(r->parts);
    free(r->text);
    free(r->key);
    json_decref(r->last_temp);
    free(r);
}

/* req_detach - take R out of the table and its lists */
static void req_detach(struct tw_bus_client *c, struct req *r)
{
    struct req **slot = NULL;
    table_find(c, r->key, &slot);
    assert(*slot == r);
    *slot = r->hnext;
    r->hnext = NULL;
    c->count--;
    list_remove(c, state_list(c, r->state), r);
    list_remove(c, &c->all, r);
}

/* finish - R has its final REPLY: detach it, then call back (the callback
 * may submit, even the same key again) */
static void finish(struct tw_bus_client *c, struct req *r, const json_t *reply)
{
    req_detach(c, r);
    c->finished++;
    c->in_callback++;
    if (c->fn)
        c->fn(c->arg, r->key, reply);
    c->in_callback--;
    req_free(r);
}

/* socket_open - a fresh DEALER connected to the endpoint */
static int socket_open(struct tw_bus_client *c)
{
    c->sock = zmq_socket(c->zctx, ZMQ_DEALER);
    if (!c->sock) {
        tw_error("bus: zmq_socket(DEALER): %s", zmq_strerror(errno));
        return TW_PERMFAIL;
    }
    if (set_int(c->sock, ZMQ_LINGER, 0) != TW_OK ||
        set_int(c->sock, ZMQ_IMMEDIATE, 1) != TW_OK ||
        set_int(c->sock, ZMQ_HEARTBEAT_IVL, 2000) != TW_OK ||
        set_int(c->sock, ZMQ_HEARTBEAT_TIMEOUT, 6000) != TW_OK ||
        set_int(c->sock, ZMQ_RECONNECT_IVL, 100) != TW_OK ||
        set_int(c->sock, ZMQ_RECONNECT_IVL_MAX, 2000) != TW_OK)
        return TW_PERMFAIL;
    if (zmq_connect(c->sock, c->endpoint) != 0) {
        tw_error("bus: cannot connect to %s: %s", c->endpoint,
                 zmq_strerror(errno));
        return TW_PERMFAIL;
    }
    c->blocked = 0;
    return TW_OK;
}

/* reconnect - the oldest request timed out: new socket, and everything in
 * flight is resent after the client's backoff delay */
static int reconnect(struct tw_bus_client *c, tw_time now)
{
    tw_time wait = tw_backoff_next(&c->backoff);
    tw_warn("bus: no reply from %s in %lldms; reconnecting, %zu request(s) "
            "to resend in %lldms",
            c->endpoint, (long long)(c->o.timeout / TW_MSEC), c->flight.n,
            (long long)(wait / TW_MSEC));
    zmq_close(c->sock);
    c->sock = NULL;
    while (c->flight.head) {
        struct req *r = c->flight.head;
        list_remove(c, &c->flight, r);
        delay(c, r, now + wait);
    }
    return socket_open(c);
}

/* send_one - send R's frames without blocking; TW_TEMPFAIL when the socket
 * would block (nothing was sent) */
static int send_one(struct tw_bus_client *c, struct req *r)
{
    int more = r->nparts ? ZMQ_SNDMORE : 0;
    if (zmq_send(c->sock, r->text, r->text_len, ZMQ_DONTWAIT | more) < 0) {
        if (errno != EAGAIN)
            tw_warn("%s: bus send: %s", r->key, zmq_strerror(errno));
        return TW_TEMPFAIL;
    }
    /* Once the first frame is queued, the rest of the message follows it
     * into the same pipe and cannot meet the HWM. */
    for (size_t i = 0; i < r->nparts; i++) {
        more = i + 1 < r->nparts ? ZMQ_SNDMORE : 0;
        if (zmq_send(c->sock, r->parts[i].data, r->parts[i].len, more) < 0) {
            tw_warn("%s: bus send: %s", r->key, zmq_strerror(errno));
            break;
        }
    }
    return TW_OK;
}

/* pump - send due delayed requests, then ready ones, while the window has
 * room and the socket takes them */
static void pump(struct tw_bus_client *c, tw_time now)
{
    c->blocked = 0;
    while (c->flight.n < (size_t)c->o.window) {
        struct req *r = NULL;
        if (c->delayed.head && c->delayed.head->due <= now)
            r = c->delayed.head;
        else if (c->ready.head)
            r = c->ready.head;
        else
            break;
        if (send_one(c, r) != TW_OK) {
            c->blocked = 1;
            break;
        }
        list_remove(c, state_list(c, r->state), r);
        r->state = REQ_FLIGHT;
        r->sent_at = now;
        list_insert_after(c, &c->flight, c->flight.tail, r);
    }
}

/* give_up_reply - the reply reported when R's give-up time passes: its
 * last temporary error if it had one, else a synthesized "timeout" */
static json_t *give_up_reply(struct tw_bus_client *c, const struct req *r)
{
    char d[32];
    if (r->last_temp)
        return json_incref(r->last_temp);
    tw_duration_format(c->o.give_up, d, sizeof d);
    return tw_bus_reply_error(r->key, TW_E_TIMEOUT,
                              "no reply from the engine at %s within %s",
                              c->endpoint, d);
}

/* expire - report every request whose give-up time has passed */
static void expire(struct tw_bus_client *c, tw_time now)
{
    if (c->o.give_up <= 0)
        return;
    while (c->all.head && now - c->all.head->submitted > c->o.give_up) {
        struct req *r = c->all.head;
        char d[32];
        tw_warn("%s: giving up after %s without a final reply", r->key,
                tw_duration_format(c->o.give_up, d, sizeof d));
        json_t *reply = give_up_reply(c, r);
        finish(c, r, reply);
        json_decref(reply);
    }
}

/* handle_reply - match one reply frame to its request */
static void handle_reply(struct tw_bus_client *c, const char *data, size_t len,
                         tw_time now)
{
    json_error_t err;
    json_t *reply = json_loadb(data, len, 0, &err);
    json_t *k = json_object_get(reply, "key");
    if (!json_is_object(reply) || !json_is_string(k)) {
        tw_warn("bus: ignored a reply from %s that is %s", c->endpoint,
                reply ? "missing its key" : "not JSON");
        goto out;
    }
    tw_backoff_reset(&c->backoff);
    c->heard = now;
    const char *key = json_string_value(k);
    struct req *r = table_find(c, key, NULL);
    if (!r) {
        tw_debug("%s: ignored a reply for a request already finished", key);
        goto out;
    }
    int ok = json_is_true(json_object_get(reply, "ok"));
    int retry = json_is_true(json_object_get(reply, "retry"));
    if (!ok && retry) {
        if (r->state != REQ_FLIGHT) {
            tw_debug("%s: ignored a stale retry reply", key);
            goto out;
        }
        json_decref(r->last_temp);
        r->last_temp = json_incref(reply);
        tw_time wait = tw_backoff_next(&r->backoff);
        const char *e = json_string_value(json_object_get(reply, "error"));
        tw_debug("%s: engine says %s; resending in %lldms", key,
                 e ? e : "retry", (long long)(wait / TW_MSEC));
        list_remove(c, &c->flight, r);
        delay(c, r, now + wait);
        goto out;
    }
    finish(c, r, reply);
out:
    json_decref(reply);
}

/* receive_all - read every reply waiting on the socket */
static void receive_all(struct tw_bus_client *c, tw_time now)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (;;) {
        if (zmq_msg_recv(&m, c->sock, ZMQ_DONTWAIT) < 0)
            break;
        if (zmq_msg_more(&m)) {
            tw_warn("bus: ignored a multipart reply from %s", c->endpoint);
            drain_more(c->sock);
            continue;
        }
        handle_reply(c, zmq_msg_data(&m), zmq_msg_size(&m), now);
    }
    zmq_msg_close(&m);
}

/* silent_at - when the engine counts as gone for R: `timeout` after the
 * later of R's sending and the last reply heard */
static tw_time silent_at(const struct tw_bus_client *c, const struct req *r)
{
    return (r->sent_at > c->heard ? r->sent_at : c->heard) + c->o.timeout;
}

/* flight_due - when the oldest request in flight next needs attention */
static tw_time flight_due(const struct tw_bus_client *c)
{
    const struct req *r = c->flight.head;
    tw_time lost = r->sent_at + LOST_FACTOR * c->o.timeout;
    tw_time silent = silent_at(c, r);
    return silent < lost ? silent : lost;
}

/* resend_lost - the engine is answering, but not these: send them again */
static void resend_lost(struct tw_bus_client *c, tw_time now)
{
    struct req *r;
    while ((r = c->flight.head) &&
           now - r->sent_at >= LOST_FACTOR * c->o.timeout) {
        tw_warn("%s: no reply in %lldms while the engine answers others; "
                "sending it again",
                r->key, (long long)((now - r->sent_at) / TW_MSEC));
        list_remove(c, &c->flight, r);
        delay(c, r, now);
    }
}

/* tick - the work that depends on time only: give up, time out, send */
static int tick(struct tw_bus_client *c, tw_time now)
{
    expire(c, now);
    if (c->flight.head && now >= flight_due(c)) {
        if (now >= silent_at(c, c->flight.head)) {
            if (reconnect(c, now) != TW_OK)
                return TW_PERMFAIL;
        } else {
            resend_lost(c, now);
        }
    }
    pump(c, now);
    return TW_OK;
}

/* next_wait - microseconds until something is due, at most LIMIT (LIMIT < 0:
 * no limit; the result is then -1 when nothing is due) */
static int64_t next_wait(struct tw_bus_client *c, tw_time now, int64_t limit)
{
    int64_t w = limit;
    int64_t d;
    if (c->flight.head) {
        d = flight_due(c) - now;
        w = w < 0 || d < w ? d : w;
    }
    /* A due request that could not be sent waits for POLLOUT instead. */
    if (c->delayed.head && !c->blocked && c->flight.n < (size_t)c->o.window) {
        d = c->delayed.head->due - now;
        w = w < 0 || d < w ? d : w;
    }
    if (c->o.give_up > 0 && c->all.head) {
        d = c->all.head->submitted + c->o.give_up - now + 1;
        w = w < 0 || d < w ? d : w;
    }
    if (w != -1 && w < 0)
        w = 0;
    return w;
}

/* tw_bus_client_new - a client for ENDPOINT */
struct tw_bus_client *tw_bus_client_new(void *zctx, const char *endpoint,
                                        const struct tw_bus_client_opts *o,
                                        tw_bus_reply_fn fn, void *arg)
{
    struct tw_bus_client *c = tw_calloc(1, sizeof *c);
    c->zctx = zctx;
    c->endpoint = tw_strdup(endpoint);
    if (o)
        c->o = *o;
    else
        tw_bus_client_opts_default(&c->o);
    if (c->o.window < 1)
        c->o.window = 1;
    if (c->o.timeout <= 0)
        c->o.timeout = 3 * TW_SEC;
    c->fn = fn;
    c->arg = arg;
    c->nbuckets = 64;
    c->buckets = tw_calloc(c->nbuckets, sizeof *c->buckets);
    tw_backoff_init(&c->backoff, c->o.backoff_min, c->o.backoff_max);
    if (socket_open(c) != TW_OK)
        tw_bus_client_destroy(&c);
    return c;
}

/* tw_bus_client_destroy - close; unanswered requests are dropped */
void tw_bus_client_destroy(struct tw_bus_client **cp)
{
    if (!cp || !*cp)
        return;
    struct tw_bus_client *c = *cp;
    assert(!c->in_callback);
    while (c->all.head) {
        struct req *r = c->all.head;
        req_detach(c, r);
        req_free(r);
    }
    if (c->sock)
        zmq_close(c->sock);
    free(c->buckets);
    free(c->endpoint);
    free(c);
    *cp = NULL;
}

/* tw_bus_client_submit - queue COMMAND (reference taken, even on failure)
 * with N attachment PARTS (copied) */
int tw_bus_client_submit(struct tw_bus_client *c, json_t *command,
                         const struct tw_bus_part *parts, size_t n)
{
    int rc = TW_PERMFAIL;
    struct req *r = NULL;
    const char *key = json_string_value(json_object_get(command, "key"));
    if (!key || !*key) {
        tw_warn("bus: a command without a key was not sent");
        goto out;
    }
    if (table_find(c, key, NULL)) {
        tw_warn("%s: already queued; not sent twice", key);
        goto out;
    }
    r = tw_calloc(1, sizeof *r);
    r->text = json_text(command, &r->text_len);
    if (!r->text) {
        tw_warn("%s: cannot serialize the command", key);
        goto out;
    }
    r->key = tw_strdup(key);
    if (n) {
        r->parts = tw_calloc(n, sizeof *r->parts);
        for (size_t i = 0; i < n; i++) {
            void *p = tw_malloc(parts[i].len);
            if (parts[i].len)
                memcpy(p, parts[i].data, parts[i].len);
            r->parts[i].data = p;
            r->parts[i].len = parts[i].len;
        }
        r->nparts = n;
    }
    r->submitted = tw_clock_mono();
    tw_backoff_init(&r->backoff, c->o.backoff_min, c->o.backoff_max);
    struct req **slot = NULL;
    table_find(c, r->key, &slot);
    *slot = r;
    r->state = REQ_READY;
    list_insert_after(c, &c->ready, c->ready.tail, r);
    list_insert_after(c, &c->all, c->all.tail, r);
    if (++c->count > c->nbuckets)
        table_grow(c);
    r = NULL;
    rc = TW_OK;
out:
    req_free(r);
    json_decref(command);
    return rc;
}

/* tw_bus_client_pending - requests queued or in flight */
size_t tw_bus_client_pending(const struct tw_bus_client *c)
{
    return c->count;
}

/* tw_bus_client_poll - one round: send, wait up to TIMEOUT usec (< 0: until
 * something happens), take replies, resend or give up what is due */
int tw_bus_client_poll(struct tw_bus_client *c, int64_t timeout)
{
    int rc = TW_OK;
    assert(!c->in_callback);
    c->finished = 0;
    tw_time now = tw_clock_mono();
    if (tick(c, now) != TW_OK) {
        rc = TW_TEMPFAIL;
        goto out;
    }
    int64_t wait = next_wait(c, now, timeout);
    zmq_pollitem_t item = {.socket = c->sock, .events = ZMQ_POLLIN};
    if (c->blocked)
        item.events |= ZMQ_POLLOUT;
    long ms = wait < 0 ? -1 : (long)((wait + TW_MSEC - 1) / TW_MSEC);
    if (zmq_poll(&item, 1, ms) < 0) {
        if (errno == EINTR) {
            rc = TW_TEMPFAIL;
            goto out;
        }
        tw_error("bus: zmq_poll: %s", zmq_strerror(errno));
        rc = TW_TEMPFAIL;
        goto out;
    }
    now = tw_clock_mono();
    if (item.revents & ZMQ_POLLIN)
        receive_all(c, now);
    if (tick(c, now) != TW_OK)
        rc = TW_TEMPFAIL;
out:
    return rc == TW_OK ? c->finished : rc;
}

/* call_done - tw_bus_call's callback: keep a copy of the reply */
static void call_done(void *arg, const char *key, const json_t *reply)
{
    (void)key;
    json_t **out = arg;
    *out = json_deep_copy(reply);
}

/* tw_bus_call - one request, waited for; COMMAND's reference is taken.
 * NULL if it could not be sent or a signal interrupted the wait. */
json_t *tw_bus_call(void *zctx, const char *endpoint,
                    const struct tw_bus_client_opts *o, json_t *command,
                    const struct tw_bus_part *parts, size_t n)
{
    json_t *reply = NULL;
    struct tw_bus_client *c =
        tw_bus_client_new(zctx, endpoint, o, call_done, &reply);
    if (!c) {
        json_decref(command);
        goto out;
    }
    if (tw_bus_client_submit(c, command, parts, n) != TW_OK)
        goto out;
    while (!reply && tw_bus_client_pending(c) > 0) {
        if (tw_bus_client_poll(c, -1) < 0)
            break;
    }
out:
    tw_bus_client_destroy(&c);
    return reply;
}

/* --- Events -------------------------------------------------------------- */

/* tw_bus_subscriber_new - a SUB on ENDPOINT for topics starting PREFIX */
void *tw_bus_subscriber_new(void *zctx, const char *endpoint,
                            const char *prefix)
{
    void *sub = zmq_socket(zctx, ZMQ_SUB);
    if (!sub) {
        tw_error("bus: zmq_socket(SUB): %s", zmq_strerror(errno));
        goto fail;
    }
    if (set_int(sub, ZMQ_LINGER, 0) != TW_OK ||
        set_int(sub, ZMQ_HEARTBEAT_IVL, 2000) != TW_OK ||
        set_int(sub, ZMQ_HEARTBEAT_TIMEOUT, 6000) != TW_OK ||
        set_int(sub, ZMQ_RECONNECT_IVL, 100) != TW_OK ||
        set_int(sub, ZMQ_RECONNECT_IVL_MAX, 2000) != TW_OK)
        goto fail;
    prefix = prefix ? prefix : "";
    if (zmq_setsockopt(sub, ZMQ_SUBSCRIBE, prefix, strlen(prefix)) != 0) {
        tw_error("bus: subscribe: %s", zmq_strerror(errno));
        goto fail;
    }
    if (zmq_connect(sub, endpoint) != 0) {
        tw_error("bus: cannot connect to %s: %s", endpoint,
                 zmq_strerror(errno));
        goto fail;
    }
    return sub;
fail:
    if (sub)
        zmq_close(sub);
    return NULL;
}

/* tw_bus_event_recv - read one event without blocking; malformed events
 * (not [topic][json]) are skipped with a warning */
int tw_bus_event_recv(void *sub, char **topic, json_t **body)
{
    int rc = TW_TEMPFAIL;
    zmq_msg_t t, b;
    zmq_msg_init(&t);
    zmq_msg_init(&b);
    *topic = NULL;
    *body = NULL;
    for (;;) {
        if (zmq_msg_recv(&t, sub, ZMQ_DONTWAIT) < 0)
            goto out;
        if (!zmq_msg_more(&t)) {
            tw_warn("bus: ignored an event without a body");
            continue;
        }
        if (zmq_msg_recv(&b, sub, 0) < 0)
            goto out;
        if (zmq_msg_more(&b))
            drain_more(sub);
        json_t *j = json_loadb(zmq_msg_data(&b), zmq_msg_size(&b), 0, NULL);
        if (!j) {
            tw_warn("bus: ignored an event whose body is not JSON");
            continue;
        }
        *topic = tw_strndup(zmq_msg_data(&t), zmq_msg_size(&t));
        *body = j;
        rc = TW_OK;
        goto out;
    }
out:
    zmq_msg_close(&t);
    zmq_msg_close(&b);
    return rc;
}
