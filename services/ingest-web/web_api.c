/*
 * web_api.c - the JSON API: the same request, status and rules as the
 * pages, for the cooperative's own apps.
 *
 *   POST /api/v1/cases         {"member_number","name","email","phone",
 *                               "kind","category","subject","description",
 *                               "attest":bool,"lang":"ar|en"}
 *     201 {"case","status","received_at","sla_due_at","verified",
 *          "status_url"} once the engine has the case;
 *     202 {"status":"queued","receipt","received_at","receipt_url"} when
 *          it is spooled and the engine has not answered yet;
 *     422 {"error":"invalid","fields":{name: message}}.
 *   GET /api/v1/cases/{ref}?email=… or ?t=TOKEN
 *     200 the case as the status page shows it; 404 for an unknown ref
 *     and a wrong email alike.
 */
#include "web.h"

#include <string.h>

#include "error.h"
#include "mem.h"

/* api field names, in enum web_field order (files: none) */
static const char *const api_names[F__COUNT] = {
    "member_number", "name",    "email",       "phone",  "kind",
    "category",      "subject", "description", "attest", NULL,
};

int web_api_form(const char *text, size_t len, struct web_form *f, char *msg)
{
    json_error_t e;
    json_t *j = json_loadb(text, len, 0, &e);
    const char *k;
    json_t *v;
    int rc = TW_PERMFAIL;
    if (!json_is_object(j)) {
        snprintf(msg, TW_MSG_MAX, "body is not a JSON object (line %d: %s)",
                 e.line, e.text);
        goto out;
    }
    json_object_foreach(j, k, v)
    {
        int i;
        for (i = 0; i < F__COUNT; i++)
            if (api_names[i] && strcmp(api_names[i], k) == 0)
                break;
        if (i == F_ATTEST) {
            if (!json_is_boolean(v)) {
                snprintf(msg, TW_MSG_MAX, "attest: must be true or false");
                goto out;
            }
            f->v[F_ATTEST] = json_is_true(v) ? tw_strdup("yes") : NULL;
            continue;
        }
        if (i == F__COUNT && strcmp(k, "lang") == 0) {
            const char *l = json_string_value(v);
            if (!l || (strcmp(l, "ar") != 0 && strcmp(l, "en") != 0)) {
                snprintf(msg, TW_MSG_MAX, "lang: must be \"ar\" or \"en\"");
                goto out;
            }
            f->lang = tw_strdup(l);
            continue;
        }
        if (i == F__COUNT) {
            snprintf(msg, TW_MSG_MAX, "%.64s: unknown field", k);
            goto out;
        }
        if (json_is_null(v))
            continue;
        if (!json_is_string(v)) {
            snprintf(msg, TW_MSG_MAX, "%s: must be a string", k);
            goto out;
        }
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            snprintf(msg, TW_MSG_MAX, "%s: must not contain NUL", k);
            goto out;
        }
        f->v[i] = tw_strdup(json_string_value(v));
    }
    if (!f->v[F_KIND])
        f->v[F_KIND] = tw_strdup("request");
    rc = TW_OK;
out:
    json_decref(j);
    return rc;
}

json_t *web_api_errors(const struct web_form *f)
{
    json_t *fields = json_object();
    for (int i = 0; i < F__COUNT; i++)
        if (f->err[i])
            json_object_set_new(fields, api_names[i] ? api_names[i] : "files",
                                json_string(web_text(WEB_EN, f->err[i])));
    return json_pack("{s:s, s:s, s:o}", "error", "invalid", "message",
                     "some fields are missing or wrong", "fields", fields);
}

json_t *web_api_case(const struct web *w, const struct web_case *c,
                     enum web_lang l)
{
    char rec[TW_TIME_ISO_MAX], due[TW_TIME_ISO_MAX], dec[TW_TIME_ISO_MAX];
    json_t *events = json_array();
    for (size_t i = 0; i < c->nevents; i++) {
        char at[TW_TIME_ISO_MAX];
        json_array_append_new(events,
                              json_pack("{s:s, s:s}", "at",
                                        tw_time_iso(c->events[i].at, 0, at),
                                        "status", c->events[i].status));
    }
    const struct web_category *cat = web_category_find(w, c->category);
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s, s:s, s:s?, s:s?, s:b, s:o}",
        "case", c->ref, "status", c->status, "status_text",
        web_status_words(l, c->status), "kind", c->kind, "category",
        c->category[0] ? c->category : NULL, "category_text",
        cat ? cat->label[l] : NULL, "subject", c->subject, "received_at",
        tw_time_iso(c->received_at, 0, rec), "sla_due_at",
        tw_time_iso(c->due_at, 0, due), "decided_at",
        c->decided_at ? tw_time_iso(c->decided_at, 0, dec) : NULL,
        "survey_answered", c->survey_answered, "events", events);
}
