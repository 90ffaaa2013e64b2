/*
 * template.h - the members' and managers' emails: templates per event and
 * language, checked at load, rendered to a subject, plain text and HTML.
 *
 * A template is one file, templates/<lang>/<name>.txt: a first line
 * "Subject: ...", an empty line, then the body as plain text. {{name}} is a
 * placeholder; {{#name}}...{{/name}} is kept only when name has a value,
 * {{^name}}...{{/name}} only when it has none. Each template knows which
 * placeholders it may use (the params of the outbox contract plus the ones
 * the notifier adds): any other name is an error at load, with the file and
 * line, so a typo is caught by `tawasul config check` and never becomes an
 * empty string in a member's mail. A placeholder outside a {{#}} section
 * whose value is missing at render time is an error too.
 *
 * Values are rendered for the reader: names ending in _at are dates
 * ("الأحد ٦ ديسمبر ٢٠٢٦" with Arabic-Indic digits, "Sunday 6 December 2026"),
 * channel and kind become words, arrays become bulleted lines. The HTML part
 * is made from the same template: text escaped, paragraphs and line breaks
 * kept, *_url values made links, dir="rtl" lang="ar" for Arabic.
 */
#ifndef TW_TEMPLATE_H
#define TW_TEMPLATE_H

#include <stddef.h>
#include <jansson.h>

#include "clock.h"
#include "config.h"

/* The default of templates.dir: relative to the config file's folder. */
#define TW_TEMPLATES_DIR_DEFAULT "templates"
#define TW_TEMPLATE_ERR_MAX      256

struct tw_templates;

/* A rendered message: each string owned (tw_rendered_free). */
struct tw_rendered {
    char *subject; /* one line, no CR/LF */
    char *text;    /* plain text, LF line ends */
    char *html;    /* a whole HTML document */
};

/* tw_templates_dir - DIR made absolute against the folder of CONFIG_PATH
 * (NULL: the current folder); caller frees */
char *tw_templates_dir(const char *config_path, const char *dir);

/* tw_templates_load - read and check every template under DIR (ar/ and en/,
 * one file per known name each). TW_OK with *OUT set (caller destroys), or
 * TW_PERMFAIL with *ERRORS (caller frees) holding one "file:line: message"
 * per problem. */
__attribute__((warn_unused_result)) int
tw_templates_load(const char *dir, struct tw_templates **out, char **errors);
/* tw_templates_destroy - NULL-safe; nulls *T */
void tw_templates_destroy(struct tw_templates **t);

/* tw_template_known - whether NAME is a template of the outbox contract */
int tw_template_known(const char *name);
/* tw_template_to_member - whether NAME's mail goes to the member of the
 * case (and so belongs in the case's correspondence), not to staff */
int tw_template_to_member(const char *name);

/* tw_templates_values - the values a template in LANG sees: PARAMS
 * (borrowed) plus site_name (SITE_NAME_AR for Arabic when not empty, else
 * site.name), and status_url/survey_url signed for params.ref when the
 * site has a secret; new reference */
json_t *tw_templates_values(const struct tw_base_config *base,
                            const char *site_name_ar, const char *lang,
                            const json_t *params);

/* tw_templates_render - render NAME in LANG with VALUES (borrowed) into
 * *OUT. TW_OK, or TW_PERMFAIL with ERR (TW_TEMPLATE_ERR_MAX bytes) saying
 * why (unknown template, a missing or malformed value). */
__attribute__((warn_unused_result)) int
tw_templates_render(const struct tw_templates *t, const char *name,
                    const char *lang, const json_t *values,
                    struct tw_rendered *out, char *err);
/* tw_rendered_free - free the strings; the struct may be reused */
void tw_rendered_free(struct tw_rendered *r);

/* tw_date_human - T as a date for a reader of LANG ("ar": "الأحد ٦ ديسمبر
 * ٢٠٢٦", else "Sunday 6 December 2026"), in the site's zone, into BUF of
 * SIZE bytes; returns BUF */
char *tw_date_human(tw_time t, const char *lang, char *buf, size_t size);
/* tw_digits_ar - S with ASCII digits as Arabic-Indic digits; caller frees */
char *tw_digits_ar(const char *s);

#endif
