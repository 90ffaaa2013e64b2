/*
 * test_engine_dbdown - the engine starts while its database does not exist
 * yet: it answers "unavailable" (temporary), does not crash, and takes
 * intakes as soon as the database appears.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "clock.h"
#include "command.h"
#include "mem.h"

/* admin - run SQL on the cluster's postgres database */
static void admin(const char *sql)
{
    char conninfo[512];
    snprintf(conninfo, sizeof conninfo, "host=%s user=postgres dbname=postgres",
             getenv("TW_TEST_PGHOST"));
    PGconn *c = PQconnectdb(conninfo);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
}

static void starts_without_database_and_recovers(void **state)
{
    (void)state;
    struct th t;
    th_setup(&t, "dbdown", NULL);
    char later[128], sql[256];
    snprintf(later, sizeof later, "%s_later", t.dbname);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", later);
    admin(sql);

    /* Point the engine at a database that is not there yet. */
    FILE *f = fopen(t.config, "r");
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *at = strstr(text, t.dbname);
    assert_non_null(at);
    f = fopen(t.config, "w");
    fprintf(f, "%.*s%s%s", (int)(at - text), text, later,
            at + strlen(t.dbname));
    fclose(f);

    th_engine_start(&t);
    json_t *ping = th_call(
        &t, json_pack("{s:i, s:s, s:s}", "v", 1, "op", "ping", "key", "p:1"),
        5000);
    assert_true(json_is_true(json_object_get(ping, "ok")));
    assert_string_equal(json_string_value(json_object_get(ping, "database")),
                        "down");
    json_decref(ping);

    json_t *r = th_call(&t, th_intake("down:1", "while down"), 2500);
    assert_true(json_is_false(json_object_get(r, "ok")));
    assert_true(json_is_true(json_object_get(r, "retry")));
    assert_string_equal(json_string_value(json_object_get(r, "error")),
                        "unavailable");
    json_decref(r);

    snprintf(sql, sizeof sql, "CREATE DATABASE %s", later);
    admin(sql);
    r = th_call(&t, th_intake("down:1", "while down"), 30000);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_true(json_is_true(json_object_get(r, "created")));
    json_decref(r);
    assert_int_not_equal(t.engine, 0);

    th_engine_stop(&t, SIGTERM);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", later);
    admin(sql);
    th_teardown(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(starts_without_database_and_recovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
