/*
 * ingest_deliver.c - mail waiting on disk, to the engine, then off the disk.
 *
 * DESIGN
 * ------
 * An item is a message on disk: a spool entry (what --pipe, IMAP and
 * reprocess left) or a file in the Maildir's new/. A Maildir is itself a
 * durable queue written the same way the spool is (tmp/, fsync, rename into
 * new/), so its files are delivered in place and moved to cur/ only after
 * the engine's ack - the same guarantee as copying them into the spool
 * first, without two more fsyncs per message.
 *
 * Items are queued by name (a hash keeps each name once), then read,
 * parsed and sent through the bus client's window while it and the
 * in-flight byte budget allow. The engine's answer decides the source's
 * fate: ok - the spool entry is removed or the Maildir file moved to cur/;
 * a permanent refusal - quarantine (spool failed/ with the reason); a
 * temporary one is the bus client's to retry. So a crash anywhere leaves
 * the item on disk, it is sent again with the same key, and the engine's
 * idempotency makes that harmless.
 *
 * Before sending: a delivery report becomes a `bounce` op; mail from a
 * loop (Auto-Submitted, Precedence, our X-Loop stamp, a mailer daemon) is
 * dropped with a log line; a sender over the throttle is quarantined.
 */
#include "ingest.h"

#include <dirent.h>
#include <errno.h>
#include <glib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus.h"
#include "command.h"
#include "log.h"
#include "mail_parse.h"
#include "mem.h"

enum source { SRC_SPOOL, SRC_MAILDIR, SRC_FAILED };

struct item {
    char *id; /* spool name or Maildir file name */
    enum source src;
    char *key; /* once sent */
    int bounce;
    size_t bytes;
    struct item *next; /* backlog */
};

struct throttle {
    tw_time start;
    long count;
};

struct ingest_deliver {
    const struct tw_base_config *base;
    const struct ingest_config *cfg;
    struct tw_spool *sp;
    char *maildir;
    struct tw_bus_client *bus;
    GHashTable *by_id;  /* id -> item (owned) */
    GHashTable *by_key; /* key -> item (borrowed) */
    struct item *head, *tail;
    size_t backlog;
    size_t inflight_bytes;
    GHashTable *senders; /* lower-case address -> struct throttle */
    int throttle_on;
    char x_loop[256];
    struct ingest_counters n;
    ingest_report_fn report;
    void *report_arg;
};

/* item_free - GHashTable's value destructor */
static void item_free(void *p)
{
    struct item *it = p;
    free(it->id);
    free(it->key);
    free(it);
}

static void on_reply(void *arg, const char *key, const json_t *reply);

/* ingest_deliver_new - see ingest.h */
struct ingest_deliver *ingest_deliver_new(void *zctx,
                                          const struct tw_base_config *base,
                                          const struct ingest_config *cfg,
                                          struct tw_spool *sp,
                                          const char *maildir)
{
    struct ingest_deliver *d = tw_calloc(1, sizeof *d);
    d->base = base;
    d->cfg = cfg;
    d->sp = sp;
    d->maildir = maildir ? tw_strdup(maildir) : NULL;
    d->throttle_on = 1;
    struct tw_bus_client_opts o;
    tw_bus_client_opts_default(&o);
    o.timeout = base->bus_request_timeout;
    o.window = (int)base->bus_window;
    o.backoff_max = base->bus_backoff_max;
    d->bus = tw_bus_client_new(zctx, base->bus_intake, &o, on_reply, d);
    if (!d->bus) {
        free(d->maildir);
        free(d);
        return NULL;
    }
    d->by_id = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, item_free);
    d->by_key = g_hash_table_new(g_str_hash, g_str_equal);
    d->senders = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    if (cfg->x_loop && *cfg->x_loop)
        snprintf(d->x_loop, sizeof d->x_loop, "%s", cfg->x_loop);
    else
        snprintf(d->x_loop, sizeof d->x_loop, "tawasul@%s",
                 base->site_mail_domain ? base->site_mail_domain : "");
    return d;
}

/* ingest_deliver_destroy - see ingest.h */
void ingest_deliver_destroy(struct ingest_deliver **dp)
{
    struct ingest_deliver *d = *dp;
    if (!d)
        return;
    tw_bus_client_destroy(&d->bus);
    g_hash_table_destroy(d->by_key);
    g_hash_table_destroy(d->by_id);
    g_hash_table_destroy(d->senders);
    free(d->maildir);
    free(d);
    *dp = NULL;
}

void ingest_deliver_report(struct ingest_deliver *d, ingest_report_fn fn,
                           void *arg)
{
    d->report = fn;
    d->report_arg = arg;
}

void ingest_deliver_throttle(struct ingest_deliver *d, int on)
{
    d->throttle_on = on;
}

const struct ingest_counters *
ingest_deliver_counters(const struct ingest_deliver *d)
{
    return &d->n;
}

size_t ingest_deliver_backlog(const struct ingest_deliver *d)
{
    return d->backlog;
}

size_t ingest_deliver_pending(const struct ingest_deliver *d)
{
    return g_hash_table_size(d->by_id);
}

/* add - queue ID from SRC unless it is known already; 1 if queued */
static int add(struct ingest_deliver *d, const char *id, enum source src)
{
    if (id[0] == '.' || g_hash_table_contains(d->by_id, id))
        return 0;
    struct item *it = tw_calloc(1, sizeof *it);
    it->id = tw_strdup(id);
    it->src = src;
    g_hash_table_insert(d->by_id, it->id, it);
    if (d->tail)
        d->tail->next = it;
    else
        d->head = it;
    d->tail = it;
    d->backlog++;
    return 1;
}

void ingest_deliver_add_spool(struct ingest_deliver *d, const char *name)
{
    add(d, name, SRC_SPOOL);
}

void ingest_deliver_add_failed(struct ingest_deliver *d, const char *name)
{
    add(d, name, SRC_FAILED);
}

/* scan_maildir - queue the files in MAILDIR/new */
static long scan_maildir(struct ingest_deliver *d)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/new", d->maildir);
    DIR *dir = opendir(path);
    if (!dir) {
        tw_warn("%s: cannot list: %s", path, strerror(errno));
        return 0;
    }
    long n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL)
        n += add(d, e->d_name, SRC_MAILDIR);
    closedir(dir);
    return n;
}

/* ingest_deliver_scan - see ingest.h */
long ingest_deliver_scan(struct ingest_deliver *d)
{
    char **names = NULL;
    long n = 0;
    if (tw_spool_list(d->sp, 0, &names) > 0)
        for (char **p = names; *p; p++)
            n += add(d, *p, SRC_SPOOL);
    tw_spool_names_free(&names);
    if (d->maildir)
        n += scan_maildir(d);
    return n;
}

/* item_path - where IT's file is into BUF (PATH_MAX) */
static char *item_path(const struct ingest_deliver *d, const struct item *it,
                       char *buf)
{
    if (it->src == SRC_SPOOL)
        snprintf(buf, PATH_MAX, "%s/new/%s", tw_spool_dir(d->sp), it->id);
    else if (it->src == SRC_FAILED)
        snprintf(buf, PATH_MAX, "%s/failed/%s", tw_spool_dir(d->sp), it->id);
    else
        snprintf(buf, PATH_MAX, "%s/new/%s", d->maildir, it->id);
    return buf;
}

/* forget - IT is finished: drop it from the tables */
static void forget(struct ingest_deliver *d, struct item *it, const char *what)
{
    if (d->report)
        d->report(d->report_arg, it->id, what);
    d->inflight_bytes -= it->bytes;
    if (it->key)
        g_hash_table_remove(d->by_key, it->key);
    g_hash_table_remove(d->by_id, it->id);
}

/* done - the engine has it (or it was dropped): acknowledge the source */
static void done(struct ingest_deliver *d, struct item *it, const char *what)
{
    char path[PATH_MAX];
    if (it->src == SRC_SPOOL) {
        if (tw_spool_remove(d->sp, it->id) != TW_OK)
            tw_warn("%s: delivered but not removed from the spool; it will "
                    "be sent again (harmless)",
                    it->id);
    } else if (it->src == SRC_FAILED) {
        item_path(d, it, path);
        char reason[PATH_MAX + 8];
        snprintf(reason, sizeof reason, "%s.reason", path);
        if (unlink(path) != 0 && errno != ENOENT)
            tw_warn("%s: delivered but not removed from the quarantine: %s",
                    it->id, strerror(errno));
        unlink(reason);
    } else {
        char cur[PATH_MAX];
        item_path(d, it, path);
        snprintf(cur, sizeof cur, "%s/cur/%s%s", d->maildir, it->id,
                 strstr(it->id, ":2,") ? "" : ":2,S");
        if (rename(path, cur) != 0 && errno != ENOENT)
            tw_warn("%s: delivered but not moved to cur/: %s", it->id,
                    strerror(errno));
    }
    forget(d, it, what);
}

/* quarantine - keep IT whole in failed/ with REASON */
static void quarantine(struct ingest_deliver *d, struct item *it,
                       const char *reason)
{
    char path[PATH_MAX], what[600];
    int rc;
    if (it->src == SRC_SPOOL)
        rc = tw_spool_reject(d->sp, it->id, reason);
    else if (it->src == SRC_FAILED)
        rc = ingest_quarantine_reason(d->sp, it->id, reason);
    else
        rc = ingest_quarantine_file(d->sp, item_path(d, it, path), reason);
    if (rc == TW_TEMPFAIL) {
        /* Left where it is: the next scan tries again. */
        forget(d, it, "left in place: cannot quarantine");
        return;
    }
    d->n.quarantined++;
    snprintf(what, sizeof what, "quarantined: %s", reason);
    forget(d, it, what);
}

/* drop - a loop or a report with nothing to do: gone, with a log line */
static void drop(struct ingest_deliver *d, struct item *it, const char *why)
{
    char what[TW_MSG_MAX + 200];
    d->n.dropped++;
    tw_info("%s: dropped: %s", it->id, why);
    snprintf(what, sizeof what, "dropped: %s", why);
    done(d, it, what);
}

/* read_item - IT's bytes into DATA and LEN, and its arrival time;
 * TW_PERMFAIL when over max_message, TW_TEMPFAIL when gone or unreadable */
static int read_item(struct ingest_deliver *d, struct item *it, char **data,
                     size_t *len, tw_time *at)
{
    char path[PATH_MAX];
    struct stat st;
    item_path(d, it, path);
    if (stat(path, &st) != 0)
        return TW_TEMPFAIL;
    *at = (tw_time)st.st_mtim.tv_sec * TW_SEC + st.st_mtim.tv_nsec / 1000;
    if ((uintmax_t)st.st_size > (uintmax_t)d->cfg->max_message)
        return TW_PERMFAIL;
    FILE *f = fopen(path, "re");
    if (!f)
        return TW_TEMPFAIL;
    size_t size = (size_t)st.st_size;
    *data = tw_malloc(size + 1);
    *len = fread(*data, 1, size, f);
    (*data)[*len] = '\0';
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(*data);
        *data = NULL;
        return TW_TEMPFAIL;
    }
    return TW_OK;
}

/* token_is - whether the header value V starts with word W (case-insens.) */
static int token_is(const char *v, const char *w)
{
    size_t n = strlen(w);
    v += strspn(v, " \t");
    return strncasecmp(v, w, n) == 0 &&
           (v[n] == '\0' || v[n] == ';' || v[n] == ' ' || v[n] == '(');
}

/* loop_reason - why M looks like automatic mail, or NULL */
static const char *loop_reason(const struct ingest_deliver *d,
                               const struct mail_parsed *m)
{
    if (m->auto_submitted && !token_is(m->auto_submitted, "no"))
        return "Auto-Submitted";
    if (m->precedence)
        for (size_t i = 0; i < d->cfg->drop_precedence.n; i++)
            if (token_is(m->precedence, d->cfg->drop_precedence.v[i]))
                return "Precedence";
    if (m->x_loop) {
        char *have = g_ascii_strdown(m->x_loop, -1);
        char *ours = g_ascii_strdown(d->x_loop, -1);
        int mine = strstr(have, ours) != NULL;
        g_free(have);
        g_free(ours);
        if (mine)
            return "our own X-Loop stamp";
    }
    if (m->from_daemon)
        return "from a mailer daemon, not a delivery report";
    return NULL;
}

/* throttled - count M's sender; 1 when over the throttle */
static int throttled(struct ingest_deliver *d, const struct mail_parsed *m)
{
    if (!d->throttle_on || !m->from_addr)
        return 0;
    tw_time now = tw_clock_mono();
    char *who = g_ascii_strdown(m->from_addr, -1);
    struct throttle *t = g_hash_table_lookup(d->senders, who);
    if (!t) {
        if (g_hash_table_size(d->senders) > 100000)
            g_hash_table_remove_all(d->senders);
        t = g_new0(struct throttle, 1);
        t->start = now;
        g_hash_table_insert(d->senders, who, t);
    } else {
        g_free(who);
    }
    if (now - t->start > d->cfg->throttle_window) {
        t->start = now;
        t->count = 0;
    }
    return ++t->count > d->cfg->throttle_count;
}

/* intake_command - the intake for M received AT; *PARTS (caller frees the
 * array; the data borrow from M) */
static json_t *intake_command(struct ingest_deliver *d,
                              const struct mail_parsed *m, tw_time at,
                              struct tw_bus_part **parts, size_t *nparts)
{
    char key[80], iso[TW_TIME_ISO_MAX];
    mail_key(m->message_id, key);
    json_t *member = json_object();
    const char *addr = m->from_addr && tw_email_valid(m->from_addr)
                           ? m->from_addr
                       : m->reply_to_addr && tw_email_valid(m->reply_to_addr)
                           ? m->reply_to_addr
                           : NULL;
    if (addr)
        json_object_set_new(member, "email", json_string(addr));
    const char *name = addr == m->from_addr ? m->from_name : m->reply_to_name;
    if (name && *name)
        json_object_set_new(member, "name", json_string(name));
    json_t *msg = json_pack("{s:s}", "message_id", m->message_id);
    if (m->from_addr)
        json_object_set_new(msg, "from", json_string(m->from_addr));
    if (m->in_reply_to)
        json_object_set_new(msg, "in_reply_to", json_string(m->in_reply_to));
    if (m->references)
        json_object_set_new(msg, "references", json_string(m->references));
    int keep_original =
        m->body_shown && m->natt < (size_t)d->cfg->max_attachments;
    json_t *cmd = json_pack(
        "{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "v", 1, "op",
        "intake", "key", key, "channel", "email", "kind", "request", "subject",
        *m->subject ? m->subject : "(بلا موضوع)", "body",
        keep_original ? m->body_shown : m->body, "received_at",
        tw_time_iso(at, 1, iso), "member", member, "message", msg);
    size_t n = m->natt + (keep_original ? 1 : 0);
    *nparts = n;
    *parts = NULL;
    if (n == 0)
        return cmd;
    json_t *atts = json_array();
    *parts = tw_calloc(n, sizeof **parts);
    for (size_t i = 0; i < m->natt; i++) {
        json_array_append_new(atts,
                              json_pack("{s:s, s:s}", "name", m->att[i].name,
                                        "type", m->att[i].type));
        (*parts)[i] = (struct tw_bus_part){m->att[i].data, m->att[i].size};
    }
    if (keep_original) {
        /* The text as it came, quotes and all; staff see it trimmed. */
        json_array_append_new(atts, json_pack("{s:s, s:s}", "name",
                                              "original-message.txt", "type",
                                              "text/plain"));
        (*parts)[m->natt] = (struct tw_bus_part){m->body, strlen(m->body)};
    }
    json_object_set_new(cmd, "attachments", atts);
    return cmd;
}

/* bounce_command - the bounce op for a delivery report M */
static json_t *bounce_command(const struct mail_parsed *m)
{
    char key[80];
    mail_key(m->message_id, key);
    json_t *cmd = json_pack("{s:i, s:s, s:s, s:s}", "v", 1, "op", "bounce",
                            "key", key, "message_id", m->dsn_message_id);
    if (m->dsn_recipient)
        json_object_set_new(cmd, "recipient", json_string(m->dsn_recipient));
    if (m->dsn_status)
        json_object_set_new(cmd, "status", json_string(m->dsn_status));
    json_object_set_new(
        cmd, "reason",
        json_string(m->dsn_reason ? m->dsn_reason : "delivery failed"));
    return cmd;
}

/* dsn_failed - whether report M says delivery failed for good */
static int dsn_failed(const struct mail_parsed *m)
{
    if (m->dsn_action)
        return token_is(m->dsn_action, "failed");
    return m->dsn_status && m->dsn_status[0] == '5';
}

/* check_intake - the engine's own validation, at the edge */
static int check_intake(struct ingest_deliver *d, json_t *cmd,
                        const struct tw_bus_part *parts, size_t n, char *msg)
{
    struct tw_intake in;
    enum tw_errcode code;
    struct tw_intake_limits lim = {
        .max_subject = (size_t)d->cfg->max_subject + 8,
        .max_body = (size_t)d->cfg->max_body,
        .max_attachments = (size_t)d->cfg->max_attachments + 1,
        .max_attachment = (size_t)d->cfg->max_attachment,
        .categories = NULL,
    };
    int rc = tw_intake_parse(cmd, parts, n, &lim, &in, &code, msg);
    tw_intake_clear(&in);
    return rc;
}

/* submit_item - submit CMD for IT (takes CMD); TW_TEMPFAIL when the key is
 * already in flight (a second copy of the same mail: it waits) */
static int submit_item(struct ingest_deliver *d, struct item *it, json_t *cmd,
                       const struct tw_bus_part *parts, size_t n, size_t bytes)
{
    const char *key = json_string_value(json_object_get(cmd, "key"));
    if (g_hash_table_contains(d->by_key, key)) {
        json_decref(cmd);
        return TW_TEMPFAIL;
    }
    it->key = tw_strdup(key);
    if (tw_bus_client_submit(d->bus, cmd, parts, n) != TW_OK) {
        free(it->key);
        it->key = NULL;
        return TW_TEMPFAIL;
    }
    g_hash_table_insert(d->by_key, it->key, it);
    it->bytes = bytes;
    d->inflight_bytes += bytes;
    return TW_OK;
}

/* take - read, parse and send (or settle) one item. 0 when it should wait
 * for the next round (a copy of it in flight), 1 otherwise */
static int take(struct ingest_deliver *d, struct item *it)
{
    char *data = NULL, reason[TW_MSG_MAX + 64];
    size_t len = 0;
    tw_time at = 0;
    struct mail_parsed m;
    int rc = read_item(d, it, &data, &len, &at);
    if (rc == TW_TEMPFAIL) {
        forget(d, it, "gone"); /* another process took it */
        return 1;
    }
    if (rc == TW_PERMFAIL) {
        snprintf(reason, sizeof reason,
                 "too large: over ingest_email.max_message (%lld bytes)",
                 (long long)d->cfg->max_message);
        quarantine(d, it, reason);
        return 1;
    }
    d->n.taken++;
    /* The config's list is counted, GMime wants it NULL-terminated; built
     * here each time, since a reload frees the strings. */
    const char *fb[17];
    size_t nfb = 0;
    for (size_t i = 0; i < d->cfg->fallback_charsets.n && nfb < 16; i++)
        fb[nfb++] = d->cfg->fallback_charsets.v[i];
    fb[nfb] = NULL;
    struct mail_limits lim = {
        .max_body = (size_t)d->cfg->max_body,
        .max_attachments = (size_t)d->cfg->max_attachments,
        .max_attachment = (size_t)d->cfg->max_attachment,
        .max_subject = (size_t)d->cfg->max_subject,
        .fallback_charsets = nfb ? fb : NULL,
    };
    char why[TW_MSG_MAX];
    if (mail_parse(data, len, &lim, &m, why, sizeof why) != TW_OK) {
        free(data);
        snprintf(reason, sizeof reason, "cannot be taken: %s", why);
        quarantine(d, it, reason);
        return 1;
    }
    free(data);
    int result = 1;
    const char *loop;
    if (m.is_dsn) {
        if (!m.dsn_message_id || !dsn_failed(&m)) {
            drop(d, it,
                 m.dsn_message_id ? "delivery report, not a failure"
                                  : "delivery report without the "
                                    "original Message-ID");
        } else {
            it->bounce = 1;
            if (submit_item(d, it, bounce_command(&m), NULL, 0, 512) != TW_OK)
                result = 0;
        }
    } else if ((loop = loop_reason(d, &m)) != NULL) {
        drop(d, it, loop);
    } else if (throttled(d, &m)) {
        d->n.throttled++;
        snprintf(reason, sizeof reason,
                 "throttled: more than %lld messages from %s within "
                 "ingest_email.throttle_window",
                 (long long)d->cfg->throttle_count, m.from_addr);
        quarantine(d, it, reason);
    } else {
        struct tw_bus_part *parts = NULL;
        size_t n = 0;
        json_t *cmd = intake_command(d, &m, at, &parts, &n);
        char msg[TW_MSG_MAX];
        if (check_intake(d, cmd, parts, n, msg) != TW_OK) {
            json_decref(cmd);
            snprintf(reason, sizeof reason, "cannot be taken: %s", msg);
            quarantine(d, it, reason);
        } else if (submit_item(d, it, cmd, parts, n, len) != TW_OK) {
            result = 0;
        } else {
            tw_debug("%s: sent key=%s from=%s", it->id, it->key,
                     m.from_addr ? m.from_addr : "-");
        }
        free(parts);
    }
    mail_parsed_clear(&m);
    return result;
}

/* ingest_deliver_pump - take queued items while there is room */
void ingest_deliver_pump(struct ingest_deliver *d)
{
    size_t window = (size_t)d->base->bus_window;
    struct item *waiting = NULL, **wtail = &waiting;
    while (d->head && tw_bus_client_pending(d->bus) < window * 2 &&
           (d->inflight_bytes < (size_t)d->cfg->inflight_max ||
            tw_bus_client_pending(d->bus) == 0)) {
        struct item *it = d->head;
        d->head = it->next;
        if (!d->head)
            d->tail = NULL;
        it->next = NULL;
        d->backlog--;
        if (!take(d, it)) {
            /* A copy of the same mail is in flight: after it. */
            *wtail = it;
            wtail = &it->next;
        }
    }
    if (waiting) {
        /* Put them back at the front, in order. */
        struct item *last = waiting;
        size_t k = 1;
        while (last->next) {
            last = last->next;
            k++;
        }
        last->next = d->head;
        d->head = waiting;
        if (!d->tail)
            d->tail = last;
        d->backlog += k;
    }
}

/* on_reply - the engine's final answer for KEY */
static void on_reply(void *arg, const char *key, const json_t *reply)
{
    struct ingest_deliver *d = arg;
    struct item *it = g_hash_table_lookup(d->by_key, key);
    if (!it)
        return;
    char what[TW_MSG_MAX + 128];
    const char *ref = json_string_value(json_object_get(reply, "case"));
    if (json_is_true(json_object_get(reply, "ok"))) {
        if (it->bounce) {
            d->n.bounces++;
            tw_info("%s: bounce recorded on %s", it->id, ref ? ref : "-");
            snprintf(what, sizeof what, "bounce recorded%s%s",
                     ref ? " on " : "", ref ? ref : "");
        } else {
            int created = json_is_true(json_object_get(reply, "created"));
            int threaded = json_is_true(json_object_get(reply, "threaded"));
            const char *how = created    ? "case created"
                              : threaded ? "message added to the case"
                                         : "already taken";
            if (created)
                d->n.created++;
            else if (threaded)
                d->n.threaded++;
            else
                d->n.existing++;
            tw_info("%s: %s: %s key=%s", ref ? ref : "-", it->id, how, key);
            snprintf(what, sizeof what, "%s %s", ref ? ref : "-", how);
        }
        done(d, it, what);
        return;
    }
    const char *code = json_string_value(json_object_get(reply, "error"));
    const char *msg = json_string_value(json_object_get(reply, "message"));
    if (it->bounce && code && strcmp(code, "not_found") == 0) {
        snprintf(what, sizeof what, "a bounce for mail we did not send (%s)",
                 msg ? msg : "");
        drop(d, it, what);
        return;
    }
    if (code && strcmp(code, "timeout") == 0) {
        forget(d, it, "left in the spool: the engine did not answer");
        return;
    }
    snprintf(what, sizeof what, "the engine refused it: %s: %s",
             code ? code : "?", msg ? msg : "");
    quarantine(d, it, what);
}

/* ingest_deliver_poll - answers from the engine */
void ingest_deliver_poll(struct ingest_deliver *d, int64_t timeout)
{
    tw_bus_client_poll(d->bus, timeout);
}
