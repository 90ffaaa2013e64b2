/*
 * web.h - private interface between the member portal's parts:
 *   main.c         the config table and the call into the daemon skeleton
 *   web_server.c   HTTP: routing, limits, cookies, CSRF, rate limits, headers
 *   web_pages.c    the HTML pages in Arabic and English
 *   web_form.c     reading and checking the request form and the API body
 *   web_submit.c   spool first, then the bus; the drain loop
 *   web_read.c     read-only lookups in PostgreSQL (status, survey)
 *   web_api.c      the JSON API
 */
#ifndef WEB_H
#define WEB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "command.h"
#include "ref.h"

#define WEB_VERSION    "0.1.0"
#define TW_KEY_MAX_WEB 80 /* "web:" and a uuid, or a survey key */

/* The portal's own settings (main.c has the table). */
struct web_config {
    char *listen;
    int64_t port;
    int64_t threads;
    char *spool;
    int64_t reply_wait;     /* usec the confirmation waits for the engine */
    int64_t drain_interval; /* usec between rescans of the spool */
    int64_t max_pending;    /* submissions held for the bus at once */
    int64_t max_request;    /* bytes of one HTTP request body */
    int64_t max_subject;
    int64_t max_body;
    int64_t max_attachments;
    int64_t max_attachment;
    struct tw_strlist attachment_types;
    struct tw_strlist categories;        /* "name|عربي|English" */
    struct tw_strlist attest_categories; /* committee-bound: attestation */
    int64_t submit_limit;                /* per IP per submit_window */
    int64_t submit_window;
    int64_t lookup_limit; /* status and survey look-ups per IP */
    int64_t lookup_window;
    int64_t decision_within; /* shown while the engine has not answered */
    char *real_ip_header;    /* set by a trusted proxy, e.g. X-Forwarded-For */
};

enum web_lang { WEB_AR = 0, WEB_EN = 1 };

/* One category offered on the form. */
struct web_category {
    char *name;
    char *label[2]; /* ar, en */
    int attest;     /* committee-bound: attestation required */
};

/* What a submission waiting for the engine ends as. */
enum web_outcome {
    WEB_WAITING = 0,
    WEB_DONE,     /* the engine answered ok */
    WEB_REJECTED, /* a permanent error */
    WEB_QUEUED,   /* spooled; the engine has not answered in time */
    WEB_FAILED,   /* could not even spool: nothing was kept */
};

/* A submission's result, filled by the bus thread. */
struct web_result {
    enum web_outcome outcome;
    char ref[TW_REF_MAX];
    char error[32]; /* error code name when rejected */
    char message[256];
    tw_time received_at;
    tw_time due_at;
    int verified;
    int repeated;
    int has_email; /* the acknowledgement goes to an address */
};

struct web_submitter;
struct web_reader;
struct web_form;
struct web_limiter;

/* Everything the request handlers share (read-only after start-up, except
 * the objects with their own locks). */
struct web {
    const struct web_config *cfg;
    const struct tw_base_config *base;
    struct web_category *cats;
    size_t ncats;
    struct web_submitter *sub;
    struct web_reader *reader;
    struct web_limiter *submit_rl;
    struct web_limiter *lookup_rl;
    void *zctx;
};

/* --- web_server.c -------------------------------------------------------- */
/* web_run - the service loop (handed to tw_daemon_main) */
int web_run(struct tw_daemon *d);

/* --- web_submit.c -------------------------------------------------------- */
/* A waiter: the HTTP side's handle on one submission. The bus thread fills
 * RESULT and calls WAKE(ARG) once; the waiter is then the HTTP side's. */
struct web_waiter {
    struct web_result result;
    void (*wake)(void *arg);
    void *arg;
};

/* web_submitter_new - open the spool at DIR and start the bus thread */
struct web_submitter *web_submitter_new(struct web *w, const char *dir);
/* web_submitter_destroy - stop the thread; items left stay spooled */
void web_submitter_destroy(struct web_submitter **s);
/* web_submitter_stop - wake every waiting page ("queued") and stop the
 * thread; call before stopping the HTTP server */
void web_submitter_stop(struct web_submitter *s);
/* web_submit - queue COMMAND (borrowed) with N attachment PARTS (copied)
 * for the spool; once it is durably spooled it goes to the bus thread. TW_OK:
 * W will be woken exactly once (it must stay valid until then), with
 * WEB_FAILED if it could not be spooled (nothing was kept). TW_PERMFAIL: a
 * bad command (a bug), W untouched. */
int web_submit(struct web_submitter *s, const json_t *command,
               const struct tw_bus_part *parts, size_t n, struct web_waiter *w);
/* web_submitter_spooled - items waiting in the spool */
long web_submitter_spooled(struct web_submitter *s);
/* web_submitter_engine_seen - whether the engine answered recently */
int web_submitter_engine_up(struct web_submitter *s);

/* --- web_read.c ---------------------------------------------------------- */
struct web_event {
    tw_time at;
    char status[24];
};

/* What a member may see of a case. */
struct web_case {
    char ref[TW_REF_MAX];
    char status[24];
    char kind[16];
    char category[64];
    char subject[512];
    tw_time received_at;
    tw_time due_at;
    tw_time decided_at; /* 0: not yet */
    char decision[16];
    int survey_answered;
    struct web_event events[64];
    size_t nevents;
};

struct web_reader *web_reader_new(const struct tw_base_config *base, int n);
void web_reader_destroy(struct web_reader **r);
/* web_read_case - the case REF when EMAIL matches its member or contact
 * (EMAIL NULL: the caller checked a signed link). TW_OK, TW_PERMFAIL (no
 * such case, or the email does not match: the same answer), TW_TEMPFAIL
 * (database unreachable). */
int web_read_case(struct web_reader *r, const char *ref, const char *email,
                  struct web_case *out);
/* web_read_intake - the case made from intake KEY, if it exists yet:
 * TW_OK with REF/dates filled, TW_PERMFAIL not (yet), TW_TEMPFAIL */
int web_read_intake(struct web_reader *r, const char *key,
                    struct web_result *out);
/* web_reader_up - whether a database connection works */
int web_reader_up(struct web_reader *r);

/* --- web_server.c helpers used by the pages ------------------------------ */
struct web_limiter *web_limiter_new(int64_t limit, int64_t window);
void web_limiter_destroy(struct web_limiter **l);
/* web_limiter_take - one unit for IP; 1 allowed, 0 over the limit */
int web_limiter_take(struct web_limiter *l, const char *ip);

/* --- web_api.c ---------------------------------------------------------- */
/* web_api_form - the API's JSON body into F; TW_PERMFAIL with MSG
 * (TW_MSG_MAX) for a body that is not an object of known fields */
int web_api_form(const char *text, size_t len, struct web_form *f, char *msg);
/* web_api_errors - {"error":"invalid","fields":{…}} for a checked form */
json_t *web_api_errors(const struct web_form *f);
/* web_api_case - the case as JSON */
json_t *web_api_case(const struct web *w, const struct web_case *c,
                     enum web_lang l);

/* --- web_pages.c --------------------------------------------------------- */
/* The request form's fields, as typed, and what is wrong with each. */
enum web_field {
    F_MEMBER,
    F_NAME,
    F_EMAIL,
    F_PHONE,
    F_KIND,
    F_CATEGORY,
    F_SUBJECT,
    F_BODY,
    F_ATTEST,
    F_FILES,
    F__COUNT
};

struct web_file {
    char *name;
    char *type;
    struct tw_buf data;
};

struct web_form {
    char *v[F__COUNT];         /* values (owned), NULL when absent */
    const char *err[F__COUNT]; /* message keys (static), NULL when fine */
    struct web_file files[16];
    size_t nfiles;
    int too_many_files;
    char *csrf;
    char *lang;
    /* survey */
    char *rating;
    char *comment;
    char *ref;
    char *token;
};

void web_form_clear(struct web_form *f);
/* web_form_check - validate the request form against the config; fills
 * f->err; returns the number of fields in error */
int web_form_check(const struct web *w, struct web_form *f);
/* web_form_command - the intake command for a checked form (new ref) */
json_t *web_form_command(const struct web *w, const struct web_form *f,
                         const char *key, tw_time now);
/* web_category_find - the category named NAME, or NULL */
const struct web_category *web_category_find(const struct web *w,
                                             const char *name);

/* What every page needs besides its content. */
struct web_page {
    const struct web *w;
    enum web_lang lang;
    const char *switch_url; /* this page in the other language (raw) */
    const char *csrf;       /* the visitor's form token */
};

/* Page rendering: each appends a whole HTML document to B. */
void web_html_escape(struct tw_buf *b, const char *s);
void page_form(struct tw_buf *b, const struct web_page *p,
               const struct web_form *f, const char *notice);
void page_confirm(struct tw_buf *b, const struct web_page *p,
                  const struct web_result *r, const char *status_url);
void page_queued(struct tw_buf *b, const struct web_page *p, tw_time received,
                 tw_time due, const char *self);
void page_lookup(struct tw_buf *b, const struct web_page *p, const char *ref,
                 const char *email, const char *error, const char *notice);
void page_status(struct tw_buf *b, const struct web_page *p,
                 const struct web_case *c, const char *survey_url);
void page_survey(struct tw_buf *b, const struct web_page *p,
                 const struct web_case *c, const char *token,
                 const char *rating, const char *comment, const char *err_r,
                 const char *err_c);
void page_message(struct tw_buf *b, const struct web_page *p,
                  const char *title_key, const char *text_key,
                  const char *extra);
void page_size_limit(struct tw_buf *b, const struct web_page *p, int64_t max);
/* web_text - the string KEY in language L (static) */
const char *web_text(enum web_lang l, const char *key);
/* web_status_words - a status in plain words */
const char *web_status_words(enum web_lang l, const char *status);
/* web_date - T as a date for the reader ("الأربعاء 9 ديسمبر 2026") */
void web_date(struct tw_buf *out, enum web_lang l, tw_time t, int with_time);
extern const char web_css[];

#endif
