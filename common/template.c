/*
 * template.c - load, check and render the email templates (template.h).
 *
 * DESIGN
 * ------
 * A template is parsed once, at load, into a small tree: literal text,
 * placeholders and sections. Every placeholder name is checked there
 * against the template's list of known names (the outbox contract's params
 * plus what the notifier adds), so rendering never meets a name it does not
 * know. Rendering walks the tree twice, once for the plain text and once
 * for the HTML part, so escaping and links are decided per node rather than
 * by patching text afterwards.
 *
 * A section tag alone on its line takes the line with it (as in Mustache),
 * so optional paragraphs leave no blank lines behind.
 */
#include "template.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "link.h"
#include "mem.h"

#define TEMPLATE_FILE_MAX (64 * 1024)
#define RENDER_MAX        (1024 * 1024)
#define DEPTH_MAX         8

/* The placeholders every template may use, then each template's own. */
#define COMMON "site_name name "
#define CASE   COMMON "ref subject status_url "

static const struct {
    const char *name;
    const char *vars; /* space-separated, with a trailing space */
    int to_member;
} known[] = {
    {"acknowledgement", CASE "channel kind received_at sla_due_at ", 1},
    {"info_requested", CASE "missing message ", 1},
    {"referred", CASE, 1},
    {"accepted", CASE "reason decided_at ", 1},
    {"rejected", CASE "reason decided_at ", 1},
    {"service_completed", CASE "resolved_at survey_url ", 1},
    {"reopened", CASE "reason ", 1},
    {"reply_received", CASE "received_at ", 1},
    {"sla_warning", CASE "sla_due_at remaining assignee ", 0},
    {"sla_breach", CASE "sla_due_at breached_at assignee ", 0},
    {"delivery_failed", CASE "recipient error failed_template ", 0},
    {"daily_digest",
     COMMON "date count_open count_at_risk count_breached at_risk breached "
            "by_officer ",
     0},
};
#define NKNOWN (sizeof known / sizeof known[0])

static const char *const langs[] = {"ar", "en"};
#define NLANGS 2

enum node_type { N_TEXT, N_VAR, N_SECTION, N_INVERTED };

struct node {
    enum node_type type;
    char *text; /* N_TEXT: the literal; else the name */
    struct node *child;
    struct node *next;
};

struct template
{
    struct node *subject;
    struct node *body;
};

struct tw_templates {
    struct template t[NKNOWN][NLANGS];
};

/* find_known - index of NAME in known[], or -1 */
static int find_known(const char *name)
{
    for (size_t i = 0; i < NKNOWN; i++)
        if (strcmp(known[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* tw_template_known - whether NAME is a template of the outbox contract */
int tw_template_known(const char *name)
{
    return name && find_known(name) >= 0;
}

/* tw_template_to_member - whether NAME's mail goes to the case's member */
int tw_template_to_member(const char *name)
{
    int i = name ? find_known(name) : -1;
    return i >= 0 && known[i].to_member;
}

/* var_allowed - whether placeholder VAR is known to template K */
static int var_allowed(int k, const char *var)
{
    size_t n = strlen(var);
    for (const char *p = known[k].vars; *p;) {
        const char *sp = strchr(p, ' ');
        if ((size_t)(sp - p) == n && strncmp(p, var, n) == 0)
            return 1;
        p = sp + 1;
    }
    return 0;
}

/* node_free - free a list of nodes and their children */
static void node_free(struct node *n)
{
    while (n) {
        struct node *next = n->next;
        node_free(n->child);
        free(n->text);
        free(n);
        n = next;
    }
}

/* --- parsing ------------------------------------------------------------- */

struct parser {
    const char *file;
    const char *src; /* start of the text being parsed */
    int k;           /* template index, for the placeholder check */
    const char *s;
    int line;
    struct tw_buf *errors;
    int failed;
};

__attribute__((format(printf, 3, 4))) static void
parse_error(struct parser *p, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (tw_buf_addf(p->errors, "%s:%d: %s\n", p->file, line, msg) != TW_OK) {
        /* the error list is capped; the first ones say enough */
    }
    p->failed = 1;
}

/* valid_name - [a-z_][a-z0-9_]* */
static int valid_name(const char *s, size_t n)
{
    if (n == 0 || n > 64 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_'))
            return 0;
    return 1;
}

/* append - add node N at *TAIL */
static void append(struct node ***tail, struct node *n)
{
    **tail = n;
    *tail = &n->next;
}

/* text_node - a literal of N bytes from S */
static struct node *text_node(const char *s, size_t n)
{
    struct node *t = tw_calloc(1, sizeof *t);
    t->type = N_TEXT;
    t->text = tw_strndup(s, n);
    return t;
}

/* count_lines - newlines in S's first N bytes */
static int count_lines(const char *s, size_t n)
{
    int c = 0;
    for (size_t i = 0; i < n; i++)
        c += s[i] == '\n';
    return c;
}

/* standalone - whether the tag at TAG, after the literal [SEG, TAG), sits
 * alone on its line up to AFTER; *BLANKS gets the blanks before it */
static int standalone(const struct parser *p, const char *seg, const char *tag,
                      const char *after, size_t *blanks)
{
    const char *ls = tag;
    while (ls > seg && (ls[-1] == ' ' || ls[-1] == '\t'))
        ls--;
    *blanks = (size_t)(tag - ls);
    if (!(ls == p->src || ls[-1] == '\n'))
        return 0;
    while (*after == ' ' || *after == '\t')
        after++;
    return *after == '\n' || !*after;
}

/* parse_list - parse nodes until "{{/CLOSE}}" (CLOSE NULL: the end) */
static struct node *parse_list(struct parser *p, const char *close, int depth,
                               int open_line)
{
    struct node *head = NULL, **tail = &head;

    for (;;) {
        const char *seg = p->s;
        const char *tag = strstr(p->s, "{{");
        const char *end = tag ? tag : p->s + strlen(p->s);
        struct node *lit = NULL;
        if (end > p->s) {
            lit = text_node(p->s, (size_t)(end - p->s));
            append(&tail, lit);
            p->line += count_lines(p->s, (size_t)(end - p->s));
        }
        p->s = end;
        if (!tag) {
            if (close)
                parse_error(p, open_line, "{{#%s}} is never closed by {{/%s}}",
                            close, close);
            return head;
        }
        const char *shut = strstr(tag + 2, "}}");
        const char *nl = strchr(tag + 2, '\n');
        if (!shut || (nl && nl < shut)) {
            parse_error(p, p->line, "\"{{\" without \"}}\" on the same line");
            p->s = tag + 2;
            continue;
        }
        const char *in = tag + 2, *in_end = shut;
        while (in < in_end && *in == ' ')
            in++;
        while (in_end > in && in_end[-1] == ' ')
            in_end--;
        char sigil = (*in == '#' || *in == '^' || *in == '/') ? *in : 0;
        if (sigil)
            in++;
        size_t n = (size_t)(in_end - in);
        p->s = shut + 2;
        if (!valid_name(in, n)) {
            parse_error(p, p->line,
                        "bad placeholder \"{{%.*s}}\" (names are lower-case "
                        "letters, digits and _)",
                        (int)(shut - tag - 2), tag + 2);
            continue;
        }
        char *name = tw_strndup(in, n);
        size_t blanks = 0;
        if (sigil && standalone(p, seg, tag, p->s, &blanks)) {
            /* A section tag alone on its line takes the line with it. */
            if (lit)
                lit->text[strlen(lit->text) - blanks] = '\0';
            while (*p->s == ' ' || *p->s == '\t')
                p->s++;
            if (*p->s == '\n') {
                p->s++;
                p->line++;
            }
        }
        if (sigil == '/') {
            int ok = close && strcmp(close, name) == 0;
            if (!ok)
                parse_error(p, p->line, "{{/%s}} closes no open section", name);
            free(name);
            if (ok)
                return head;
            continue;
        }
        if (!var_allowed(p->k, name))
            parse_error(p, p->line,
                        "unknown placeholder {{%s}} (template %s knows: %.*s)",
                        name, known[p->k].name,
                        (int)strlen(known[p->k].vars) - 1, known[p->k].vars);
        if (sigil) {
            if (depth >= DEPTH_MAX) {
                parse_error(p, p->line, "sections nested too deep");
                free(name);
                continue;
            }
            struct node *sec = tw_calloc(1, sizeof *sec);
            sec->type = sigil == '#' ? N_SECTION : N_INVERTED;
            sec->text = name;
            append(&tail, sec);
            sec->child = parse_list(p, name, depth + 1, p->line);
            continue;
        }
        struct node *v = tw_calloc(1, sizeof *v);
        v->type = N_VAR;
        v->text = name;
        append(&tail, v);
    }
}

/* slurp - FILE's bytes as a string (at most TEMPLATE_FILE_MAX); NULL with
 * errno on failure */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    struct tw_buf b;
    tw_buf_init(&b, TEMPLATE_FILE_MAX);
    char chunk[4096];
    size_t n;
    int ok = 1;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (tw_buf_add(&b, chunk, n) != TW_OK) {
            ok = 0;
            errno = EFBIG;
            break;
        }
    if (ferror(f))
        ok = 0;
    fclose(f);
    if (!ok) {
        tw_buf_free(&b);
        return NULL;
    }
    return tw_buf_take(&b, NULL);
}

/* load_one - parse PATH as template K into T; errors into ERRORS */
static void load_one(const char *path, int k, struct template *t,
                     struct tw_buf *errors, int *failed)
{
    struct parser p = {.file = path, .k = k, .line = 1, .errors = errors};
    char *src = slurp(path);
    if (!src) {
        parse_error(&p, 0, "cannot read: %s", strerror(errno));
        *failed = 1;
        return;
    }
    /* CRLF files are fine: drop the CRs. */
    char *w = src;
    for (const char *r = src; *r; r++)
        if (*r != '\r')
            *w++ = *r;
    *w = '\0';
    if (strncmp(src, "Subject:", 8) != 0) {
        parse_error(&p, 1, "the first line must be \"Subject: ...\"");
        free(src);
        *failed = 1;
        return;
    }
    char *nl = strchr(src, '\n');
    char *body = nl ? nl + 1 : src + strlen(src);
    if (nl)
        *nl = '\0';
    char *subj = src + 8;
    while (*subj == ' ')
        subj++;
    if (!*subj)
        parse_error(&p, 1, "the subject is empty");
    if (*body == '\n')
        body++;
    else if (*body)
        parse_error(&p, 2,
                    "the subject line must be followed by an empty "
                    "line");
    p.src = subj;
    p.s = subj;
    t->subject = parse_list(&p, NULL, 0, 1);
    p.src = body;
    p.s = body;
    p.line = 3;
    t->body = parse_list(&p, NULL, 0, 3);
    if (!t->body)
        parse_error(&p, 3, "the body is empty");
    if (p.failed)
        *failed = 1;
    free(src);
}

/* tw_templates_dir - DIR made absolute against CONFIG_PATH's folder */
char *tw_templates_dir(const char *config_path, const char *dir)
{
    if (dir[0] == '/' || !config_path)
        return tw_strdup(dir);
    char *copy = tw_strdup(config_path);
    char *out = tw_asprintf("%s/%s", dirname(copy), dir);
    free(copy);
    return out;
}

/* tw_templates_load - read and check every template under DIR */
int tw_templates_load(const char *dir, struct tw_templates **out, char **errors)
{
    struct tw_templates *t = tw_calloc(1, sizeof *t);
    struct tw_buf err;
    int failed = 0;
    tw_buf_init(&err, 16 * 1024);
    *out = NULL;
    *errors = NULL;
    for (size_t k = 0; k < NKNOWN; k++)
        for (size_t l = 0; l < NLANGS; l++) {
            char *path =
                tw_asprintf("%s/%s/%s.txt", dir, langs[l], known[k].name);
            load_one(path, (int)k, &t->t[k][l], &err, &failed);
            free(path);
        }
    if (failed) {
        tw_templates_destroy(&t);
        *errors = tw_buf_take(&err, NULL);
        return TW_PERMFAIL;
    }
    tw_buf_free(&err);
    *out = t;
    return TW_OK;
}

/* tw_templates_destroy - NULL-safe; nulls *T */
void tw_templates_destroy(struct tw_templates **tp)
{
    if (!tp || !*tp)
        return;
    for (size_t k = 0; k < NKNOWN; k++)
        for (size_t l = 0; l < NLANGS; l++) {
            node_free((*tp)->t[k][l].subject);
            node_free((*tp)->t[k][l].body);
        }
    free(*tp);
    *tp = NULL;
}

/* --- values -------------------------------------------------------------- */

/* tw_templates_values - PARAMS plus site_name and the signed links */
json_t *tw_templates_values(const struct tw_base_config *base,
                            const char *site_name_ar, const char *lang,
                            const json_t *params)
{
    json_t *v = json_is_object(params) ? json_deep_copy(params) : json_object();
    int ar = !lang || strcmp(lang, "en") != 0;
    json_object_set_new(v, "site_name",
                        json_string(ar && site_name_ar && *site_name_ar
                                        ? site_name_ar
                                        : base->site_name));
    const char *ref = json_string_value(json_object_get(v, "ref"));
    if (ref && base->site_secret && *base->site_secret &&
        base->site_portal_url && *base->site_portal_url) {
        char *u = tw_link_url(base->site_portal_url, base->site_secret,
                              "status", ref);
        if (u)
            json_object_set_new(v, "status_url", json_string(u));
        free(u);
        u = tw_link_url(base->site_portal_url, base->site_secret, "survey",
                        ref);
        if (u)
            json_object_set_new(v, "survey_url", json_string(u));
        free(u);
    }
    return v;
}

static const char *const ar_days[] = {
    "الأحد", "الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت"};
static const char *const ar_months[] = {"يناير",  "فبراير", "مارس",   "أبريل",
                                        "مايو",   "يونيو",  "يوليو",  "أغسطس",
                                        "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر"};
static const char *const en_days[] = {"Sunday",    "Monday",   "Tuesday",
                                      "Wednesday", "Thursday", "Friday",
                                      "Saturday"};
static const char *const en_months[] = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};

/* tw_digits_ar - ASCII digits as Arabic-Indic digits; caller frees */
char *tw_digits_ar(const char *s)
{
    struct tw_buf b;
    tw_buf_init(&b, 0);
    for (; *s; s++) {
        int ok;
        if (*s >= '0' && *s <= '9') {
            /* U+0660..U+0669: D9 A0..D9 A9 */
            char d[2] = {(char)0xd9, (char)(0xa0 + (*s - '0'))};
            ok = tw_buf_add(&b, d, 2);
        } else {
            ok = tw_buf_add(&b, s, 1);
        }
        (void)ok; /* no cap */
    }
    return tw_buf_take(&b, NULL);
}

/* tw_date_human - T as a date for a reader of LANG */
char *tw_date_human(tw_time t, const char *lang, char *buf, size_t size)
{
    time_t sec = (time_t)(t / TW_SEC - (t % TW_SEC < 0));
    struct tm tm;
    if (!localtime_r(&sec, &tm)) {
        snprintf(buf, size, "?");
        return buf;
    }
    if (lang && strcmp(lang, "ar") == 0) {
        char tmp[128];
        snprintf(tmp, sizeof tmp, "%s %d %s %d", ar_days[tm.tm_wday],
                 tm.tm_mday, ar_months[tm.tm_mon], tm.tm_year + 1900);
        char *ar = tw_digits_ar(tmp);
        snprintf(buf, size, "%s", ar);
        free(ar);
    } else {
        snprintf(buf, size, "%s %d %s %d", en_days[tm.tm_wday], tm.tm_mday,
                 en_months[tm.tm_mon], tm.tm_year + 1900);
    }
    return buf;
}

/* label - the words for a channel or kind value in LANG (V if unknown) */
static const char *label(const char *var, const char *v, int ar)
{
    static const struct {
        const char *var, *value, *ar, *en;
    } labels[] = {
        {"channel", "email", "البريد الإلكتروني", "email"},
        {"channel", "web", "الموقع الإلكتروني", "the web form"},
        {"channel", "phone", "اتصال هاتفي", "a phone call"},
        {"channel", "letter", "خطاب", "a letter"},
        {"channel", "walk_in", "زيارة لمقر الجمعية", "a visit to our office"},
        {"channel", "social", "وسائل التواصل الاجتماعي", "social media"},
        {"kind", "inquiry", "استفسار", "inquiry"},
        {"kind", "request", "طلب", "request"},
        {"kind", "complaint", "شكوى", "complaint"},
        {"kind", "suggestion", "اقتراح", "suggestion"},
    };
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
        if (strcmp(labels[i].var, var) == 0 && strcmp(labels[i].value, v) == 0)
            return ar ? labels[i].ar : labels[i].en;
    return v;
}

/* ends_with - whether S ends with SUFFIX */
static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* has_value - whether VAR has a value worth showing */
static int has_value(const json_t *values, const char *var)
{
    const json_t *v = json_object_get(values, var);
    if (!v || json_is_null(v) || json_is_false(v))
        return 0;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    return 1;
}

/* --- rendering ----------------------------------------------------------- */

struct render {
    const json_t *values;
    int ar;
    int html;
    const char *tname;
    struct tw_buf out;
    char *err; /* TW_TEMPLATE_ERR_MAX */
    int failed;
};

__attribute__((format(printf, 2, 3))) static void
render_error(struct render *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, TW_TEMPLATE_ERR_MAX, fmt, ap);
    va_end(ap);
    r->failed = 1;
}

/* put - append N bytes of S, escaped for HTML when rendering HTML (line
 * breaks become markup once the whole body is there: paragraphs span
 * nodes) */
static void put(struct render *r, const char *s, size_t n, int markup)
{
    int st = TW_OK;
    for (size_t i = 0; i < n && st == TW_OK; i++) {
        char c = s[i];
        if (!r->html || !markup) {
            st = tw_buf_add(&r->out, &c, 1);
            continue;
        }
        switch (c) {
        case '&':
            st = tw_buf_add(&r->out, "&amp;", 5);
            break;
        case '<':
            st = tw_buf_add(&r->out, "&lt;", 4);
            break;
        case '>':
            st = tw_buf_add(&r->out, "&gt;", 4);
            break;
        case '"':
            st = tw_buf_add(&r->out, "&quot;", 6);
            break;
        case '\'':
            st = tw_buf_add(&r->out, "&#39;", 5);
            break;
        default:
            st = tw_buf_add(&r->out, &c, 1);
        }
    }
    if (st != TW_OK)
        render_error(r, "the rendered message is larger than %d bytes",
                     RENDER_MAX);
}

/* put_str - put a NUL-terminated string */
static void put_str(struct render *r, const char *s, int markup)
{
    put(r, s, strlen(s), markup);
}

/* put_raw - append markup as is */
static void put_raw(struct render *r, const char *s)
{
    if (tw_buf_add(&r->out, s, strlen(s)) != TW_OK)
        render_error(r, "the rendered message is too large");
}

/* put_scalar - one scalar value VAL of VAR as the reader should see it */
static void put_scalar(struct render *r, const char *var, const json_t *val)
{
    char buf[128];
    const char *s = NULL;
    char *owned = NULL;

    if (json_is_string(val)) {
        s = json_string_value(val);
        if (!s)
            s = "";
        if (ends_with(var, "_at")) {
            tw_time t;
            if (tw_time_parse(s, &t) != TW_OK) {
                render_error(r, "\"%s\" is not a date: \"%.40s\"", var, s);
                return;
            }
            s = tw_date_human(t, r->ar ? "ar" : "en", buf, sizeof buf);
        } else if (strcmp(var, "channel") == 0 || strcmp(var, "kind") == 0) {
            s = label(var, s, r->ar);
        }
    } else if (json_is_integer(val)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(val));
        s = buf;
    } else if (json_is_real(val)) {
        snprintf(buf, sizeof buf, "%g", json_real_value(val));
        s = buf;
    } else if (json_is_true(val)) {
        s = r->ar ? "نعم" : "yes";
    } else {
        render_error(r, "\"%s\" has a value that cannot be shown", var);
        return;
    }
    if (r->ar && (json_is_integer(val) || json_is_real(val)))
        s = owned = tw_digits_ar(s);
    int ltr = r->html && (ends_with(var, "_url") || strcmp(var, "ref") == 0 ||
                          strcmp(var, "recipient") == 0);
    if (r->html && ends_with(var, "_url")) {
        put_raw(r, "<a dir=\"ltr\" href=\"");
        put_str(r, s, 1);
        put_raw(r, "\">");
        put_str(r, s, 1);
        put_raw(r, "</a>");
    } else if (ltr) {
        put_raw(r, "<span dir=\"ltr\">");
        put_str(r, s, 1);
        put_raw(r, "</span>");
    } else {
        put_str(r, s, 1);
    }
    free(owned);
}

/* put_value - VAR's value: a scalar, or an array as bulleted lines */
static void put_value(struct render *r, const char *var)
{
    const json_t *v = json_object_get(r->values, var);
    if (!has_value(r->values, var)) {
        render_error(r, "template %s: no value for {{%s}}", r->tname, var);
        return;
    }
    if (!json_is_array(v)) {
        put_scalar(r, var, v);
        return;
    }
    size_t i;
    const json_t *item;
    json_array_foreach(v, i, item)
    {
        if (i > 0)
            put(r, "\n", 1, 1);
        put_str(r, "• ", 0);
        put_scalar(r, var, item);
    }
}

/* render_list - render nodes N */
static void render_list(struct render *r, const struct node *n)
{
    for (; n && !r->failed; n = n->next) {
        switch (n->type) {
        case N_TEXT:
            put_str(r, n->text, 1);
            break;
        case N_VAR:
            put_value(r, n->text);
            break;
        case N_SECTION:
            if (has_value(r->values, n->text))
                render_list(r, n->child);
            break;
        case N_INVERTED:
            if (!has_value(r->values, n->text))
                render_list(r, n->child);
            break;
        }
    }
}

/* tw_rendered_free - free the strings */
void tw_rendered_free(struct tw_rendered *r)
{
    free(r->subject);
    free(r->text);
    free(r->html);
    r->subject = r->text = r->html = NULL;
}

/* render_to - render NODES as text or HTML; a new string or NULL */
static char *render_to(struct render *r, const struct node *nodes, int html)
{
    r->html = html;
    tw_buf_init(&r->out, RENDER_MAX);
    render_list(r, nodes);
    if (r->failed) {
        tw_buf_free(&r->out);
        return NULL;
    }
    return tw_buf_take(&r->out, NULL);
}

/* paragraphs - escaped HTML text with its line breaks as markup: an empty
 * line starts a paragraph, a single break is <br>; new string */
static char *paragraphs(const char *s)
{
    struct tw_buf b;
    tw_buf_init(&b, 0);
    int st = TW_OK;
    for (const char *p = s; *p && st == TW_OK; p++) {
        if (*p != '\n') {
            st = tw_buf_add(&b, p, 1);
            continue;
        }
        size_t nl = strspn(p, "\n");
        st = nl > 1 ? tw_buf_add(&b, "</p>\n<p>", 8)
                    : tw_buf_add(&b, "<br>\n", 5);
        p += nl - 1;
    }
    return tw_buf_take(&b, NULL);
}

/* trim_end - drop trailing blank lines and spaces from S */
static void trim_end(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

/* tw_templates_render - NAME in LANG with VALUES into *OUT */
int tw_templates_render(const struct tw_templates *t, const char *name,
                        const char *lang, const json_t *values,
                        struct tw_rendered *out, char *err)
{
    memset(out, 0, sizeof *out);
    int k = name ? find_known(name) : -1;
    if (k < 0) {
        snprintf(err, TW_TEMPLATE_ERR_MAX, "unknown template \"%s\"",
                 name ? name : "");
        return TW_PERMFAIL;
    }
    int l = lang && strcmp(lang, "en") == 0 ? 1 : 0;
    const struct template *tp = &t->t[k][l];
    struct render r = {
        .values = values, .ar = l == 0, .tname = name, .err = err};

    out->subject = render_to(&r, tp->subject, 0);
    if (out->subject) {
        for (char *p = out->subject; *p; p++)
            if (*p == '\r' || *p == '\n' || *p == '\t')
                *p = ' ';
        out->text = render_to(&r, tp->body, 0);
    }
    char *inner = out->text ? render_to(&r, tp->body, 1) : NULL;
    if (!inner || !out->subject || !out->text) {
        free(inner);
        tw_rendered_free(out);
        return TW_PERMFAIL;
    }
    trim_end(out->text);
    trim_end(inner);
    char *marked = paragraphs(inner);
    free(inner);
    inner = marked;
    struct tw_buf h;
    tw_buf_init(&h, 0);
    r.html = 1;
    r.out = h;
    put_raw(&r, l == 0 ? "<!DOCTYPE html>\n<html dir=\"rtl\" lang=\"ar\">\n"
                       : "<!DOCTYPE html>\n<html dir=\"ltr\" lang=\"en\">\n");
    put_raw(&r, "<head>\n<meta charset=\"utf-8\">\n<title>");
    put_str(&r, out->subject, 1);
    put_raw(&r, "</title>\n</head>\n");
    put_raw(&r, l == 0 ? "<body style=\"direction:rtl;text-align:right;"
                         "font-family:Tahoma,Arial,sans-serif\">\n<p>"
                       : "<body style=\"font-family:Arial,sans-serif\">\n<p>");
    put_raw(&r, inner);
    put_raw(&r, "</p>\n</body>\n</html>\n");
    free(inner);
    out->html = tw_buf_take(&r.out, NULL);
    return TW_OK;
}
