/*
 * engine_writer.c - the engine's database side: one thread, one connection.
 *
 * DESIGN
 * ------
 * The bus side validates requests and forms batches; this thread writes
 * them. They meet on an inproc PAIR socket that carries pointers to whole
 * batches: a batch goes in, the same batch comes back with every item's
 * outcome, and only then does the bus side reply. While the database works
 * on one batch, the bus side receives, parses and validates the next one and
 * answers the previous one, so the engine's CPU work and PostgreSQL's overlap
 * instead of adding up. There is never more than one batch here at a time.
 *
 * The connection, its reconnect backoff and the migrations belong to this
 * thread alone. When the database is away the thread wakes on the backoff
 * timer to reconnect, and answers batches "unavailable" meanwhile. The bus
 * side reads only the atomic db_up flag (for health checks).
 */
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"
#include "mem.h"

static pthread_t writer_thread;

/* engine_writer_ready - connect and migrate when down, at the backoff's pace */
int engine_writer_ready(struct engine_writer *w)
{
    if (tw_db_is_up(w->db) && w->migrated)
        return 1;
    atomic_store(&w->db_up, 0);
    tw_time now = tw_clock_mono();
    if (now < w->next_connect)
        return 0;
    int st = tw_db_connect(w->db);
    if (st == TW_OK) {
        int applied = 0;
        st = tw_db_migrate(w->db, &applied);
        if (st == TW_OK) {
            w->migrated = 1;
            atomic_store(&w->db_up, 1);
            tw_backoff_reset(&w->reconnect);
            tw_info("database: connected, schema version %d",
                    tw_db_schema_version(w->db));
            return 1;
        }
        if (st == TW_PERMFAIL)
            tw_error("database: migrations failed; fix the schema and "
                     "restart the engine");
        tw_db_disconnect(w->db);
    }
    w->migrated = 0;
    int64_t delay = tw_backoff_next(&w->reconnect);
    w->next_connect = now + delay;
    tw_warn("database: unavailable; next attempt in %lld ms",
            (long long)(delay / TW_MSEC));
    return 0;
}

/* refuse_batch - the database is away: every item is a temporary failure */
static void refuse_batch(struct engine_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        struct engine_item *it = &b->items[i];
        if (it->err != TW_E_NONE)
            continue;
        it->err = TW_E_UNAVAILABLE;
        snprintf(it->msg, sizeof it->msg,
                 "the database is unavailable; try again");
        it->done = 1;
    }
    for (size_t i = 0; i < b->nops; i++) {
        struct engine_op_item *it = &b->ops[i];
        if (it->err != TW_E_NONE)
            continue;
        it->err = TW_E_UNAVAILABLE;
        snprintf(it->msg, sizeof it->msg,
                 "the database is unavailable; try again");
    }
}

/* writer_main - take batches, write them, hand them back */
static void *writer_main(void *arg)
{
    struct engine_writer *w = arg;
    prctl(PR_SET_NAME, "tw-writer"); /* shows in top -H and /proc */
    for (;;) {
        long timeout = -1;
        if (!tw_db_is_up(w->db) || !w->migrated) {
            int64_t wait = w->next_connect - tw_clock_mono();
            timeout = wait > 0 ? (long)(wait / TW_MSEC) + 1 : 0;
        }
        zmq_pollitem_t pi = {w->pipe, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&pi, 1, timeout) < 0) {
            if (errno == EINTR)
                continue;
            tw_error("writer: zmq_poll: %s", zmq_strerror(errno));
            break;
        }
        if (!(pi.revents & ZMQ_POLLIN)) {
            engine_writer_ready(w); /* the reconnect timer */
            continue;
        }
        struct engine_batch *b = NULL;
        if (zmq_recv(w->pipe, &b, sizeof b, 0) != (int)sizeof b)
            continue;
        if (!b)
            break; /* asked to stop */
        if (engine_writer_ready(w)) {
            if (b->n)
                engine_intake_batch(w, b);
            if (b->nops)
                engine_ops_run(w, b);
        } else
            refuse_batch(b);
        if (zmq_send(w->pipe, &b, sizeof b, 0) != (int)sizeof b)
            tw_error("writer: cannot hand a batch back: %s",
                     zmq_strerror(errno));
    }
    return NULL;
}

/* engine_writer_start - connect the pipe and start the thread */
int engine_writer_start(struct engine_writer *w, const char *pipe_endpoint)
{
    w->db = tw_db_new(w->conninfo, "tawasul-engine");
    tw_db_set_connect_timeout(w->db, w->connect_timeout);
    tw_backoff_init(&w->reconnect, 200 * TW_MSEC, w->reconnect_max);
    /* Try once now so that an engine whose database is up says so. */
    engine_writer_ready(w);

    w->pipe = zmq_socket(w->zctx, ZMQ_PAIR);
    if (!w->pipe || zmq_connect(w->pipe, pipe_endpoint) != 0) {
        tw_error("writer: cannot connect %s: %s", pipe_endpoint,
                 zmq_strerror(errno));
        return TW_PERMFAIL;
    }
    /* Signals are for the bus side's loop, never this thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&writer_thread, NULL, writer_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        tw_error("writer: cannot start a thread: %s", strerror(rc));
        return TW_PERMFAIL;
    }
    return TW_OK;
}

/* engine_writer_stop - ask the thread to finish, wait, and clean up */
void engine_writer_stop(struct engine_writer *w, void *bus_pipe)
{
    struct engine_batch *stop = NULL;
    if (zmq_send(bus_pipe, &stop, sizeof stop, 0) == (int)sizeof stop)
        pthread_join(writer_thread, NULL);
    else
        tw_error("writer: cannot ask the thread to stop: %s",
                 zmq_strerror(errno));
    zmq_close(w->pipe);
    w->pipe = NULL;
    tw_db_destroy(&w->db);
}
