/*
 * bench_sla - how long the engine's SLA sweep takes when it finds nothing
 * new, measured by the engine itself (the sla_sweep op's elapsed_us: the
 * advisory lock and the warning and breach statements) and as a round trip
 * through the bus.
 *
 *   bench_sla sweep ENDPOINT ACTOR ROUNDS
 *
 * Every figure is printed as "name: value" on its own line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "bus.h"
#include "clock.h"
#include "command.h"

/* cmp - for qsort */
static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 5 || strcmp(argv[1], "sweep") != 0) {
        fprintf(stderr, "usage: bench_sla sweep ENDPOINT ACTOR ROUNDS\n");
        return 64;
    }
    int rounds = atoi(argv[4]);
    if (rounds < 1 || rounds > 100000)
        return 64;
    void *zctx = zmq_ctx_new();
    struct tw_bus_client_opts o;
    tw_bus_client_opts_default(&o);
    o.give_up = 60 * TW_SEC;
    int64_t *engine = calloc((size_t)rounds, sizeof *engine);
    int64_t *trip = calloc((size_t)rounds, sizeof *trip);
    long found = 0;
    for (int i = 0; i < rounds; i++) {
        char *key = tw_key_new("bench-sla");
        json_t *cmd = json_pack("{s:i, s:s, s:s, s:s}", "v", 1, "op",
                                "sla_sweep", "key", key, "actor", argv[3]);
        free(key);
        tw_time t0 = tw_clock_mono();
        json_t *r = tw_bus_call(zctx, argv[2], &o, cmd, NULL, 0);
        trip[i] = tw_clock_mono() - t0;
        if (!r || !json_is_true(json_object_get(r, "ok"))) {
            char *s = r ? json_dumps(r, JSON_COMPACT) : NULL;
            fprintf(stderr, "bench_sla: %s\n", s ? s : "no reply");
            return 69;
        }
        engine[i] = json_integer_value(json_object_get(r, "elapsed_us"));
        found += (long)json_integer_value(json_object_get(r, "warned")) +
                 (long)json_integer_value(json_object_get(r, "breached"));
        json_decref(r);
    }
    qsort(engine, (size_t)rounds, sizeof *engine, cmp);
    qsort(trip, (size_t)rounds, sizeof *trip, cmp);
    printf("sweep_rounds: %d\n", rounds);
    printf("sweep_cases_found: %ld\n", found);
    printf("sweep_engine_ms_p50: %.2f\n", (double)engine[rounds / 2] / 1000);
    printf("sweep_engine_ms_max: %.2f\n", (double)engine[rounds - 1] / 1000);
    printf("sweep_round_trip_ms_p50: %.2f\n", (double)trip[rounds / 2] / 1000);
    printf("sweep_round_trip_ms_max: %.2f\n", (double)trip[rounds - 1] / 1000);
    free(engine);
    free(trip);
    zmq_ctx_term(zctx);
    return 0;
}
