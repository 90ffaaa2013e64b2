/*
 * cli_lifecycle.c - staff work a case through its statuses: `case assign`,
 * `request-info`, `resume`, `refer`, `attest`, `submit`, `decide`,
 * `start-service`, `resolve`, `close`, `withdraw`, `reopen`, `note`; and the
 * staff register: `staff add`, `staff list`.
 *
 * DESIGN
 * ------
 * Every case verb is one op to the engine, sent as the staff member the CLI
 * acts as (--as, cli.actor, TAWASUL_ACTOR): the engine checks the role and
 * the status machine and answers with the new status and the next steps, or
 * with one sentence saying why not (which this prints as is). The key is
 * fresh per run, so a resend by the bus client never applies a move twice.
 * The verbs that only change status share one function; which status each
 * asks for is the verb table's `arg`.
 *
 * The staff register is reference data, not case state: like the member
 * register it is written here directly (one INSERT), not through the engine.
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <zmq.h>

#include "bus.h"
#include "command.h"
#include "error.h"
#include "lifecycle.h"
#include "mem.h"

#define READ_WAIT   (3 * TW_SEC)
#define MISSING_MAX 50
#define FIELDS_MAX  50

/* upper_ref - REF in capitals (borrowed static buffer) */
static const char *upper_ref(const char *ref)
{
    static char buf[64];
    snprintf(buf, sizeof buf, "%s", ref);
    for (char *p = buf; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return buf;
}

/* cli_send_op - send CMD (stolen; v, key and actor are added) to the
 * engine; on success *REPLY is the reply (caller decrefs) and 0 is
 * returned, else the failure is printed and the exit status returned */
int cli_send_op(struct cli *c, json_t *cmd, json_t **reply)
{
    *reply = NULL;
    if (!c->actor) {
        json_decref(cmd);
        return cli_fail(EX_USAGE, "who is acting? give --as USER (or set "
                                  "cli.actor or TAWASUL_ACTOR)");
    }
    char *key = tw_key_new("cli");
    json_object_set_new(cmd, "v", json_integer(1));
    json_object_set_new(cmd, "key", json_string(key));
    json_object_set_new(cmd, "actor", json_string(c->actor));
    free(key);
    struct tw_bus_client_opts bo;
    tw_bus_client_opts_default(&bo);
    bo.timeout = c->base.bus_request_timeout;
    bo.backoff_max = c->base.bus_backoff_max;
    bo.give_up = c->cfg.timeout;
    void *zctx = zmq_ctx_new();
    if (!zctx) {
        json_decref(cmd);
        return cli_fail(EX_SOFTWARE, "cannot start ZeroMQ");
    }
    cli_log_mute(c);
    json_t *r = tw_bus_call(zctx, c->base.bus_intake, &bo, cmd, NULL, 0);
    cli_log_unmute(c);
    zmq_ctx_term(zctx);
    int rc = 0;
    if (!r)
        return cli_fail(EX_UNAVAILABLE,
                        "cannot send to the engine at %s: check bus.intake",
                        c->base.bus_intake);
    if (json_is_true(json_object_get(r, "ok"))) {
        *reply = r;
        return 0;
    }
    const char *error = json_string_value(json_object_get(r, "error"));
    const char *message = json_string_value(json_object_get(r, "message"));
    if (!message)
        message = error ? error : "refused";
    if (error && strcmp(error, "timeout") == 0)
        rc = cli_engine_silent(c, c->cfg.timeout);
    else if (json_is_true(json_object_get(r, "retry")))
        rc = cli_fail(EX_TEMPFAIL, "%s (try again)", message);
    else if (error && strcmp(error, "forbidden") == 0)
        rc = cli_fail(EX_NOPERM, "%s", message);
    else
        rc = cli_fail(EX_DATAERR, "%s", message);
    json_decref(r);
    return rc;
}

/* print_moved - "REF: from → to; next: verb, verb" or the JSON reply */
static int print_moved(const json_t *r, int as_json)
{
    if (as_json)
        return cli_print_json(r);
    const char *ref = json_string_value(json_object_get(r, "case"));
    const char *from = json_string_value(json_object_get(r, "from"));
    const char *to = json_string_value(json_object_get(r, "status"));
    printf("%s: %s%s%s", ref ? ref : "?", from ? from : "", from ? " → " : "",
           to ? to : "");
    if (to) {
        char steps[512];
        printf("; next: %s", tw_next_steps(to, steps, sizeof steps));
    }
    printf("\n");
    return 0;
}

/* cli_case_move - the verbs that change a case's status (V->arg) */
int cli_case_move(struct cli *c, const struct cli_verb *v, int argc,
                  char **argv)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, 'r'},
        {"missing", required_argument, NULL, 'm'},
        {"message", required_argument, NULL, 'M'},
        {"field", required_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *reason = NULL, *message = NULL;
    const char *missing[MISSING_MAX], *fields[FIELDS_MAX];
    size_t nmissing = 0, nfields = 0;
    int as_json = 0, opt, rc = 0;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        switch (opt) {
        case 'r':
            reason = optarg;
            break;
        case 'M':
            message = optarg;
            break;
        case 'm':
            if (nmissing == MISSING_MAX)
                return cli_usage_error(v, "at most %d --missing", MISSING_MAX);
            missing[nmissing++] = optarg;
            break;
        case 'f':
            if (nfields == FIELDS_MAX)
                return cli_usage_error(v, "at most %d --field", FIELDS_MAX);
            if (!strchr(optarg, '=') || optarg[0] == '=')
                return cli_usage_error(v, "--field NAME=VALUE");
            fields[nfields++] = optarg;
            break;
        case 'j':
            as_json = 1;
            break;
        case 'h':
            return cli_help(v);
        default:
            return rc;
        }
    }
    if (optind >= argc)
        return cli_usage_error(v, "which case? (AW-2026-000123)");
    if (argc - optind > 1)
        return cli_usage_error(v, "unexpected argument \"%s\"",
                               argv[optind + 1]);
    if (strcmp(v->arg, "awaiting_member") == 0 && nmissing == 0)
        return cli_usage_error(v, "say what the member must send: --missing "
                                  "ITEM (repeatable)");
    if (strcmp(v->name, "reopen") == 0 && !reason)
        return cli_usage_error(v, "say why: --reason TEXT");
    if ((rc = cli_ready(c)) != 0)
        return rc;
    json_t *cmd =
        json_pack("{s:s, s:s, s:s, s:s}", "op", "transition", "case",
                  upper_ref(argv[optind]), "to", v->arg, "verb", v->name);
    if (reason)
        json_object_set_new(cmd, "reason", json_string(reason));
    if (message)
        json_object_set_new(cmd, "message", json_string(message));
    if (nmissing) {
        json_t *a = json_array();
        for (size_t i = 0; i < nmissing; i++)
            json_array_append_new(a, json_string(missing[i]));
        json_object_set_new(cmd, "missing", a);
    }
    if (nfields) {
        json_t *f = json_object();
        for (size_t i = 0; i < nfields; i++) {
            char *name = tw_strdup(fields[i]);
            char *eq = strchr(name, '='); /* checked when parsed */
            if (eq) {
                *eq = '\0';
                json_object_set_new(f, name, json_string(eq + 1));
            }
            free(name);
        }
        json_object_set_new(cmd, "fields", f);
    }
    json_t *r = NULL;
    if ((rc = cli_send_op(c, cmd, &r)) != 0)
        return rc;
    rc = print_moved(r, as_json);
    json_decref(r);
    return rc;
}

/* cli_case_decide - the committee's decision */
int cli_case_decide(struct cli *c, const struct cli_verb *v, int argc,
                    char **argv)
{
    static const struct option opts[] = {
        {"accept", no_argument, NULL, 'a'},
        {"reject", no_argument, NULL, 'r'},
        {"reason", required_argument, NULL, 'R'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *decision = NULL, *reason = NULL;
    int as_json = 0, opt, rc = 0;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        switch (opt) {
        case 'a':
        case 'r':
            if (decision)
                return cli_usage_error(v, "--accept or --reject, not both");
            decision = opt == 'a' ? "accepted" : "rejected";
            break;
        case 'R':
            reason = optarg;
            break;
        case 'j':
            as_json = 1;
            break;
        case 'h':
            return cli_help(v);
        default:
            return rc;
        }
    }
    if (optind >= argc)
        return cli_usage_error(v, "which case? (AW-2026-000123)");
    if (argc - optind > 1)
        return cli_usage_error(v, "unexpected argument \"%s\"",
                               argv[optind + 1]);
    if (!decision)
        return cli_usage_error(v, "--accept or --reject?");
    if (strcmp(decision, "rejected") == 0 && !reason)
        return cli_usage_error(v, "a rejection needs --reason (the member "
                                  "is told)");
    if ((rc = cli_ready(c)) != 0)
        return rc;
    json_t *cmd = json_pack("{s:s, s:s, s:s}", "op", "decide", "case",
                            upper_ref(argv[optind]), "decision", decision);
    if (reason)
        json_object_set_new(cmd, "reason", json_string(reason));
    json_t *r = NULL;
    if ((rc = cli_send_op(c, cmd, &r)) != 0)
        return rc;
    rc = print_moved(r, as_json);
    json_decref(r);
    return rc;
}

/* simple_op - a case op with one required value: assign (to), attest
 * (how), note (text); ARGS: REF VALUE */
int cli_case_simple(struct cli *c, const struct cli_verb *v, int argc,
                    char **argv)
{
    static const struct option opts[] = {
        {"note", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *note = NULL;
    int as_json = 0, opt, rc = 0;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        switch (opt) {
        case 'n':
            note = optarg;
            break;
        case 'j':
            as_json = 1;
            break;
        case 'h':
            return cli_help(v);
        default:
            return rc;
        }
    }
    if (argc - optind != 2)
        return cli_usage_error(v, "give the case and the %s", v->arg);
    if (note && strcmp(v->name, "attest") != 0)
        return cli_usage_error(v, "--note is for attest");
    if ((rc = cli_ready(c)) != 0)
        return rc;
    const char *op = strcmp(v->name, "assign") == 0   ? "assign"
                     : strcmp(v->name, "attest") == 0 ? "attest"
                                                      : "note";
    json_t *cmd =
        json_pack("{s:s, s:s}", "op", op, "case", upper_ref(argv[optind]));
    json_t *val = json_string(argv[optind + 1]);
    if (!val) {
        json_decref(cmd);
        return cli_fail(EX_DATAERR, "the %s is not valid UTF-8", v->arg);
    }
    json_object_set_new(cmd, v->arg, val);
    if (note)
        json_object_set_new(cmd, "note", json_string(note));
    json_t *r = NULL;
    if ((rc = cli_send_op(c, cmd, &r)) != 0)
        return rc;
    if (as_json)
        rc = cli_print_json(r);
    else if (strcmp(op, "assign") == 0)
        printf("%s: assigned to %s\n",
               json_string_value(json_object_get(r, "case")), argv[optind + 1]);
    else if (strcmp(op, "attest") == 0)
        printf("%s: attestation recorded (%s)\n",
               json_string_value(json_object_get(r, "case")), argv[optind + 1]);
    else
        printf("%s: note added\n",
               json_string_value(json_object_get(r, "case")));
    json_decref(r);
    return rc;
}

/* --- staff --------------------------------------------------------------- */

/* cli_staff_add - add (or update) a staff account */
int cli_staff_add(struct cli *c, const struct cli_verb *v, int argc,
                  char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"role", required_argument, NULL, 'r'},
        {"email", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *name = NULL, *role = NULL, *email = NULL;
    int opt, rc = 0;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        switch (opt) {
        case 'n':
            name = optarg;
            break;
        case 'r':
            role = optarg;
            break;
        case 'e':
            email = optarg;
            break;
        case 'h':
            return cli_help(v);
        default:
            return rc;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(v, "give one username");
    if (!name || !*name)
        return cli_usage_error(v, "--name: the person's name");
    if (!role || !tw_role_parse(role))
        return cli_usage_error(v, "--role: one of %s", tw_role_names());
    if (email && !strchr(email, '@'))
        return cli_usage_error(v, "--email: \"%s\" is not an address", email);
    if ((rc = cli_ready(c)) != 0)
        return rc;
    struct tw_db *db = NULL;
    if ((rc = cli_db_open(c, READ_WAIT, &db)) != 0)
        return rc;
    const char *p[] = {argv[optind], name, role, email};
    int st;
    cli_log_mute(c);
    PGresult *r = tw_db_query(
        db, &st,
        "INSERT INTO tawasul.staff (username, display_name, role, email)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO UPDATE"
        " SET display_name = EXCLUDED.display_name, role = EXCLUDED.role,"
        " email = EXCLUDED.email, active = true"
        " RETURNING (xmax = 0)",
        4, p);
    cli_log_unmute(c);
    if (!r) {
        if (strcmp(tw_db_sqlstate(db), "23514") == 0)
            rc = cli_fail(EX_DATAERR,
                          "\"%s\": a username is 2 to 32 lower-case letters, "
                          "digits, dots, dashes or underscores, starting "
                          "with a letter",
                          argv[optind]);
        else
            rc = cli_db_failed(db, st, "saving the staff member");
    } else {
        printf("%s: %s (%s)\n", argv[optind],
               PQgetvalue(r, 0, 0)[0] == 't' ? "added" : "updated", role);
        PQclear(r);
    }
    tw_db_destroy(&db);
    return rc;
}

/* cli_staff_list - the staff accounts */
int cli_staff_list(struct cli *c, const struct cli_verb *v, int argc,
                   char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int as_json = 0, opt, rc = 0;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        if (opt == 'h')
            return cli_help(v);
        if (opt != 'j')
            return rc;
        as_json = 1;
    }
    if (optind < argc)
        return cli_usage_error(v, "unexpected argument \"%s\"", argv[optind]);
    if ((rc = cli_ready(c)) != 0)
        return rc;
    struct tw_db *db = NULL;
    if ((rc = cli_db_open(c, READ_WAIT, &db)) != 0)
        return rc;
    int st;
    cli_log_mute(c);
    PGresult *r = tw_db_query(db, &st,
                              "SELECT username, display_name, role,"
                              " coalesce(email, ''), active"
                              " FROM tawasul.staff ORDER BY username",
                              0, NULL);
    cli_log_unmute(c);
    if (!r) {
        rc = cli_db_failed(db, st, "listing staff");
        tw_db_destroy(&db);
        return rc;
    }
    if (as_json) {
        json_t *a = json_array();
        for (int i = 0; i < PQntuples(r); i++)
            json_array_append_new(
                a, json_pack("{s:s, s:s, s:s, s:s, s:b}", "username",
                             PQgetvalue(r, i, 0), "name", PQgetvalue(r, i, 1),
                             "role", PQgetvalue(r, i, 2), "email",
                             PQgetvalue(r, i, 3), "active",
                             PQgetvalue(r, i, 4)[0] == 't'));
        rc = cli_print_json(a);
        json_decref(a);
    } else if (PQntuples(r) == 0) {
        printf("no staff yet: tawasul staff add USER --name NAME --role "
               "ROLE\n");
    } else {
        for (int i = 0; i < PQntuples(r); i++) {
            cli_print_cell(stdout, PQgetvalue(r, i, 0), 16);
            fputs("  ", stdout);
            cli_print_cell(stdout, PQgetvalue(r, i, 2), 10);
            fputs("  ", stdout);
            cli_print_cell(stdout, PQgetvalue(r, i, 1), 24);
            fputs("  ", stdout);
            cli_print_cell(stdout, PQgetvalue(r, i, 3), 0);
            if (PQgetvalue(r, i, 4)[0] != 't')
                fputs("  (inactive)", stdout);
            fputc('\n', stdout);
        }
    }
    PQclear(r);
    tw_db_destroy(&db);
    return rc;
}
