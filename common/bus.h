/*
 * bus.h - the ZeroMQ bus between the ingest services, the CLI and the engine.
 *
 * The engine binds a ROUTER on bus.intake and a PUB on bus.events. A request
 * is multipart: frame 1 a JSON command carrying "v":1, "op" and an
 * idempotency "key"; frames 2..n attachment bytes. The engine answers each
 * request with one JSON frame, only after COMMIT (DESIGN.md "The bus").
 *
 * The client is Lazy Pirate with a window (zguide chapter 4): a DEALER keeps
 * up to `window` requests in flight, matched to replies by key. When the
 * oldest has waited `timeout` with no reply, the socket is closed and
 * reopened and everything in flight is resent with the same keys after a
 * backoff delay; a reply with "retry":true (database down, engine draining)
 * sends that request again after a backoff delay. The engine is idempotent
 * on the key, so a resend never makes a second case. Each request ends in
 * exactly one call of the reply callback: a success, a permanent error, or -
 * only when the request's give-up time passes - a synthesized "timeout".
 */
#ifndef TW_BUS_H
#define TW_BUS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "error.h"

/* An attachment frame. */
struct tw_bus_part {
    const void *data;
    size_t len;
};

/* --- Engine side --------------------------------------------------------- */

struct tw_bus_server;

/* One request as received: who sent it, the command text and attachments.
 * Owned by the caller of tw_bus_server_recv. */
struct tw_bus_request {
    void *identity; /* ROUTER routing id (opaque) */
    size_t identity_len;
    char *command; /* frame 1, NUL-terminated (may hold any bytes) */
    size_t command_len;
    struct tw_bus_part *parts; /* frames 2..n; data owned by the request */
    size_t nparts;
    size_t total_len; /* all frames */
};

/* tw_bus_server_new - bind ROUTER on INTAKE and PUB on EVENTS (either may
 * be NULL to skip it). MAX_REQUEST caps one request's bytes (larger frames
 * are still read, then answered "too_large"). NULL on failure (logged). */
struct tw_bus_server *tw_bus_server_new(void *zctx, const char *intake,
                                        const char *events, size_t max_request);
/* tw_bus_server_destroy - close the sockets; NULL-safe; nulls *S */
void tw_bus_server_destroy(struct tw_bus_server **s);
/* tw_bus_server_socket - the ROUTER, for zmq_poll */
void *tw_bus_server_socket(struct tw_bus_server *s);
/* tw_bus_server_recv - take one waiting request without blocking. Returns
 * TW_OK with *REQ set (caller destroys it), or TW_TEMPFAIL when none is
 * waiting. A request over the size cap is answered "too_large" here and
 * skipped. */
int tw_bus_server_recv(struct tw_bus_server *s, struct tw_bus_request **req);
/* tw_bus_server_reply - send REPLY (borrowed) to the request's sender; a
 * vanished sender is logged and ignored (it will resend) */
int tw_bus_server_reply(struct tw_bus_server *s,
                        const struct tw_bus_request *req, const json_t *reply);
/* tw_bus_request_destroy - NULL-safe; nulls *REQ */
void tw_bus_request_destroy(struct tw_bus_request **req);
/* tw_bus_publish - publish BODY (borrowed) under TOPIC on the events PUB */
int tw_bus_publish(struct tw_bus_server *s, const char *topic,
                   const json_t *body);

/* tw_bus_reply_ok - {"v":1,"key":KEY,"ok":true} plus FIELDS' members
 * (FIELDS borrowed, may be NULL); new reference */
json_t *tw_bus_reply_ok(const char *key, const json_t *fields);
/* tw_bus_reply_error - {"v":1,"key":KEY,"ok":false,"error":name,
 * "retry":bool,"message":MESSAGE}; KEY may be NULL; new reference */
json_t *tw_bus_reply_error(const char *key, enum tw_errcode code,
                           const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- Client side --------------------------------------------------------- */

struct tw_bus_client;

struct tw_bus_client_opts {
    int64_t timeout;     /* usec without a reply before reconnect+resend */
    int window;          /* requests in flight at most */
    int64_t backoff_min; /* first resend delay, usec */
    int64_t backoff_max; /* resend delay ceiling, usec */
    int64_t give_up;     /* usec after submit to report "timeout"; 0: never */
};

/* tw_bus_client_opts_default - 3s timeout, window 64, 100ms..30s, never */
void tw_bus_client_opts_default(struct tw_bus_client_opts *o);

/* Called once per request with the final reply (borrowed: copy what you
 * keep). KEY is the request's key. */
typedef void (*tw_bus_reply_fn)(void *arg, const char *key,
                                const json_t *reply);

/* tw_bus_client_new - a client for ENDPOINT; ZCTX shared with the caller.
 * NULL on failure (logged). */
struct tw_bus_client *tw_bus_client_new(void *zctx, const char *endpoint,
                                        const struct tw_bus_client_opts *o,
                                        tw_bus_reply_fn fn, void *arg);
/* tw_bus_client_destroy - close; requests not yet answered are dropped
 * (their sources still hold them); NULL-safe; nulls *C */
void tw_bus_client_destroy(struct tw_bus_client **c);

/* tw_bus_client_submit - queue COMMAND (its "key" must be a non-empty
 * string; the client takes the reference) with N attachment PARTS (copied).
 * TW_PERMFAIL if the key is missing or already queued. */
int tw_bus_client_submit(struct tw_bus_client *c, json_t *command,
                         const struct tw_bus_part *parts, size_t n);
/* tw_bus_client_pending - requests queued or in flight (not yet answered) */
size_t tw_bus_client_pending(const struct tw_bus_client *c);
/* tw_bus_client_poll - send what the window allows, wait up to TIMEOUT usec
 * for replies, resend what timed out; calls the reply callback for each
 * finished request. Returns the number finished, or TW_TEMPFAIL if
 * interrupted by a signal (EINTR). */
int tw_bus_client_poll(struct tw_bus_client *c, int64_t timeout);

/* tw_bus_call - submit one request and wait for its final reply, at most
 * GIVE_UP usec (0: forever). Returns the reply (new reference; a
 * "timeout" error reply when giving up) or NULL if it could not be sent. */
json_t *tw_bus_call(void *zctx, const char *endpoint,
                    const struct tw_bus_client_opts *o, json_t *command,
                    const struct tw_bus_part *parts, size_t n);

/* --- Events -------------------------------------------------------------- */

/* tw_bus_subscriber_new - a SUB socket on ENDPOINT for topics starting with
 * PREFIX ("" for all); close it with zmq_close. NULL on failure. */
void *tw_bus_subscriber_new(void *zctx, const char *endpoint,
                            const char *prefix);
/* tw_bus_event_recv - read one event without blocking: *TOPIC (caller frees)
 * and *BODY (new reference). TW_TEMPFAIL when none is waiting. */
int tw_bus_event_recv(void *sub, char **topic, json_t **body);

#endif
