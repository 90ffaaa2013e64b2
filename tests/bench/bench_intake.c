/*
 * bench_intake - intake throughput and ack latency through the bus, and the
 * bare single-row commit rate of the same PostgreSQL for comparison.
 *
 * Modes:
 *   bench_intake load ENDPOINT CLIENTS COUNT WINDOW [RATE]
 *       CLIENTS threads, each with its own bus client, send COUNT intakes
 *       in all (RATE per second in all when given; as fast as the window
 *       allows otherwise) and print cases/s and p50/p99/max ack latency.
 *       Latency runs from the moment a request is handed to the client to
 *       its reply, so it includes any wait for the window.
 *   bench_intake bare CONNINFO COUNT
 *       COUNT single-row INSERT ... commits, one at a time, on CONNINFO.
 * Every figure is printed as "name: value" on its own line.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <libpq-fe.h>
#include <zmq.h>

#include "bus.h"
#include "clock.h"
#include "mem.h"

struct client {
    int id;
    const char *endpoint;
    void *zctx;
    int count;
    int window;
    double rate;   /* per second, this client; 0: unlimited */
    tw_time *sent; /* submit time per request */
    int64_t *lat;  /* latency per request, usec */
    int done, ok, created;
    int failed;
};

static void on_reply(void *arg, const char *key, const json_t *reply)
{
    struct client *c = arg;
    int i = atoi(strrchr(key, ':') + 1);
    c->lat[i] = tw_clock_mono() - c->sent[i];
    c->done++;
    if (json_is_true(json_object_get(reply, "ok"))) {
        c->ok++;
        if (json_is_true(json_object_get(reply, "created")))
            c->created++;
    } else if (c->failed++ < 3) {
        char *s = json_dumps(reply, JSON_COMPACT);
        fprintf(stderr, "bench: error reply: %s\n", s);
        free(s);
    }
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    struct tw_bus_client_opts o;
    tw_bus_client_opts_default(&o);
    o.window = c->window;
    o.timeout = 5 * TW_SEC;
    o.give_up = 120 * TW_SEC;
    struct tw_bus_client *bc =
        tw_bus_client_new(c->zctx, c->endpoint, &o, on_reply, c);
    if (!bc)
        return NULL;
    char run[32];
    snprintf(run, sizeof run, "%lx", (unsigned long)tw_clock_now());
    tw_time start = tw_clock_mono();
    int next = 0;
    while (c->done < c->count) {
        /* Submit what the schedule (or the window) allows now. */
        while (next < c->count) {
            if (c->rate > 0) {
                tw_time due = start + (tw_time)(next * 1e6 / c->rate);
                if (tw_clock_mono() < due)
                    break;
            } else if ((int)tw_bus_client_pending(bc) >= c->window) {
                break;
            }
            char key[96];
            snprintf(key, sizeof key, "bench:%s:%d:%d", run, c->id, next);
            json_t *cmd =
                json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}}", "v",
                          1, "op", "intake", "key", key, "channel", "phone",
                          "kind", "request", "subject", "طلب دعم للعضو", "body",
                          "اتصل العضو يطلب الدعم ويسأل عن المستندات المطلوبة",
                          "member", "number", "1001");
            c->sent[next] = tw_clock_mono();
            if (tw_bus_client_submit(bc, cmd, NULL, 0) != 0) {
                fprintf(stderr, "bench: submit failed\n");
                return NULL;
            }
            next++;
        }
        tw_bus_client_poll(bc, c->rate > 0 ? 1 * TW_MSEC : 50 * TW_MSEC);
    }
    tw_bus_client_destroy(&bc);
    return NULL;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int load(const char *endpoint, int nclients, int count, int window,
                double rate)
{
    void *zctx = zmq_ctx_new();
    struct client *cs = tw_calloc((size_t)nclients, sizeof *cs);
    pthread_t *th = tw_calloc((size_t)nclients, sizeof *th);
    int per = count / nclients;
    for (int i = 0; i < nclients; i++) {
        cs[i] = (struct client){.id = i,
                                .endpoint = endpoint,
                                .zctx = zctx,
                                .count = per,
                                .window = window,
                                .rate = rate / nclients};
        cs[i].sent = tw_calloc((size_t)per, sizeof(tw_time));
        cs[i].lat = tw_calloc((size_t)per, sizeof(int64_t));
    }
    tw_time t0 = tw_clock_mono();
    for (int i = 0; i < nclients; i++)
        pthread_create(&th[i], NULL, client_main, &cs[i]);
    for (int i = 0; i < nclients; i++)
        pthread_join(th[i], NULL);
    double secs = (double)(tw_clock_mono() - t0) / 1e6;
    int64_t *all = tw_calloc((size_t)per * (size_t)nclients, sizeof *all);
    int n = 0, ok = 0, created = 0;
    for (int i = 0; i < nclients; i++) {
        memcpy(all + n, cs[i].lat, (size_t)per * sizeof *all);
        n += per;
        ok += cs[i].ok;
        created += cs[i].created;
    }
    qsort(all, (size_t)n, sizeof *all, cmp64);
    printf("clients: %d\nwindow: %d\nintakes: %d\nok: %d\ncreated: %d\n",
           nclients, window, n, ok, created);
    if (rate > 0)
        printf("offered_rate: %.0f/s\n", rate);
    printf("seconds: %.2f\ncases_per_second: %.0f\n", secs, ok / secs);
    printf("ack_p50_ms: %.2f\nack_p99_ms: %.2f\nack_max_ms: %.2f\n",
           all[n / 2] / 1e3, all[(n * 99) / 100] / 1e3, all[n - 1] / 1e3);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("client_cpu_seconds: %.2f\n",
           (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
    for (int i = 0; i < nclients; i++) {
        free(cs[i].sent);
        free(cs[i].lat);
    }
    free(all);
    free(cs);
    free(th);
    zmq_ctx_term(zctx);
    return ok == n ? 0 : 1;
}

static int bare(const char *conninfo, int count)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "bench: %s", PQerrorMessage(c));
        return 1;
    }
    PQclear(PQexec(c, "CREATE TABLE IF NOT EXISTS bench_bare (id bigserial"
                      " PRIMARY KEY, at timestamptz, body text)"));
    tw_time t0 = tw_clock_mono();
    for (int i = 0; i < count; i++) {
        char at[TW_TIME_ISO_MAX];
        const char *p[] = {tw_time_iso_utc(tw_clock_now(), 1, at),
                           "one row, one commit"};
        PGresult *r =
            PQexecParams(c, "INSERT INTO bench_bare (at, body) VALUES ($1, $2)",
                         2, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "bench: %s", PQerrorMessage(c));
            PQclear(r);
            PQfinish(c);
            return 1;
        }
        PQclear(r);
    }
    double secs = (double)(tw_clock_mono() - t0) / 1e6;
    printf("bare_commits: %d\nbare_seconds: %.2f\nbare_commits_per_second: "
           "%.0f\n",
           count, secs, count / secs);
    PQclear(PQexec(c, "DROP TABLE bench_bare"));
    PQfinish(c);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "load") == 0)
        return load(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]),
                    argc > 6 ? atof(argv[6]) : 0);
    if (argc == 4 && strcmp(argv[1], "bare") == 0)
        return bare(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: bench_intake load ENDPOINT CLIENTS COUNT WINDOW "
                    "[RATE]\n       bench_intake bare CONNINFO COUNT\n");
    return 64;
}
