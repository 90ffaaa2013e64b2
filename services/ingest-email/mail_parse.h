/*
 * mail_parse.h - one RFC 5322 message into what a case needs, with GMime.
 *
 * The parser is the one place mail is understood: the ingest daemon, the
 * reprocess command and the parser benchmark all use it. It never writes
 * anything; it reads a whole message from memory and fills a struct of
 * UTF-8 strings (every string valid UTF-8, header values one line, the body
 * without control characters other than line breaks and tabs), or says why
 * the message cannot be taken (a quarantine reason).
 */
#ifndef MAIL_PARSE_H
#define MAIL_PARSE_H

#include <stddef.h>

#include "clock.h"

struct mail_limits {
    size_t max_body;        /* bytes of body text */
    size_t max_attachments; /* attachments per message */
    size_t max_attachment;  /* bytes, one attachment */
    size_t max_subject;     /* bytes; longer subjects are cut */
    /* charsets tried, in order, for text that is not what it says it is
     * (NULL-terminated; NULL: utf-8, windows-1256) */
    const char *const *fallback_charsets;
};

struct mail_attachment {
    char *name; /* decoded file name (RFC 2231/2047), a plain file name */
    char *type; /* "application/pdf" */
    unsigned char *data;
    size_t size;
    char sha256[65]; /* hex */
};

/* A parsed message. Every pointer is owned by the struct (NULL if absent);
 * mail_parsed_clear frees them. */
struct mail_parsed {
    char *from_addr, *from_name;         /* From: first mailbox */
    char *reply_to_addr, *reply_to_name; /* Reply-To: first mailbox */
    char *subject;                       /* decoded, one line, never NULL */
    char *message_id;                    /* without <> */
    int message_id_synth;                /* 1: made from sender + body */
    char *in_reply_to;                   /* first id, without <> */
    char *references;                    /* ids, space-separated, no <> */
    tw_time date;                        /* Date:, 0 if none or bad */
    char *body;                          /* the text, UTF-8 */
    char *body_shown; /* quoted earlier text trimmed; NULL: same as body */
    int html_only;    /* the body was made from HTML */
    struct mail_attachment *att;
    size_t natt;
    /* what loop protection looks at (header values, NULL if absent) */
    char *auto_submitted, *precedence, *x_loop, *list_id;
    int from_daemon; /* From is MAILER-DAEMON/postmaster or Return-Path <> */
    /* a delivery status notification (RFC 3464) */
    int is_dsn;
    char *dsn_message_id; /* the Message-ID of the mail that bounced */
    char *dsn_recipient, *dsn_action, *dsn_status, *dsn_reason;
};

/* mail_init - initialise GMime once per process (idempotent) */
void mail_init(void);

/* mail_parse - parse the LEN bytes at DATA. TW_OK with OUT filled, or
 * TW_PERMFAIL with REASON (REASON_SIZE bytes) saying why it cannot be taken
 * as it is (unparseable, over a limit); OUT is then cleared. */
__attribute__((warn_unused_result)) int
mail_parse(const char *data, size_t len, const struct mail_limits *lim,
           struct mail_parsed *out, char *reason, size_t reason_size);
/* mail_parsed_clear - free what mail_parse filled; safe to repeat */
void mail_parsed_clear(struct mail_parsed *m);

/* mail_html_to_text - readable text from HTML (UTF-8 in, UTF-8 out; caller
 * frees): tags dropped, blocks as lines, entities decoded */
char *mail_html_to_text(const char *html, size_t len);
/* mail_trim_quotes - TEXT without the quoted earlier message of a reply
 * ("On ... wrote:", "-----Original Message-----", '>' lines...); NULL when
 * there is nothing to trim or nothing would be left (caller frees) */
char *mail_trim_quotes(const char *text);
/* mail_key - the intake idempotency key "email:<sha256 hex of MESSAGE_ID>"
 * into BUF (at least 71 bytes); returns BUF */
char *mail_key(const char *message_id, char *buf);

#endif
