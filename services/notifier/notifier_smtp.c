/*
 * notifier_smtp.c - a batch of messages over one SMTP session (libesmtp).
 *
 * libesmtp takes every message of the batch into one session and sends
 * them over one connection. A rejected recipient does not fail the session,
 * so each recipient's and each message's status is read afterwards and
 * sorted the way SMTP means it: 2xx sent, 5xx permanent, anything else
 * (4xx, a dropped connection, a server that never answered) temporary.
 * libesmtp does not encode headers and wants CRLF text: mime_build has
 * done both (NOTES-dependencies.md).
 *
 * libesmtp writes a message in several small writes and leaves Nagle's
 * algorithm on: each message then waits for the server's delayed ACK
 * (40 ms on Linux), which held a batch to 20 messages a second. It does not
 * hand out its socket, so when it reports the connection we find the TCP
 * socket talking to the server's port and set TCP_NODELAY on it.
 */
#include <stddef.h> /* libesmtp.h is not self-contained */

#include <auth-client.h>
#include <libesmtp.h>

#include "notifier.h"

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "mem.h"

/* One message of the session and its recipient. */
struct slot {
    struct mail *m;
    smtp_message_t msg;
    smtp_recipient_t rcpt;
};

/* interact - hand libesmtp's AUTH mechanism the user and password */
static int interact(auth_client_request_t req, char **result, int fields,
                    void *arg)
{
    const struct notifier_config *cfg = arg;
    for (int i = 0; i < fields; i++) {
        if (req[i].flags & AUTH_USER)
            result[i] = cfg->smtp_user;
        else if (req[i].flags & AUTH_PASS)
            result[i] = cfg->smtp_password;
        else
            return 0;
    }
    return 1;
}

/* peer_port - the remote port of TCP socket FD, or -1 */
static int peer_port(int fd)
{
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    int type = 0;
    socklen_t tl = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 ||
        type != SOCK_STREAM ||
        getpeername(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    if (a.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&a)->sin_port);
    if (a.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
    return -1;
}

/* on_event - libesmtp's progress: on connect, TCP_NODELAY on its socket */
static void on_event(smtp_session_t session, int event, void *arg, ...)
{
    (void)session;
    if (event != SMTP_EV_CONNECT)
        return;
    int port = *(const int *)arg;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = (int)strtol(e->d_name, NULL, 10);
        if (fd > 2 && fd != dirfd(d) && peer_port(fd) == port) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
    }
    closedir(d);
}

/* status_text - "550 5.1.1 text" without the trailing CRLF into BUF */
static void status_text(const smtp_status_t *s, char *buf, size_t size)
{
    const char *t = s && s->text ? s->text : "";
    size_t n = strcspn(t, "\r\n");
    snprintf(buf, size, "%d %.*s", s ? s->code : 0, (int)n, t);
}

/* classify - set M's outcome from its recipient and message status */
static void classify(struct slot *sl)
{
    struct mail *m = sl->m;
    const smtp_status_t *rs = smtp_recipient_status(sl->rcpt);
    const smtp_status_t *ms = smtp_message_transfer_status(sl->msg);
    const smtp_status_t *ps = smtp_reverse_path_status(sl->msg);
    int rc = rs ? rs->code : 0, mc = ms ? ms->code : 0;

    if (rc >= 500) {
        m->outcome = MAIL_PERMFAIL;
        status_text(rs, m->error, sizeof m->error);
    } else if (rc >= 200 && rc < 300 && mc >= 200 && mc < 300) {
        m->outcome = MAIL_SENT;
    } else if (rc >= 200 && rc < 300 && mc >= 500) {
        m->outcome = MAIL_PERMFAIL;
        status_text(ms, m->error, sizeof m->error);
    } else {
        /* 4xx, or never got that far: the sender refused (a problem on
         * our side, not the member's), or the connection dropped */
        m->outcome = MAIL_TEMPFAIL;
        if (ps && ps->code >= 400)
            status_text(ps, m->error, sizeof m->error);
        else if (rc >= 400)
            status_text(rs, m->error, sizeof m->error);
        else if (mc >= 400)
            status_text(ms, m->error, sizeof m->error);
        else
            snprintf(m->error, sizeof m->error,
                     "the session ended before this message was accepted");
    }
}

/* smtp_init / smtp_shutdown - libesmtp's AUTH plugins */
void smtp_init(void)
{
    auth_client_init();
}

void smtp_shutdown(void)
{
    auth_client_exit();
}

/* smtp_send_batch - send M[0..N) over one session; set each outcome */
void smtp_send_batch(const struct notifier_config *cfg, struct mail **m,
                     size_t n)
{
    if (n == 0)
        return;
    smtp_session_t session = smtp_create_session();
    struct slot *slots = tw_calloc(n, sizeof *slots);
    auth_context_t auth = NULL;
    char server[300];
    snprintf(server, sizeof server, "%s:%lld", cfg->smtp_host,
             (long long)cfg->smtp_port);
    const char *fail = NULL;

    if (!session || !smtp_set_server(session, server)) {
        fail = "cannot set up an SMTP session";
        goto out;
    }
    if (*cfg->smtp_helo)
        smtp_set_hostname(session, cfg->smtp_helo);
    int port = (int)cfg->smtp_port;
    smtp_set_eventcb(session, on_event, &port);
    long ms = (long)(cfg->smtp_timeout / TW_MSEC);
    for (int w = Timeout_GREETING; w <= Timeout_DATA2; w++)
        smtp_set_timeout(session, w | Timeout_OVERRIDE_RFC2822_MINIMUM, ms);
    enum starttls_option tls =
        strcmp(cfg->smtp_starttls, "required") == 0   ? Starttls_REQUIRED
        : strcmp(cfg->smtp_starttls, "optional") == 0 ? Starttls_ENABLED
                                                      : Starttls_DISABLED;
    if (!smtp_starttls_enable(session, tls) && tls == Starttls_REQUIRED) {
        fail = "smtp.starttls is required but libesmtp has no TLS";
        goto out;
    }
    if (*cfg->smtp_user) {
        auth = auth_create_context();
        auth_set_mechanism_flags(auth, AUTH_PLUGIN_PLAIN, 0);
        auth_set_interact_cb(auth, interact, (void *)cfg);
        smtp_auth_set_context(session, auth);
    }
    for (size_t i = 0; i < n; i++) {
        slots[i].m = m[i];
        slots[i].msg = smtp_add_message(session);
        if (!slots[i].msg ||
            !smtp_set_reverse_path(slots[i].msg, cfg->smtp_from)) {
            fail = "cannot add a message to the SMTP session";
            goto out;
        }
        smtp_set_message_str(slots[i].msg, m[i]->wire);
        slots[i].rcpt = smtp_add_recipient(slots[i].msg, m[i]->recipient);
        if (!slots[i].rcpt) {
            fail = "cannot add a recipient to the SMTP session";
            goto out;
        }
    }
    if (!smtp_start_session(session)) {
        char err[256];
        int e = smtp_errno();
        const char *why = smtp_strerror(e, err, sizeof err);
        for (size_t i = 0; i < n; i++) {
            m[i]->outcome = MAIL_TEMPFAIL;
            snprintf(m[i]->error, sizeof m[i]->error, "SMTP %s: %s", server,
                     why ? why : "session failed");
        }
        tw_warn("smtp: %s: %s (%zu messages wait)", server,
                why ? why : "session failed", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        classify(&slots[i]);

out:
    if (fail) {
        tw_error("smtp: %s", fail);
        for (size_t i = 0; i < n; i++) {
            m[i]->outcome = MAIL_TEMPFAIL;
            snprintf(m[i]->error, sizeof m[i]->error, "%s", fail);
        }
    }
    if (session)
        smtp_destroy_session(session);
    if (auth)
        auth_destroy_context(auth);
    free(slots);
}
