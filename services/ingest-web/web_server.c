/*
 * web_server.c - the portal's HTTP side: routing, limits, cookies, CSRF,
 * rate limits and security headers, on libmicrohttpd.
 *
 * DESIGN
 * ------
 * A pool of request threads (ingest_web.threads) with epoll. Each request
 * gets a struct conn, freed when MHD says the request is complete. Bodies
 * are read with a hard cap (ingest_web.max_request): a Content-Length over
 * it is answered 413 before the body is read, a chunked body that grows
 * past it is answered 413 as soon as it does. Forms go through MHD's post
 * processor (urlencoded and multipart); the API's JSON into a capped
 * buffer.
 *
 * A submission is spooled durably by the request thread and handed to the
 * bus thread (web_submit.c) while the connection is suspended; the bus
 * thread resumes it with the outcome, so no request thread ever sleeps on
 * the engine. The browser is then redirected (303) to its receipt page, so
 * a refresh never sends the form twice.
 *
 * Every form carries a CSRF token: an HMAC (common/link.h, purpose "csrf")
 * of a random per-visitor cookie, which a page on another site can neither
 * read nor forge. The JSON API takes no cookies and only application/json,
 * which a cross-site form cannot send. Rate limits are token buckets per
 * client address. Status look-ups answer a wrong email exactly like an
 * unknown reference.
 */
#include "web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <sys/socket.h>
#include <time.h>
#include <zmq.h>

#include <microhttpd.h>
#include <sodium.h>

#include "command.h"
#include "error.h"
#include "link.h"
#include "log.h"
#include "mem.h"
#include "sla.h"

#define COMMENT_MAX 2000
#define FIELD_MAX   (64 * 1024) /* any one form field but the files */

enum route {
    R_FORM,
    R_REQUEST,
    R_RECEIPT,
    R_LOOKUP,
    R_LOOKUP_POST,
    R_STATUS,
    R_SURVEY,
    R_SURVEY_POST,
    R_HEALTH,
    R_CSS,
    R_API_CREATE,
    R_API_GET,
    R_NOT_FOUND,
    R_BAD_METHOD,
};

enum state { S_READING = 0, S_SUSPENDED, S_DONE };

struct conn {
    struct web *w;
    struct MHD_Connection *mc;
    enum route route;
    char arg[80]; /* the ref or receipt id from the path */
    char ip[INET6_ADDRSTRLEN];
    enum web_lang lang;
    int lang_cookie; /* set the language cookie */
    char visitor[40];
    int new_visitor;
    char csrf[TW_LINK_TOKEN_MAX];
    struct MHD_PostProcessor *pp;
    struct web_form form;
    struct tw_buf body; /* the API's JSON */
    uint64_t received;
    int too_large;
    int bad_body;
    enum state state;
    atomic_int woken;
    struct web_waiter waiter;
    char key[TW_KEY_MAX_WEB];
    tw_time submitted_at;
};

/* --- rate limits --------------------------------------------------------- */

#define RL_SLOTS 8192

struct rl_slot {
    char ip[INET6_ADDRSTRLEN];
    double tokens;
    tw_time last;
};

struct web_limiter {
    pthread_mutex_t mu;
    double capacity, per_usec;
    struct rl_slot *slots;
    size_t used;
};

struct web_limiter *web_limiter_new(int64_t limit, int64_t window)
{
    struct web_limiter *l = tw_calloc(1, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    l->capacity = (double)limit;
    l->per_usec = (double)limit / (double)window;
    l->slots = tw_calloc(RL_SLOTS, sizeof *l->slots);
    return l;
}

void web_limiter_destroy(struct web_limiter **lp)
{
    if (!*lp)
        return;
    pthread_mutex_destroy(&(*lp)->mu);
    free((*lp)->slots);
    free(*lp);
    *lp = NULL;
}

int web_limiter_take(struct web_limiter *l, const char *ip)
{
    uint32_t hsh = 2166136261u;
    for (const unsigned char *q = (const unsigned char *)ip; *q; q++)
        hsh = (hsh ^ *q) * 16777619u;
    tw_time now = tw_clock_mono();
    int ok;
    pthread_mutex_lock(&l->mu);
    if (l->used > RL_SLOTS * 3 / 4) { /* full of strangers: start afresh */
        memset(l->slots, 0, RL_SLOTS * sizeof *l->slots);
        l->used = 0;
    }
    size_t i = hsh % RL_SLOTS;
    while (l->slots[i].ip[0] && strcmp(l->slots[i].ip, ip) != 0)
        i = (i + 1) % RL_SLOTS;
    struct rl_slot *s = &l->slots[i];
    if (!s->ip[0]) {
        snprintf(s->ip, sizeof s->ip, "%s", ip);
        s->tokens = l->capacity;
        s->last = now;
        l->used++;
    }
    s->tokens += (double)(now - s->last) * l->per_usec;
    if (s->tokens > l->capacity)
        s->tokens = l->capacity;
    s->last = now;
    ok = s->tokens >= 1.0;
    if (ok)
        s->tokens -= 1.0;
    pthread_mutex_unlock(&l->mu);
    return ok;
}

/* --- responses ----------------------------------------------------------- */

static const char csp[] =
    "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/* respond - queue BODY (taken) with STATUS and the security headers */
static enum MHD_Result respond(struct conn *c, unsigned status,
                               const char *type, struct tw_buf *body,
                               const char *location)
{
    size_t len = 0;
    char *data = tw_buf_take(body, &len);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Content-Security-Policy", csp);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header(r, "Permissions-Policy",
                            "camera=(), microphone=(), geolocation=()");
    if (strncmp(c->w->base->site_portal_url, "https:", 6) == 0)
        MHD_add_response_header(r, "Strict-Transport-Security",
                                "max-age=31536000");
    if (c->route == R_CSS)
        MHD_add_response_header(r, "Cache-Control", "public, max-age=3600");
    else
        MHD_add_response_header(r, "Cache-Control", "no-store");
    if (location)
        MHD_add_response_header(r, "Location", location);
    if (status == MHD_HTTP_TOO_MANY_REQUESTS)
        MHD_add_response_header(r, "Retry-After", "600");
    if (c->route == R_BAD_METHOD)
        MHD_add_response_header(r, "Allow", "GET, POST");
    const char *secure = strncmp(c->w->base->site_portal_url, "https:", 6) == 0
                             ? "; Secure"
                             : "";
    if (c->new_visitor && c->route != R_CSS && c->route != R_HEALTH &&
        c->route != R_API_CREATE && c->route != R_API_GET) {
        char cookie[128];
        snprintf(cookie, sizeof cookie,
                 "tw_v=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=86400%s",
                 c->visitor, secure);
        MHD_add_response_header(r, "Set-Cookie", cookie);
    }
    if (c->lang_cookie) {
        char cookie[128];
        snprintf(cookie, sizeof cookie,
                 "tw_lang=%s; Path=/; HttpOnly; SameSite=Lax; "
                 "Max-Age=31536000%s",
                 c->lang == WEB_EN ? "en" : "ar", secure);
        MHD_add_response_header(r, "Set-Cookie", cookie);
    }
    enum MHD_Result rc = MHD_queue_response(c->mc, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result html(struct conn *c, unsigned status, struct tw_buf *b)
{
    return respond(c, status, "text/html; charset=utf-8", b, NULL);
}

static enum MHD_Result json_reply(struct conn *c, unsigned status, json_t *j)
{
    struct tw_buf b;
    tw_buf_init(&b, 0);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (tw_buf_add(&b, s, strlen(s)) != TW_OK || tw_buf_add(&b, "\n", 1))
        abort();
    free(s);
    return respond(c, status, "application/json; charset=utf-8", &b, NULL);
}

static enum MHD_Result redirect(struct conn *c, const char *to)
{
    struct tw_buf b;
    tw_buf_init(&b, 0);
    return respond(c, MHD_HTTP_SEE_OTHER, "text/plain; charset=utf-8", &b, to);
}

/* page - a web_page for C */
static struct web_page page(const struct conn *c, const char *switch_url)
{
    struct web_page p = {c->w, c->lang, switch_url, c->csrf};
    return p;
}

/* message - a whole page of one message */
static enum MHD_Result message(struct conn *c, unsigned status,
                               const char *title, const char *text)
{
    struct tw_buf b;
    tw_buf_init(&b, 0);
    struct web_page p = page(c, NULL);
    page_message(&b, &p, title, text, NULL);
    return html(c, status, &b);
}

/* api_error - {"error": CODE, "message": TEXT} */
static enum MHD_Result api_error(struct conn *c, unsigned status,
                                 const char *code, const char *text)
{
    return json_reply(c, status,
                      json_pack("{s:s, s:s}", "error", code, "message", text));
}

/* --- request set-up ------------------------------------------------------ */

/* client_ip - the client's address as text: the peer's, or behind a
 * trusted proxy the last entry of ingest_web.real_ip_header (the one the
 * proxy itself added; earlier ones the client may have forged) */
static void client_ip(struct conn *c)
{
    const char *hdr = c->w->cfg->real_ip_header;
    if (hdr && *hdr) {
        const char *v =
            MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, hdr);
        if (v && *v) {
            const char *last = strrchr(v, ',');
            last = last ? last + 1 : v;
            while (*last == ' ')
                last++;
            size_t n = strcspn(last, " ");
            if (n > 0 && n < sizeof c->ip) {
                snprintf(c->ip, sizeof c->ip, "%.*s", (int)n, last);
                return;
            }
        }
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c->mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(c->ip, sizeof c->ip, "unknown");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET,
                  &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                  c->ip, sizeof c->ip);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6,
                  &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                  c->ip, sizeof c->ip);
}

/* hex_ok - whether S is exactly N lower-case hex digits */
static int hex_ok(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return 0;
    for (; *s; s++)
        if (!strchr("0123456789abcdef", *s))
            return 0;
    return 1;
}

/* visitor - the visitor cookie (a new one when missing) and its token */
static void visitor(struct conn *c)
{
    const char *v = MHD_lookup_connection_value(c->mc, MHD_COOKIE_KIND, "tw_v");
    if (hex_ok(v, 32)) {
        snprintf(c->visitor, sizeof c->visitor, "%s", v);
    } else {
        unsigned char raw[16];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(c->visitor, sizeof c->visitor, raw, sizeof raw);
        c->new_visitor = 1;
    }
    if (tw_link_token(c->w->base->site_secret, "csrf", c->visitor, c->csrf) !=
        TW_OK)
        c->csrf[0] = '\0';
}

/* csrf_ok - whether the form's token belongs to this visitor's cookie */
static int csrf_ok(struct conn *c)
{
    return !c->new_visitor && c->form.csrf && c->csrf[0] &&
           sodium_memcmp(c->form.csrf, c->csrf, strlen(c->csrf)) == 0 &&
           strlen(c->form.csrf) == strlen(c->csrf);
}

/* language - from ?lang=, else the cookie, else Arabic */
static void language(struct conn *c)
{
    const char *q =
        MHD_lookup_connection_value(c->mc, MHD_GET_ARGUMENT_KIND, "lang");
    const char *k =
        MHD_lookup_connection_value(c->mc, MHD_COOKIE_KIND, "tw_lang");
    if (q && (strcmp(q, "en") == 0 || strcmp(q, "ar") == 0)) {
        c->lang = strcmp(q, "en") == 0 ? WEB_EN : WEB_AR;
        c->lang_cookie = !k || strcmp(k, q) != 0;
    } else {
        c->lang = k && strcmp(k, "en") == 0 ? WEB_EN : WEB_AR;
    }
}

/* ref_ok - the shape of a case reference (PREFIX-YYYY-NNNNNN) */
static int ref_ok(const char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n && s[i] >= 'A' && s[i] <= 'Z')
        i++;
    if (i < 1 || i > 8 || n != i + 12 || s[i] != '-' || s[i + 5] != '-')
        return 0;
    for (size_t j = i + 1; j < n; j++)
        if (j != i + 5 && (s[j] < '0' || s[j] > '9'))
            return 0;
    return 1;
}

/* route_of - which page URL and METHOD ask for; ARG gets the path's id */
static enum route route_of(const char *method, const char *url, char *arg,
                           size_t argsz)
{
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int post = strcmp(method, "POST") == 0;
    struct {
        const char *prefix;
        enum route g, p;
    } const table[] = {
        {"/status/", R_STATUS, R_NOT_FOUND},
        {"/survey/", R_SURVEY, R_SURVEY_POST},
        {"/receipt/", R_RECEIPT, R_NOT_FOUND},
        {"/api/v1/cases/", R_API_GET, R_NOT_FOUND},
    };
    arg[0] = '\0';
    if (strcmp(url, "/") == 0 || strcmp(url, "/request") == 0)
        return get ? R_FORM : post ? R_REQUEST : R_BAD_METHOD;
    if (strcmp(url, "/status") == 0)
        return get ? R_LOOKUP : post ? R_LOOKUP_POST : R_BAD_METHOD;
    if (strcmp(url, "/healthz") == 0)
        return get ? R_HEALTH : R_BAD_METHOD;
    if (strcmp(url, "/static/style.css") == 0)
        return get ? R_CSS : R_BAD_METHOD;
    if (strcmp(url, "/api/v1/cases") == 0)
        return post ? R_API_CREATE : R_BAD_METHOD;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        size_t n = strlen(table[i].prefix);
        if (strncmp(url, table[i].prefix, n) != 0)
            continue;
        const char *rest = url + n;
        if (!*rest || strlen(rest) >= argsz || strchr(rest, '/'))
            return R_NOT_FOUND;
        snprintf(arg, argsz, "%s", rest);
        enum route r = get ? table[i].g : post ? table[i].p : R_BAD_METHOD;
        return r;
    }
    return R_NOT_FOUND;
}

/* --- form bodies --------------------------------------------------------- */

/* field_index - the request form's field named KEY, or -1 */
static int field_index(const char *key)
{
    static const char *const names[F__COUNT] = {
        "member",   "name",    "email", "phone",  "kind",
        "category", "subject", "body",  "attest", "files",
    };
    for (int i = 0; i < F__COUNT; i++)
        if (strcmp(names[i], key) == 0)
            return i;
    return -1;
}

/* append_value - add DATA to the string *SLOT, at most MAX bytes */
static int append_value(char **slot, const char *data, size_t size, size_t max)
{
    size_t have = *slot ? strlen(*slot) : 0;
    if (have + size > max)
        return -1;
    char *n = tw_realloc(*slot, have + size + 1);
    memcpy(n + have, data, size);
    n[have + size] = '\0';
    *slot = n;
    return 0;
}

/* on_field - MHD's post processor hands over one piece of one field */
static enum MHD_Result on_field(void *cls, enum MHD_ValueKind kind,
                                const char *key, const char *filename,
                                const char *type, const char *encoding,
                                const char *data, uint64_t off, size_t size)
{
    (void)kind;
    (void)encoding;
    struct conn *c = cls;
    struct web_form *f = &c->form;
    if (strcmp(key, "files") == 0) {
        if (!filename || !*filename)
            return MHD_YES; /* an empty file input */
        if (off == 0) {
            if (f->nfiles >= sizeof f->files / sizeof f->files[0] ||
                f->nfiles >= (size_t)c->w->cfg->max_attachments) {
                f->too_many_files = 1;
                return MHD_YES;
            }
            struct web_file *fl = &f->files[f->nfiles++];
            fl->name = tw_strdup(filename);
            fl->type = tw_strdup(type ? type : "application/octet-stream");
            /* one byte over the limit is enough to say "too large" */
            tw_buf_init(&fl->data, (size_t)c->w->cfg->max_attachment + 1);
        } else if (f->too_many_files) {
            return MHD_YES;
        }
        struct web_file *fl = &f->files[f->nfiles - 1];
        if (fl->data.len <= (size_t)c->w->cfg->max_attachment &&
            tw_buf_add(&fl->data, data, size) != TW_OK) {
            /* keep it one byte over the limit: enough to say too large */
            size_t room = fl->data.cap - fl->data.len;
            if (tw_buf_add(&fl->data, data, room < size ? room : size) != TW_OK)
                c->bad_body = 1;
        }
        return MHD_YES;
    }
    char **slot = NULL;
    size_t max = FIELD_MAX;
    int i = field_index(key);
    if (i >= 0 && i != F_FILES)
        slot = &f->v[i];
    else if (strcmp(key, "csrf") == 0)
        slot = &f->csrf, max = 64;
    else if (strcmp(key, "lang") == 0)
        slot = &f->lang, max = 4;
    else if (strcmp(key, "rating") == 0)
        slot = &f->rating, max = 4;
    else if (strcmp(key, "comment") == 0)
        slot = &f->comment;
    else if (strcmp(key, "ref") == 0)
        slot = &f->ref, max = 64;
    else if (strcmp(key, "t") == 0)
        slot = &f->token, max = 64;
    if (!slot)
        return MHD_YES; /* unknown fields are ignored */
    if (append_value(slot, data, size, max) != 0)
        c->bad_body = 1;
    return MHD_YES;
}

/* --- pages --------------------------------------------------------------- */

/* self_url - PATH with the other language (and token T, if any) */
static char *other_lang(const struct conn *c, const char *path, const char *t)
{
    const char *lang = c->lang == WEB_AR ? "en" : "ar";
    if (t)
        return tw_asprintf("%s?t=%s&lang=%s", path, t, lang);
    return tw_asprintf("%s?lang=%s", path, lang);
}

static enum MHD_Result show_form(struct conn *c, unsigned status,
                                 const char *notice)
{
    struct tw_buf b;
    tw_buf_init(&b, 0);
    char *sw = other_lang(c, "/", NULL);
    struct web_page p = page(c, sw);
    page_form(&b, &p, &c->form, notice);
    free(sw);
    return html(c, status, &b);
}

/* receipt_url - "/receipt/UUID?t=TOKEN" for the submission KEY */
static char *receipt_url(const struct conn *c, const char *key, int absolute)
{
    const char *uuid = strchr(key, ':') ? strchr(key, ':') + 1 : key;
    char tok[TW_LINK_TOKEN_MAX];
    if (tw_link_token(c->w->base->site_secret, "receipt", uuid, tok) != TW_OK)
        return NULL;
    return tw_asprintf("%s/receipt/%s?t=%s%s",
                       absolute ? c->w->base->site_portal_url : "", uuid, tok,
                       absolute            ? ""
                       : c->lang == WEB_EN ? "&lang=en"
                                           : "");
}

/* submit - spool and send COMMAND (taken) and suspend until the outcome */
static enum MHD_Result submit(struct conn *c, json_t *cmd,
                              const struct tw_bus_part *parts, size_t n);

static enum MHD_Result do_request(struct conn *c)
{
    struct web_form *f = &c->form;
    if (c->bad_body)
        return message(c, MHD_HTTP_BAD_REQUEST, "title_400", "e400");
    if (web_form_check(c->w, f) > 0)
        return show_form(c, MHD_HTTP_UNPROCESSABLE_CONTENT, NULL);
    if (!csrf_ok(c))
        return show_form(c, MHD_HTTP_FORBIDDEN, "notice_session");
    if (!web_limiter_take(c->w->submit_rl, c->ip)) {
        tw_warn("%s: submission refused: rate limit", c->ip);
        return message(c, MHD_HTTP_TOO_MANY_REQUESTS, "title_429", "e429");
    }
    char *key = tw_key_new("web");
    snprintf(c->key, sizeof c->key, "%s", key);
    free(key);
    c->submitted_at = tw_clock_now();
    json_t *cmd = web_form_command(c->w, f, c->key, c->submitted_at);
    struct tw_bus_part parts[16];
    for (size_t i = 0; i < f->nfiles; i++) {
        parts[i].data = f->files[i].data.data ? f->files[i].data.data : "";
        parts[i].len = f->files[i].data.len;
    }
    return submit(c, cmd, parts, f->nfiles);
}

/* wake - the bus thread's callback: the outcome is in c->waiter.result */
static void wake(void *arg)
{
    struct conn *c = arg;
    atomic_store(&c->woken, 1);
    MHD_resume_connection(c->mc);
}

static enum MHD_Result submit(struct conn *c, json_t *cmd,
                              const struct tw_bus_part *parts, size_t n)
{
    memset(&c->waiter, 0, sizeof c->waiter);
    c->waiter.wake = wake;
    c->waiter.arg = c;
    c->state = S_SUSPENDED;
    MHD_suspend_connection(c->mc);
    int rc = web_submit(c->w->sub, cmd, parts, n, &c->waiter);
    json_decref(cmd);
    if (rc != TW_OK) {
        c->waiter.result.outcome = WEB_FAILED;
        atomic_store(&c->woken, 1);
        MHD_resume_connection(c->mc);
    } else {
        tw_debug("%s: queued for the spool", c->key);
    }
    return MHD_YES;
}

/* finish_request - the form's outcome is known */
static enum MHD_Result finish_request(struct conn *c)
{
    struct web_result *r = &c->waiter.result;
    switch (r->outcome) {
    case WEB_DONE:
    case WEB_QUEUED: {
        char *to = receipt_url(c, c->key, 0);
        enum MHD_Result rc = redirect(c, to);
        free(to);
        return rc;
    }
    case WEB_REJECTED:
        return show_form(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "notice_refused");
    default:
        return show_form(c, MHD_HTTP_SERVICE_UNAVAILABLE, "notice_unavailable");
    }
}

/* token_arg - the ?t= argument */
static const char *token_arg(struct conn *c)
{
    return MHD_lookup_connection_value(c->mc, MHD_GET_ARGUMENT_KIND, "t");
}

static enum MHD_Result do_receipt(struct conn *c)
{
    const char *t = token_arg(c);
    if (!tw_link_check(c->w->base->site_secret, "receipt", c->arg, t))
        return message(c, MHD_HTTP_NOT_FOUND, "title_link_bad", "link_bad");
    char *key = tw_asprintf("web:%s", c->arg);
    struct web_result r;
    memset(&r, 0, sizeof r);
    int st = web_read_intake(c->w->reader, key, &r);
    free(key);
    char *path = tw_asprintf("/receipt/%s", c->arg);
    char *sw = other_lang(c, path, t);
    struct web_page p = page(c, sw);
    struct tw_buf b;
    tw_buf_init(&b, 0);
    if (st == TW_OK) {
        char *status =
            tw_link_url("", c->w->base->site_secret, "status", r.ref);
        if (status && c->lang == WEB_EN) {
            char *s2 = tw_asprintf("%s&lang=en", status);
            free(status);
            status = s2;
        }
        page_confirm(&b, &p, &r, status);
        free(status);
    } else {
        /* Not in the database yet (the engine is away or busy): the item
         * is on disk. The receipt time is the spool's; the promise is the
         * configured one. */
        tw_time now = tw_clock_now();
        char *self = tw_asprintf("%s?t=%s%s", path, t,
                                 c->lang == WEB_EN ? "&lang=en" : "");
        struct tw_sla_policy policy;
        tw_sla_policy_default(&policy);
        policy.decision_within = c->w->cfg->decision_within;
        tw_time due = tw_sla_due_at(&policy, now);
        page_queued(&b, &p, now, due, self);
        free(self);
    }
    free(path);
    free(sw);
    return html(c, st == TW_OK ? MHD_HTTP_OK : MHD_HTTP_ACCEPTED, &b);
}

static enum MHD_Result show_lookup(struct conn *c, unsigned status,
                                   const char *ref, const char *email,
                                   const char *error, const char *notice)
{
    struct tw_buf b;
    tw_buf_init(&b, 0);
    char *sw = other_lang(c, "/status", NULL);
    struct web_page p = page(c, sw);
    page_lookup(&b, &p, ref, email, error, notice);
    free(sw);
    return html(c, status, &b);
}

/* show_case - the status page of REF; EMAIL NULL when a signed link
 * vouched for the reader. Unknown and mismatched answer the same. */
static enum MHD_Result show_case(struct conn *c, const char *ref,
                                 const char *email, const char *t)
{
    struct web_case *wc = tw_malloc(sizeof *wc);
    int st =
        ref_ok(ref) ? web_read_case(c->w->reader, ref, email, wc) : TW_PERMFAIL;
    enum MHD_Result rc;
    if (st == TW_TEMPFAIL) {
        rc = message(c, MHD_HTTP_SERVICE_UNAVAILABLE, "title_503", "e503");
    } else if (st != TW_OK) {
        if (email)
            rc = show_lookup(c, MHD_HTTP_NOT_FOUND, ref, email, "not_found",
                             NULL);
        else
            rc = message(c, MHD_HTTP_NOT_FOUND, "title_link_bad", "link_bad");
    } else {
        char *survey = NULL;
        if ((strcmp(wc->status, "resolved") == 0 ||
             strcmp(wc->status, "closed") == 0) &&
            !wc->survey_answered)
            survey =
                tw_link_url("", c->w->base->site_secret, "survey", wc->ref);
        char *path = tw_asprintf("/status/%s", wc->ref);
        char tok[TW_LINK_TOKEN_MAX];
        if (!t && tw_link_token(c->w->base->site_secret, "status", wc->ref,
                                tok) == TW_OK)
            t = tok;
        char *sw = other_lang(c, path, t);
        struct web_page p = page(c, sw);
        struct tw_buf b;
        tw_buf_init(&b, 0);
        page_status(&b, &p, wc, survey);
        rc = html(c, MHD_HTTP_OK, &b);
        free(sw);
        free(path);
        free(survey);
    }
    free(wc);
    return rc;
}

static enum MHD_Result do_lookup_post(struct conn *c)
{
    struct web_form *f = &c->form;
    if (c->bad_body)
        return message(c, MHD_HTTP_BAD_REQUEST, "title_400", "e400");
    char *ref = tw_strdup(f->ref ? f->ref : "");
    for (char *q = ref; *q; q++) /* members type refs in any case */
        if (*q >= 'a' && *q <= 'z')
            *q = (char)(*q - 'a' + 'A');
    const char *email = f->v[F_EMAIL] ? f->v[F_EMAIL] : "";
    enum MHD_Result rc;
    if (!csrf_ok(c))
        rc = show_lookup(c, MHD_HTTP_FORBIDDEN, ref, email, NULL,
                         "notice_session");
    else if (!web_limiter_take(c->w->lookup_rl, c->ip))
        rc = message(c, MHD_HTTP_TOO_MANY_REQUESTS, "title_429", "e429");
    else if (!*ref || !*email)
        rc = show_lookup(c, MHD_HTTP_NOT_FOUND, ref, email, "not_found", NULL);
    else
        rc = show_case(c, ref, email, NULL);
    free(ref);
    return rc;
}

static enum MHD_Result do_status(struct conn *c)
{
    if (!web_limiter_take(c->w->lookup_rl, c->ip))
        return message(c, MHD_HTTP_TOO_MANY_REQUESTS, "title_429", "e429");
    const char *t = token_arg(c);
    if (!tw_link_check(c->w->base->site_secret, "status", c->arg, t))
        return message(c, MHD_HTTP_NOT_FOUND, "title_link_bad", "link_bad");
    return show_case(c, c->arg, NULL, t);
}

/* survey_case - the case behind a survey link, or a page saying why not;
 * TW_OK with *WC filled, else *RC is the answer already queued */
static int survey_case(struct conn *c, const char *t, struct web_case *wc,
                       enum MHD_Result *rc)
{
    if (!web_limiter_take(c->w->lookup_rl, c->ip)) {
        *rc = message(c, MHD_HTTP_TOO_MANY_REQUESTS, "title_429", "e429");
        return TW_PERMFAIL;
    }
    if (!tw_link_check(c->w->base->site_secret, "survey", c->arg, t)) {
        *rc = message(c, MHD_HTTP_NOT_FOUND, "title_link_bad", "link_bad");
        return TW_PERMFAIL;
    }
    int st = web_read_case(c->w->reader, c->arg, NULL, wc);
    if (st == TW_TEMPFAIL) {
        *rc = message(c, MHD_HTTP_SERVICE_UNAVAILABLE, "title_503", "e503");
        return TW_PERMFAIL;
    }
    if (st != TW_OK) {
        *rc = message(c, MHD_HTTP_NOT_FOUND, "title_link_bad", "link_bad");
        return TW_PERMFAIL;
    }
    if (wc->survey_answered) {
        *rc = message(c, MHD_HTTP_CONFLICT, "title_answered", "answered");
        return TW_PERMFAIL;
    }
    if (strcmp(wc->status, "resolved") != 0 &&
        strcmp(wc->status, "closed") != 0) {
        *rc = message(c, MHD_HTTP_CONFLICT, "title_not_yet", "not_yet");
        return TW_PERMFAIL;
    }
    return TW_OK;
}

static enum MHD_Result show_survey(struct conn *c, unsigned status,
                                   const struct web_case *wc, const char *t,
                                   const char *err_r, const char *err_c,
                                   const char *notice)
{
    struct tw_buf b;
    tw_buf_init(&b, 0);
    char *path = tw_asprintf("/survey/%s", c->arg);
    char *sw = other_lang(c, path, t);
    struct web_page p = page(c, sw);
    (void)notice;
    page_survey(&b, &p, wc, t, c->form.rating, c->form.comment, err_r, err_c);
    free(sw);
    free(path);
    return html(c, status, &b);
}

static enum MHD_Result do_survey(struct conn *c)
{
    struct web_case *wc = tw_malloc(sizeof *wc);
    enum MHD_Result rc;
    const char *t = token_arg(c);
    if (survey_case(c, t, wc, &rc) == TW_OK)
        rc = show_survey(c, MHD_HTTP_OK, wc, t, NULL, NULL, NULL);
    free(wc);
    return rc;
}

static enum MHD_Result do_survey_post(struct conn *c)
{
    struct web_form *f = &c->form;
    if (c->bad_body)
        return message(c, MHD_HTTP_BAD_REQUEST, "title_400", "e400");
    struct web_case *wc = tw_malloc(sizeof *wc);
    enum MHD_Result rc;
    const char *t = f->token ? f->token : "";
    if (survey_case(c, t, wc, &rc) != TW_OK) {
        free(wc);
        return rc;
    }
    const char *err_r = NULL, *err_c = NULL;
    long rating = 0;
    if (f->rating && strlen(f->rating) == 1 && f->rating[0] >= '1' &&
        f->rating[0] <= '5')
        rating = f->rating[0] - '0';
    else
        err_r = "err_rating";
    if (f->comment && strlen(f->comment) > COMMENT_MAX)
        err_c = "err_comment";
    if (err_r || err_c) {
        rc = show_survey(c, MHD_HTTP_UNPROCESSABLE_CONTENT, wc, t, err_r, err_c,
                         NULL);
        free(wc);
        return rc;
    }
    if (!csrf_ok(c)) {
        rc = show_survey(c, MHD_HTTP_FORBIDDEN, wc, t, NULL, NULL,
                         "notice_session");
        free(wc);
        return rc;
    }
    free(wc);
    char *key = tw_key_new("web");
    snprintf(c->key, sizeof c->key, "%s", key);
    free(key);
    json_t *cmd =
        json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:s}", "v", 1, "op", "survey",
                  "key", c->key, "case", c->arg, "token", t, "rating",
                  (int)rating, "comment", f->comment ? f->comment : "");
    return submit(c, cmd, NULL, 0);
}

static enum MHD_Result finish_survey(struct conn *c)
{
    struct web_result *r = &c->waiter.result;
    switch (r->outcome) {
    case WEB_DONE:
    case WEB_QUEUED:
        return message(c, MHD_HTTP_OK, "title_thanks", "thanks");
    case WEB_REJECTED:
        if (strcmp(r->error, "conflict") == 0)
            return message(c, MHD_HTTP_CONFLICT, "title_answered", "answered");
        tw_warn("%s: survey for %s refused: %s: %s", c->key, c->arg, r->error,
                r->message);
        return message(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "title_link_bad",
                       "link_bad");
    default:
        return message(c, MHD_HTTP_SERVICE_UNAVAILABLE, "title_503", "e503");
    }
}

static enum MHD_Result do_health(struct conn *c)
{
    long spooled = web_submitter_spooled(c->w->sub);
    int db = web_reader_up(c->w->reader);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I}", "status",
                          spooled >= 0 ? "ok" : "failing", "version",
                          WEB_VERSION, "database", db ? "up" : "down", "engine",
                          web_submitter_engine_up(c->w->sub) ? "up" : "unknown",
                          "spooled", (json_int_t)spooled);
    return json_reply(
        c, spooled >= 0 ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, j);
}

/* --- the JSON API -------------------------------------------------------- */

static enum MHD_Result do_api_create(struct conn *c)
{
    const char *type =
        MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, "Content-Type");
    if (!type || strncasecmp(type, "application/json", 16) != 0)
        return api_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "invalid",
                         "send application/json");
    char msg[TW_MSG_MAX];
    if (web_api_form(c->body.data ? c->body.data : "", c->body.len, &c->form,
                     msg) != TW_OK)
        return api_error(c, MHD_HTTP_BAD_REQUEST, "invalid", msg);
    if (web_form_check(c->w, &c->form) > 0)
        return json_reply(c, MHD_HTTP_UNPROCESSABLE_CONTENT,
                          web_api_errors(&c->form));
    if (!web_limiter_take(c->w->submit_rl, c->ip))
        return api_error(c, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limited",
                         "too many submissions from this address");
    char *key = tw_key_new("web");
    snprintf(c->key, sizeof c->key, "%s", key);
    free(key);
    c->submitted_at = tw_clock_now();
    return submit(c, web_form_command(c->w, &c->form, c->key, c->submitted_at),
                  NULL, 0);
}

static enum MHD_Result finish_api_create(struct conn *c)
{
    struct web_result *r = &c->waiter.result;
    char rec[TW_TIME_ISO_MAX], due[TW_TIME_ISO_MAX];
    char *receipt = receipt_url(c, c->key, 1);
    enum MHD_Result rc;
    if (r->outcome == WEB_DONE) {
        char *status = tw_link_url(c->w->base->site_portal_url,
                                   c->w->base->site_secret, "status", r->ref);
        rc = json_reply(c, MHD_HTTP_CREATED,
                        json_pack("{s:s, s:s, s:s, s:s, s:b, s:s?}", "case",
                                  r->ref, "status", "new", "received_at",
                                  tw_time_iso(r->received_at, 0, rec),
                                  "sla_due_at", tw_time_iso(r->due_at, 0, due),
                                  "verified", r->verified, "status_url",
                                  status));
        free(status);
    } else if (r->outcome == WEB_QUEUED) {
        rc = json_reply(c, MHD_HTTP_ACCEPTED,
                        json_pack("{s:s, s:s, s:s, s:s?}", "status", "queued",
                                  "receipt", strchr(c->key, ':') + 1,
                                  "received_at",
                                  tw_time_iso(c->submitted_at, 0, rec),
                                  "receipt_url", receipt));
    } else if (r->outcome == WEB_REJECTED) {
        rc = api_error(c, MHD_HTTP_UNPROCESSABLE_CONTENT, r->error, r->message);
    } else {
        rc = api_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                       "could not store the request; nothing was kept");
    }
    free(receipt);
    return rc;
}

static enum MHD_Result do_api_get(struct conn *c)
{
    if (!web_limiter_take(c->w->lookup_rl, c->ip))
        return api_error(c, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limited",
                         "too many look-ups from this address");
    const char *email =
        MHD_lookup_connection_value(c->mc, MHD_GET_ARGUMENT_KIND, "email");
    const char *t = token_arg(c);
    if (!email || !*email) {
        email = NULL;
        if (!t || !ref_ok(c->arg) ||
            !tw_link_check(c->w->base->site_secret, "status", c->arg, t))
            return api_error(c, MHD_HTTP_NOT_FOUND, "not_found",
                             "no such case for this email or token");
    } else if (!ref_ok(c->arg)) {
        return api_error(c, MHD_HTTP_NOT_FOUND, "not_found",
                         "no such case for this email or token");
    }
    struct web_case *wc = tw_malloc(sizeof *wc);
    int st = web_read_case(c->w->reader, c->arg, email, wc);
    enum MHD_Result rc;
    if (st == TW_TEMPFAIL)
        rc = api_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                       "try again later");
    else if (st != TW_OK)
        rc = api_error(c, MHD_HTTP_NOT_FOUND, "not_found",
                       "no such case for this email or token");
    else
        rc = json_reply(c, MHD_HTTP_OK, web_api_case(c->w, wc, c->lang));
    free(wc);
    return rc;
}

/* --- the handler --------------------------------------------------------- */

static enum MHD_Result too_large(struct conn *c)
{
    tw_warn("%s: request body over %lld bytes refused", c->ip,
            (long long)c->w->cfg->max_request);
    if (c->route == R_API_CREATE)
        return api_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
                         "request body too large");
    struct tw_buf b;
    tw_buf_init(&b, 0);
    struct web_page p = page(c, NULL);
    page_size_limit(&b, &p, c->w->cfg->max_request);
    return html(c, MHD_HTTP_CONTENT_TOO_LARGE, &b);
}

/* discard_cap - how much of an oversized body is read and dropped */
static uint64_t discard_cap(const struct web *w)
{
    return 4 * (uint64_t)w->cfg->max_request + (1u << 20);
}

/* begin - the first call for a request: route, cookies, limits */
static enum MHD_Result begin(struct web *w, struct MHD_Connection *mc,
                             const char *url, const char *method,
                             void **con_cls)
{
    struct conn *c = tw_calloc(1, sizeof *c);
    c->w = w;
    c->mc = mc;
    *con_cls = c;
    c->route = route_of(method, url, c->arg, sizeof c->arg);
    client_ip(c);
    language(c);
    visitor(c);
    tw_buf_init(&c->body, (size_t)w->cfg->max_request);
    if (c->route == R_REQUEST || c->route == R_LOOKUP_POST ||
        c->route == R_SURVEY_POST || c->route == R_API_CREATE) {
        const char *cl =
            MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
        uint64_t len = cl ? strtoull(cl, NULL, 10) : 0;
        if (len > (uint64_t)w->cfg->max_request) {
            /* Read and drop a body a few times the limit, so the browser
             * gets the 413 page instead of a reset connection; answer a
             * bigger one at once. */
            c->too_large = 1;
            if (len > discard_cap(w)) {
                c->state = S_DONE;
                return too_large(c);
            }
        }
        if (c->route != R_API_CREATE)
            c->pp = MHD_create_post_processor(mc, 4096, on_field, c);
        if (c->route != R_API_CREATE && !c->pp)
            c->bad_body = 1; /* not a form encoding */
    }
    return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *mc,
                              const char *url, const char *method,
                              const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)version;
    struct conn *c = *con_cls;
    if (!c)
        return begin(cls, mc, url, method, con_cls);
    if (c->too_large) {
        size_t n = *upload_size;
        c->received += n;
        *upload_size = 0;
        if (c->state == S_DONE)
            return MHD_YES; /* answered already */
        if (n == 0 || c->received > discard_cap(c->w)) {
            c->state = S_DONE;
            return too_large(c);
        }
        return MHD_YES;
    }
    if (c->state == S_SUSPENDED) {
        if (!atomic_load(&c->woken))
            return MHD_YES;
        c->state = S_DONE;
        if (c->route == R_REQUEST)
            return finish_request(c);
        if (c->route == R_SURVEY_POST)
            return finish_survey(c);
        return finish_api_create(c);
    }
    if (*upload_size) {
        c->received += *upload_size;
        if (c->received > (uint64_t)c->w->cfg->max_request) {
            *upload_size = 0;
            c->too_large = 1; /* drop the rest, then answer 413 */
            return MHD_YES;
        }
        if (c->pp) {
            if (MHD_post_process(c->pp, upload, *upload_size) != MHD_YES)
                c->bad_body = 1;
        } else if (c->route == R_API_CREATE) {
            if (tw_buf_add(&c->body, upload, *upload_size) != TW_OK)
                c->bad_body = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    switch (c->route) {
    case R_FORM:
        return show_form(c, MHD_HTTP_OK, NULL);
    case R_REQUEST:
        if (c->form.lang)
            c->lang = strcmp(c->form.lang, "en") == 0 ? WEB_EN : WEB_AR;
        return do_request(c);
    case R_RECEIPT:
        return do_receipt(c);
    case R_LOOKUP:
        return show_lookup(c, MHD_HTTP_OK, NULL, NULL, NULL, NULL);
    case R_LOOKUP_POST:
        if (c->form.lang)
            c->lang = strcmp(c->form.lang, "en") == 0 ? WEB_EN : WEB_AR;
        return do_lookup_post(c);
    case R_STATUS:
        return do_status(c);
    case R_SURVEY:
        return do_survey(c);
    case R_SURVEY_POST:
        if (c->form.lang)
            c->lang = strcmp(c->form.lang, "en") == 0 ? WEB_EN : WEB_AR;
        return do_survey_post(c);
    case R_HEALTH:
        return do_health(c);
    case R_CSS: {
        struct tw_buf b;
        tw_buf_init(&b, 0);
        if (tw_buf_add(&b, web_css, strlen(web_css)) != TW_OK)
            abort();
        return respond(c, MHD_HTTP_OK, "text/css; charset=utf-8", &b, NULL);
    }
    case R_API_CREATE:
        if (c->bad_body)
            return api_error(c, MHD_HTTP_BAD_REQUEST, "invalid",
                             "unreadable body");
        return do_api_create(c);
    case R_API_GET:
        return do_api_get(c);
    case R_BAD_METHOD:
        return message(c, MHD_HTTP_METHOD_NOT_ALLOWED, "title_405", "e405");
    case R_NOT_FOUND:
    default:
        if (strncmp(url, "/api/", 5) == 0)
            return api_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such URL");
        return message(c, MHD_HTTP_NOT_FOUND, "title_404", "e404");
    }
}

/* completed - MHD is done with the request: free its state */
static void completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)mc;
    (void)toe;
    struct conn *c = *con_cls;
    if (!c)
        return;
    if (c->pp)
        MHD_destroy_post_processor(c->pp);
    web_form_clear(&c->form);
    tw_buf_free(&c->body);
    free(c);
    *con_cls = NULL;
}

/* parse_categories - "name|ar|en" entries into W->cats; TW_PERMFAIL with a
 * message on a bad entry */
static int parse_categories(struct web *w)
{
    const struct web_config *cfg = w->cfg;
    w->ncats = cfg->categories.n;
    w->cats = tw_calloc(w->ncats ? w->ncats : 1, sizeof *w->cats);
    for (size_t i = 0; i < w->ncats; i++) {
        char *s = tw_strdup(cfg->categories.v[i]);
        char *a = strchr(s, '|');
        char *b = a ? strchr(a + 1, '|') : NULL;
        if (!a || !b || a == s || !b[1] || strchr(b + 1, '|')) {
            tw_error("ingest_web.categories: \"%s\" must be "
                     "\"name|Arabic label|English label\"",
                     cfg->categories.v[i]);
            free(s);
            return TW_PERMFAIL;
        }
        *a = *b = '\0';
        w->cats[i].name = tw_strdup(s);
        w->cats[i].label[WEB_AR] = tw_strdup(a + 1);
        w->cats[i].label[WEB_EN] = tw_strdup(b + 1);
        w->cats[i].attest =
            tw_strlist_contains(&cfg->attest_categories, w->cats[i].name);
        free(s);
    }
    for (size_t i = 0; i < cfg->attest_categories.n; i++) {
        if (!web_category_find(w, cfg->attest_categories.v[i])) {
            tw_error("ingest_web.attest_categories: \"%s\" is not one of "
                     "ingest_web.categories",
                     cfg->attest_categories.v[i]);
            return TW_PERMFAIL;
        }
    }
    return TW_OK;
}

static void free_categories(struct web *w)
{
    for (size_t i = 0; w->cats && i < w->ncats; i++) {
        free(w->cats[i].name);
        free(w->cats[i].label[0]);
        free(w->cats[i].label[1]);
    }
    free(w->cats);
}

int web_run(struct tw_daemon *d)
{
    struct web w;
    memset(&w, 0, sizeof w);
    w.cfg = tw_daemon_config(d);
    w.base = tw_daemon_base(d);
    int rc = EX_CONFIG;
    struct MHD_Daemon *mhd = NULL;

    if (sodium_init() < 0) {
        tw_error("libsodium failed to start");
        return EX_SOFTWARE;
    }
    if (!w.base->site_secret ||
        strlen(w.base->site_secret) < TW_LINK_SECRET_MIN) {
        tw_error("site.secret (or TAWASUL_SITE_SECRET) must be at least %d "
                 "characters: it signs the portal's forms and links",
                 TW_LINK_SECRET_MIN);
        return EX_CONFIG;
    }
    if (parse_categories(&w) != TW_OK)
        goto out;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (inet_pton(AF_INET, w.cfg->listen, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)w.cfg->port);
    } else if (inet_pton(AF_INET6, w.cfg->listen, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)w.cfg->port);
        flags |= MHD_USE_IPv6;
    } else {
        tw_error("ingest_web.listen: \"%s\" is not an IPv4 or IPv6 address",
                 w.cfg->listen);
        goto out;
    }
    w.zctx = zmq_ctx_new();
    w.reader = web_reader_new(w.base, (int)w.cfg->threads);
    w.submit_rl = web_limiter_new(w.cfg->submit_limit, w.cfg->submit_window);
    w.lookup_rl = web_limiter_new(w.cfg->lookup_limit, w.cfg->lookup_window);
    w.sub = web_submitter_new(&w, w.cfg->spool);
    if (!w.sub) {
        tw_error("cannot start: spool %s or bus %s unusable", w.cfg->spool,
                 w.base->bus_intake);
        rc = EX_CANTCREAT;
        goto out;
    }
    mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, &w, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)w.cfg->threads, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)4000,
        /* headers and one read buffer: memory stays small with many
         * connections open (uploads stream through it in pieces) */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 * 1024),
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
    if (!mhd) {
        tw_error("cannot listen on %s port %lld: %s", w.cfg->listen,
                 (long long)w.cfg->port, strerror(errno));
        rc = EX_UNAVAILABLE;
        goto out;
    }
    tw_info("listening on http://%s:%lld/ spool=%s engine=%s threads=%lld",
            w.cfg->listen, (long long)w.cfg->port, w.cfg->spool,
            w.base->bus_intake, (long long)w.cfg->threads);
    for (;;) {
        struct pollfd pfd = {tw_daemon_signal_fd(d), POLLIN, 0};
        int n = poll(&pfd, 1, 1000);
        if (n < 0 && errno != EINTR)
            break;
        int sig = tw_daemon_signals(d);
        if (sig & TW_SIG_RELOAD)
            tw_warn("SIGHUP: the portal keeps its configuration; restart it "
                    "to apply a new one (it loses nothing: the spool is on "
                    "disk)");
        if (tw_daemon_stopping(d))
            break;
    }
    tw_info("stopping: finishing the requests in progress");
    rc = 0;
out:
    if (mhd)
        MHD_quiesce_daemon(mhd);
    if (w.sub)
        web_submitter_stop(w.sub); /* wakes the waiting pages */
    if (mhd) {
        /* give the woken connections a moment to answer */
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        MHD_stop_daemon(mhd);
    }
    web_submitter_destroy(&w.sub);
    web_reader_destroy(&w.reader);
    web_limiter_destroy(&w.submit_rl);
    web_limiter_destroy(&w.lookup_rl);
    if (w.zctx)
        zmq_ctx_term(w.zctx);
    free_categories(&w);
    return rc;
}
