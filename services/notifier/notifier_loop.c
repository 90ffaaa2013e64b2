/*
 * notifier_loop.c - when to send: outbox.ready events, a timer, signals.
 *
 * DESIGN
 * ------
 * One thread, one database connection, one SMTP session per batch. The
 * loop sleeps in zmq_poll on the events SUB socket and the signal pipe, at
 * most until the earliest of: the next rescan (notifier.poll_interval), the
 * earliest row due (a retry's next_attempt_at, a lease running out) and the
 * digest hour. An outbox.ready event only wakes it early: the outbox table
 * is the truth, so a lost event delays nothing beyond the rescan.
 *
 * Awake, it sends batches until a batch comes back short: claim (commit),
 * render and build each message, send them all over one session, record
 * every outcome (commit). A SIGTERM lets the batch in hand finish; SIGHUP
 * reloads the config and the templates, keeping the old ones if either is
 * bad.
 */
#include "notifier.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <zmq.h>

#include "bus.h"
#include "error.h"
#include "log.h"
#include "mem.h"

struct notifier {
    struct tw_daemon *d;
    const struct notifier_config *cfg;
    struct notifier_settings set;
    struct tw_templates *templates;
    struct tw_db *db;
    struct tw_backoff reconnect;
    tw_time next_connect; /* monotonic */
    tw_time next_digest;  /* wall clock; 0: none */
    unsigned long sent, failed;
    int reload; /* a SIGHUP seen between batches, handled in the loop */
};

/* notifier_settings_parse - the retry list and digest time into S */
int notifier_settings_parse(const struct notifier_config *cfg, const char *path,
                            struct notifier_settings *s)
{
    const char *file = path ? path : "defaults";
    memset(s, 0, sizeof *s);
    if (cfg->retry.n == 0 || cfg->retry.n > NOTIFIER_RETRY_MAX) {
        fprintf(stderr, "%s: \"notifier.retry\" must list 1 to %d pauses\n",
                file, NOTIFIER_RETRY_MAX);
        return TW_PERMFAIL;
    }
    for (size_t i = 0; i < cfg->retry.n; i++) {
        if (tw_duration_parse(cfg->retry.v[i], &s->retry[i]) != TW_OK ||
            s->retry[i] < TW_SEC) {
            fprintf(stderr,
                    "%s: \"notifier.retry\": \"%s\" is not a duration of a "
                    "second or more (e.g. 1m, 30m, 2h)\n",
                    file, cfg->retry.v[i]);
            return TW_PERMFAIL;
        }
    }
    s->nretry = cfg->retry.n;
    s->digest_minute = -1;
    if (*cfg->digest_at) {
        const char *t = cfg->digest_at;
        int ok = strlen(t) == 5 && t[2] == ':';
        for (int i = 0; ok && i < 5; i++)
            ok = i == 2 || (t[i] >= '0' && t[i] <= '9');
        int h = ok ? (t[0] - '0') * 10 + (t[1] - '0') : 0;
        int m = ok ? (t[3] - '0') * 10 + (t[4] - '0') : 0;
        if (!ok || h > 23 || m > 59) {
            fprintf(stderr,
                    "%s: \"notifier.digest_at\" must be a local time HH:MM, "
                    "got \"%s\"\n",
                    file, cfg->digest_at);
            return TW_PERMFAIL;
        }
        s->digest_minute = h * 60 + m;
    }
    return TW_OK;
}

/* load_templates - the templates the config names; prints the problems */
static int load_templates(struct tw_daemon *d, struct tw_templates **out)
{
    const struct notifier_config *cfg = tw_daemon_config(d);
    char *dir = tw_templates_dir(tw_daemon_config_path(d), cfg->templates_dir);
    char *errors = NULL;
    int st = tw_templates_load(dir, out, &errors);
    if (st != TW_OK) {
        const char *p = errors ? errors : "";
        while (*p) {
            size_t n = strcspn(p, "\n");
            if (n)
                tw_error("templates: %.*s", (int)n, p);
            p += n + (p[n] == '\n');
        }
    }
    free(errors);
    free(dir);
    return st;
}

/* notifier_check - the templates and lists behind the config */
int notifier_check(struct tw_daemon *d)
{
    struct notifier_settings s;
    struct tw_templates *t = NULL;
    if (notifier_settings_parse(tw_daemon_config(d), tw_daemon_config_path(d),
                                &s) != TW_OK)
        return EX_CONFIG;
    if (load_templates(d, &t) != TW_OK)
        return EX_CONFIG;
    tw_templates_destroy(&t);
    return 0;
}

/* db_ready - connected, or a reconnect attempt when the backoff allows */
static int db_ready(struct notifier *n)
{
    if (tw_db_is_up(n->db))
        return 1;
    if (tw_clock_mono() < n->next_connect)
        return 0;
    if (tw_db_connect(n->db) == TW_OK) {
        tw_backoff_reset(&n->reconnect);
        tw_info("database: connected");
        return 1;
    }
    n->next_connect = tw_clock_mono() + tw_backoff_next(&n->reconnect);
    return 0;
}

/* address_ok - one plain addr-spec: printable, no space, <>, quotes or
 * control characters, one @ with something on both sides */
static int address_ok(const char *a)
{
    const char *at = strchr(a, '@');
    if (!at || at == a || !at[1] || strchr(at + 1, '@') || strlen(a) > 254)
        return 0;
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        if (*p <= ' ' || *p == 0x7f || strchr("<>\"(),;:\\[]", *p))
            return 0;
    return 1;
}

/* prepare - render and build M; an outcome is set when it cannot be sent */
static void prepare(struct notifier *n, struct mail *m, tw_time now)
{
    const struct tw_base_config *base = tw_daemon_base(n->d);
    if (!m->recipient || !*m->recipient) {
        m->outcome = MAIL_UNREACHABLE;
        snprintf(m->error, sizeof m->error, "no email address");
        return;
    }
    if (!address_ok(m->recipient)) {
        /* never let a stray CR/LF or bracket into the SMTP dialogue */
        m->outcome = MAIL_PERMFAIL;
        snprintf(m->error, sizeof m->error, "not an email address: \"%.200s\"",
                 m->recipient);
        return;
    }
    json_t *values =
        tw_templates_values(base, base->site_name_ar, m->lang, m->params);
    char err[TW_TEMPLATE_ERR_MAX];
    int st =
        tw_templates_render(n->templates, m->tmpl, m->lang, values, &m->r, err);
    json_decref(values);
    if (st != TW_OK) {
        m->outcome = MAIL_PERMFAIL;
        snprintf(m->error, sizeof m->error, "cannot render: %s", err);
        return;
    }
    if (mime_build(n->cfg, base, m, now) != TW_OK)
        m->outcome = MAIL_PERMFAIL;
    /* the HTML lives on in the wire text; the batch holds enough */
    free(m->r.html);
    m->r.html = NULL;
}

/* log_outcome - one line per row */
static void log_outcome(struct notifier *n, const struct mail *m)
{
    const char *id = m->ref ? m->ref : "-";
    switch (m->outcome) {
    case MAIL_SENT:
        n->sent++;
        tw_debug("%s: sent outbox=%lld template=%s message-id=%s", id, m->id,
                 m->tmpl, m->message_id);
        break;
    case MAIL_TEMPFAIL:
        tw_warn("%s: will retry outbox=%lld template=%s attempt=%d: %s", id,
                m->id, m->tmpl, m->attempts, m->error);
        break;
    case MAIL_PERMFAIL:
        n->failed++;
        tw_warn("%s: failed outbox=%lld template=%s: %s", id, m->id, m->tmpl,
                m->error);
        break;
    case MAIL_UNREACHABLE:
        n->failed++;
        tw_warn("%s: member not reachable by email outbox=%lld template=%s", id,
                m->id, m->tmpl);
        break;
    case MAIL_PENDING:
        break;
    }
}

/* thread_in_batch - when an earlier row of this batch goes to the same
 * person about the same case (say an acknowledgement and, a second later,
 * a request for information), that one is M's parent: the claim looked the
 * parent up before either had been sent */
static void thread_in_batch(struct mail *mails, int i)
{
    struct mail *m = &mails[i];
    if (!m->case_id || !m->recipient)
        return;
    for (int j = i - 1; j >= 0; j--) {
        const struct mail *p = &mails[j];
        if (p->case_id != m->case_id || !p->recipient ||
            strcmp(p->recipient, m->recipient) != 0 ||
            p->outcome != MAIL_PENDING || !p->message_id)
            continue;
        free(m->parent_id);
        free(m->parent_refs);
        m->parent_id = tw_strdup(p->message_id);
        m->parent_refs = p->references ? tw_strdup(p->references) : NULL;
        return;
    }
}

/* batch - claim, send and record one batch; the number claimed, or a
 * negative status */
static int batch(struct notifier *n)
{
    const struct tw_base_config *base = tw_daemon_base(n->d);
    struct mail *mails = NULL;
    tw_time now = tw_clock_now();
    int got = store_claim(n->db, n->cfg, base->site_mail_domain, now, &mails);
    if (got <= 0)
        return got;

    struct mail **send = tw_calloc((size_t)got, sizeof *send);
    size_t nsend = 0;
    for (int i = 0; i < got; i++) {
        thread_in_batch(mails, i);
        prepare(n, &mails[i], now);
        if (mails[i].outcome == MAIL_PENDING)
            send[nsend++] = &mails[i];
    }
    smtp_send_batch(n->cfg, send, nsend);
    free(send);
    now = tw_clock_now();
    for (int i = 0; i < got; i++)
        log_outcome(n, &mails[i]);
    int st = store_record(n->db, n->cfg, &n->set, mails, (size_t)got, now);
    if (st != TW_OK)
        tw_error("outbox: could not record a batch of %d (%s): those rows "
                 "are tried again when their lease ends",
                 got, tw_db_error(n->db));
    else
        tw_info("outbox: batch of %d done (sent %lu, failed %lu so far)", got,
                n->sent, n->failed);
    for (int i = 0; i < got; i++)
        mail_free(&mails[i]);
    free(mails);
    return st == TW_OK ? got : st;
}

/* check_signals - between batches: note a stop or a reload without
 * waiting, so a long backlog never delays SIGTERM by more than a batch */
static void check_signals(struct notifier *n)
{
    struct pollfd p = {.fd = tw_daemon_signal_fd(n->d), .events = POLLIN};
    if (poll(&p, 1, 0) == 1 && (tw_daemon_signals(n->d) & TW_SIG_RELOAD))
        n->reload = 1;
}

/* work - the digest if due, then batches until the outbox has no more
 * rows due; the time of the next wake-up (wall clock) */
static tw_time work(struct notifier *n)
{
    tw_time now = tw_clock_now();
    tw_time wake = now + n->cfg->poll_interval;
    if (!db_ready(n))
        return now + TW_SEC;
    if (n->next_digest && now >= n->next_digest) {
        if (digest_queue(n->db, n->cfg, &n->set, now) == TW_OK)
            n->next_digest = digest_next(&n->set, now);
        else
            return now + TW_SEC;
    }
    int got;
    do {
        got = batch(n);
        if (got < 0)
            return now + TW_SEC;
        check_signals(n);
    } while (got == n->cfg->batch_max && !tw_daemon_stopping(n->d));
    tw_time due = store_next_due(n->db);
    if (due > 0 && due < wake)
        wake = due;
    if (n->next_digest && n->next_digest < wake)
        wake = n->next_digest;
    return wake;
}

/* reload - SIGHUP: the config, then the templates; old ones kept if bad */
static void reload(struct notifier *n)
{
    struct tw_templates *t = NULL;
    struct notifier_settings s;
    if (tw_daemon_reload(n->d) != TW_OK)
        return;
    if (notifier_settings_parse(n->cfg, tw_daemon_config_path(n->d), &s) !=
            TW_OK ||
        load_templates(n->d, &t) != TW_OK) {
        tw_error("reload: keeping the old templates and retry list");
        return;
    }
    tw_templates_destroy(&n->templates);
    n->templates = t;
    n->set = s;
    n->next_digest = digest_today(&n->set, tw_clock_now());
    tw_info("templates reloaded");
}

/* notifier_run - the service loop */
int notifier_run(struct tw_daemon *d)
{
    struct notifier n;
    memset(&n, 0, sizeof n);
    n.d = d;
    n.cfg = tw_daemon_config(d);
    const struct tw_base_config *base = tw_daemon_base(d);
    if (notifier_settings_parse(n.cfg, tw_daemon_config_path(d), &n.set) !=
            TW_OK ||
        load_templates(d, &n.templates) != TW_OK)
        return EX_CONFIG;
    mime_init();
    smtp_init();
    n.db = tw_db_new(base->database_url, "tawasul-notifier");
    tw_db_set_connect_timeout(n.db, base->database_connect_timeout);
    tw_backoff_init(&n.reconnect, 200 * TW_MSEC, base->database_reconnect_max);
    /* The first digest: today's, if its hour has passed and it has not been
     * queued yet (digest_queue knows). */
    n.next_digest = digest_today(&n.set, tw_clock_now());

    void *zctx = zmq_ctx_new();
    void *sub = tw_bus_subscriber_new(zctx, base->bus_events, "outbox.");
    if (!sub)
        tw_warn("bus: cannot subscribe to %s: relying on the timer",
                base->bus_events);
    tw_info("started: smtp=%s:%lld batch=%lld poll=%llds", n.cfg->smtp_host,
            (long long)n.cfg->smtp_port, (long long)n.cfg->batch_max,
            (long long)(n.cfg->poll_interval / TW_SEC));

    tw_time wake = 0;
    while (!tw_daemon_stopping(d)) {
        if (tw_clock_now() >= wake)
            wake = work(&n);
        if (tw_daemon_stopping(d))
            break;
        int64_t left = wake - tw_clock_now();
        if (left < 0)
            left = 0;
        zmq_pollitem_t items[2] = {
            {.fd = tw_daemon_signal_fd(d), .events = ZMQ_POLLIN},
            {.socket = sub, .events = ZMQ_POLLIN},
        };
        int rc = zmq_poll(items, sub ? 2 : 1, (long)(left / TW_MSEC) + 1);
        if (rc < 0)
            continue; /* EINTR: the signal pipe says which */
        if ((items[0].revents & ZMQ_POLLIN) &&
            (tw_daemon_signals(d) & TW_SIG_RELOAD))
            n.reload = 1;
        if (n.reload && !tw_daemon_stopping(d)) {
            n.reload = 0;
            reload(&n);
        }
        if (sub && (items[1].revents & ZMQ_POLLIN)) {
            char *topic = NULL;
            json_t *body = NULL;
            while (tw_bus_event_recv(sub, &topic, &body) == TW_OK) {
                free(topic);
                json_decref(body);
                topic = NULL;
                body = NULL;
            }
            wake = 0; /* rows are waiting: go now */
        }
    }
    tw_info("stopping: sent %lu, failed %lu", n.sent, n.failed);
    if (sub)
        zmq_close(sub);
    zmq_ctx_term(zctx);
    tw_db_destroy(&n.db);
    tw_templates_destroy(&n.templates);
    smtp_shutdown();
    mime_shutdown();
    return 0;
}
