/*
 * web_pages.c - the portal's HTML, in Arabic (right to left, the default)
 * and English.
 *
 * Pages are built as text into a buffer, every outside value through
 * web_html_escape. No script anywhere: forms post, links link, and the one
 * page that waits for the engine refreshes itself with a meta tag, so the
 * portal works without JavaScript and under a CSP that forbids it. The
 * markup follows the usual accessible pattern: a label for every field,
 * hints and errors tied to it with aria-describedby, an error summary that
 * links to each field, and the first field in error focused.
 */
#include "web.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command.h"
#include "error.h"
#include "mem.h"

/* The strings, by key: {key, Arabic, English}. */
static const char *const texts[][3] = {
    {"site", "بوابة الأعضاء", "Member portal"},
    {"skip", "انتقل إلى المحتوى", "Skip to content"},
    {"nav_new", "طلب جديد", "New request"},
    {"nav_status", "الاستعلام عن طلب", "Look up a request"},
    {"switch", "English", "العربية"},
    {"footer", "خدمة أعضاء الجمعية العمومية",
     "General Assembly member service"},
    {"required", "مطلوب", "required"},
    {"optional", "اختياري", "optional"},
    {"title_new", "تقديم طلب جديد", "File a new request"},
    {"intro_new",
     "قدّم طلبك أو استفسارك أو شكواك من مكانك. نرسل إليك رقم الطلب وموعد الرد، "
     "ونراسلك عند كل خطوة.",
     "File a request, question or complaint from wherever you are. We send you "
     "the case number and the date you will have an answer by, and write to "
     "you at every step."},
    {"member", "رقم العضوية", "Membership number"},
    {"member_hint",
     "إن كان لديك. إن لم نجده في سجل الأعضاء نستلم طلبك ويتحقق منه الموظف.",
     "If you have one. If it is not in the register we still take your "
     "request and an officer checks it."},
    {"name", "الاسم الكامل", "Full name"},
    {"email", "البريد الإلكتروني", "Email"},
    {"email_hint", "نرسل إليه رقم الطلب وكل تحديث عليه.",
     "We send the case number and every update here."},
    {"phone", "رقم الجوال", "Mobile number"},
    {"kind", "نوع الطلب", "Type"},
    {"kind_inquiry", "استفسار", "Question"},
    {"kind_request", "طلب خدمة", "Service request"},
    {"kind_complaint", "شكوى", "Complaint"},
    {"kind_suggestion", "اقتراح", "Suggestion"},
    {"category", "التصنيف", "Category"},
    {"choose", "اختر…", "Choose…"},
    {"subject", "عنوان الطلب", "Subject"},
    {"subject_hint", "سطر واحد يلخص طلبك.",
     "One line that sums up your request."},
    {"body", "التفاصيل", "Details"},
    {"files", "مرفقات", "Attachments"},
    {"files_hint", "ملفات PDF أو صور (JPEG، PNG). العدد الأقصى والحجم:",
     "PDF files or images (JPEG, PNG). Most files and size:"},
    {"attest", "أقر بأن المعلومات المقدمة صحيحة وأتحمل مسؤوليتها.",
     "I confirm the information is correct and I am responsible for it."},
    {"attest_hint",
     "مطلوب لطلبات الخدمة في التصنيفات التي تعرض على لجنة البحث.",
     "Required for service requests in categories the research committee "
     "decides."},
    {"submit", "إرسال الطلب", "Send request"},
    {"errors_title", "يرجى تصحيح ما يلي", "Please correct the following"},
    {"err_text", "يحتوي النص على رموز لا يمكن قبولها.",
     "This contains characters we cannot accept."},
    {"err_member", "رقم العضوية يتكون من أرقام وحروف لاتينية فقط.",
     "A membership number has only digits and Latin letters."},
    {"err_name_missing", "اكتب اسمك.", "Enter your name."},
    {"err_name_long", "الاسم أطول من المسموح (120 حرفًا).",
     "The name is too long (120 characters at most)."},
    {"err_email_missing", "اكتب بريدك الإلكتروني لنرسل إليك رقم الطلب.",
     "Enter your email so we can send you the case number."},
    {"err_email", "هذا لا يبدو عنوان بريد صحيحًا، مثل name@example.com.",
     "This does not look like an email address, e.g. name@example.com."},
    {"err_phone",
     "اكتب رقم الجوال بالأرقام، مثل ‎+966 55 000 "
     "0000.",
     "Enter the number in digits, e.g. +966 55 000 0000."},
    {"err_kind", "اختر نوع الطلب.", "Choose a type."},
    {"err_category", "اختر التصنيف.", "Choose a category."},
    {"err_subject_missing", "اكتب عنوانًا قصيرًا لطلبك.",
     "Give your request a short subject."},
    {"err_subject_long", "العنوان أطول من المسموح.",
     "The subject is too long."},
    {"err_body_missing", "اكتب تفاصيل طلبك.", "Describe your request."},
    {"err_body_long", "التفاصيل أطول من المسموح.", "The details are too long."},
    {"err_attest", "يلزم الإقرار بصحة المعلومات لإرسال طلب يعرض على اللجنة.",
     "Confirm the information to send a request the committee decides."},
    {"err_files_many", "عدد الملفات أكثر من المسموح.", "Too many files."},
    {"err_file_large", "أحد الملفات أكبر من المسموح.",
     "A file is larger than allowed."},
    {"err_file_type", "نقبل ملفات PDF والصور (JPEG وPNG) فقط.",
     "We accept PDF files and images (JPEG, PNG) only."},
    {"err_file_name", "اسم أحد الملفات غير مقبول.",
     "A file name cannot be accepted."},
    {"notice_session", "انتهت صلاحية النموذج. راجع بياناتك ثم أرسلها مرة أخرى.",
     "The form expired. Check your details and send them again."},
    {"notice_unavailable",
     "تعذر حفظ طلبك الآن ولم يحفظ منه شيء. حاول مرة أخرى بعد قليل.",
     "We could not save your request just now, and nothing was kept. Please "
     "try again in a moment."},
    {"notice_refused", "لم نتمكن من تسجيل الطلب. راجع بياناتك وحاول مرة أخرى.",
     "We could not register the request. Check your details and try again."},
    {"title_done", "تم استلام طلبك", "We have received your request"},
    {"your_ref", "رقم طلبك", "Your case number"},
    {"keep_ref", "احتفظ بهذا الرقم للاستعلام عن طلبك.",
     "Keep this number to look up your request."},
    {"due_text", "نعدك بالرد على طلبك - بالقبول أو الرفض - في موعد أقصاه",
     "We promise you an answer - accepted or not - by"},
    {"next_title", "ماذا يحدث الآن؟", "What happens next?"},
    {"next_1",
     "يراجع موظف علاقات المساهمين طلبك ويتأكد من اكتمال المعلومات. إن نقص شيء "
     "راسلناك، ويتوقف احتساب المدة حتى يصلنا ردك.",
     "A shareholder-relations officer checks that your request is complete. "
     "If anything is missing we write to you, and the clock stops until you "
     "answer."},
    {"next_2",
     "تعرض الطلبات على لجنة البحث، فتدرسها وترد بالقبول أو الرفض في الموعد "
     "أعلاه.",
     "Requests go to the research committee, which studies them and answers "
     "by the date above."},
    {"next_3", "نرسل إليك بريدًا عند كل خطوة، ويمكنك متابعة طلبك في أي وقت.",
     "We email you at every step, and you can follow your request at any "
     "time."},
    {"sent_email", "أرسلنا تأكيدًا بهذه المعلومات إلى بريدك الإلكتروني.",
     "We have emailed you a confirmation with these details."},
    {"unverified",
     "لم نجد رقم العضوية في سجل الأعضاء، وسيتحقق منه الموظف. لا يؤخر ذلك طلبك.",
     "We did not find the membership number in the register; an officer will "
     "check it. This does not delay your request."},
    {"view_status", "متابعة حالة هذا الطلب", "Follow this request"},
    {"another", "تقديم طلب آخر", "File another request"},
    {"title_queued", "وصلنا طلبك وحفظناه", "Your request has reached us"},
    {"queued_at", "حفظنا طلبك بأمان، فلن يضيع.",
     "We have saved your request safely; it will not be lost."},
    {"queued_text",
     "نسجله الآن. سيظهر رقم الطلب في هذه الصفحة خلال لحظات، وسنرسله إلى بريدك "
     "أيضًا. لا حاجة لإرساله مرة أخرى.",
     "We are registering it now. The case number will appear on this page in "
     "a moment, and we will email it to you too. There is no need to send it "
     "again."},
    {"queued_due", "موعد الرد بالقرار في موعد أقصاه",
     "You will have a decision by"},
    {"refresh", "تحديث الصفحة", "Refresh this page"},
    {"title_lookup", "الاستعلام عن طلب", "Look up a request"},
    {"lookup_intro",
     "اكتب رقم الطلب والبريد الإلكتروني الذي استخدمته عند تقديمه.",
     "Enter the case number and the email you used when you filed it."},
    {"ref", "رقم الطلب", "Case number"},
    {"ref_hint", "مثل AW-2026-000123", "e.g. AW-2026-000123"},
    {"lookup_submit", "عرض الحالة", "Show status"},
    {"not_found",
     "لم نجد طلبًا بهذا الرقم وهذا البريد. تحقق منهما وحاول مرة أخرى.",
     "We found no request with this number and email. Check both and try "
     "again."},
    {"title_status", "حالة طلبك", "Your request"},
    {"status", "الحالة", "Status"},
    {"kind_l", "النوع", "Type"},
    {"received", "تاريخ الاستلام", "Received"},
    {"due", "موعد القرار", "Decision due"},
    {"decided", "تاريخ القرار", "Decided"},
    {"timeline", "ما حدث حتى الآن", "What has happened so far"},
    {"title_survey", "قيّم الخدمة", "Rate our service"},
    {"survey_intro",
     "التقييم حق لك، ويساعدنا على تحسين الخدمة، وليس أداة للمحاسبة.",
     "Rating is your right and helps us improve; it is never used to punish "
     "anyone."},
    {"rating", "تقييمك", "Your rating"},
    {"star_1", "1 - ضعيف", "1 - Poor"},
    {"star_2", "2 - مقبول", "2 - Fair"},
    {"star_3", "3 - جيد", "3 - Good"},
    {"star_4", "4 - جيد جدًا", "4 - Very good"},
    {"star_5", "5 - ممتاز", "5 - Excellent"},
    {"comment", "تعليق", "Comment"},
    {"survey_submit", "إرسال التقييم", "Send rating"},
    {"err_rating", "اختر تقييمًا من 1 إلى 5.", "Choose a rating from 1 to 5."},
    {"err_comment", "التعليق أطول من المسموح (2000 حرف).",
     "The comment is too long (2,000 characters)."},
    {"title_thanks", "شكرًا لك", "Thank you"},
    {"thanks", "وصلنا تقييمك. شكرًا لمساعدتنا على تحسين خدماتنا.",
     "We have your rating. Thank you for helping us improve."},
    {"title_answered", "قيّمت هذا الطلب من قبل",
     "You have already rated this request"},
    {"answered", "نقبل تقييمًا واحدًا لكل طلب. شكرًا لك.",
     "We take one rating per request. Thank you."},
    {"title_not_yet", "التقييم غير متاح بعد", "Rating is not open yet"},
    {"not_yet", "يمكنك تقييم الخدمة بعد اكتمال طلبك.",
     "You can rate the service once your request is completed."},
    {"title_link_bad", "الرابط غير صالح", "This link is not valid"},
    {"link_bad",
     "قد يكون الرابط ناقصًا. افتحه من البريد كما هو، أو استعلم برقم الطلب "
     "وبريدك.",
     "The link may be incomplete. Open it from the email as it is, or look "
     "up your request with its number and your email."},
    {"title_404", "الصفحة غير موجودة", "Page not found"},
    {"e404", "لم نجد هذه الصفحة. ابدأ من الصفحة الرئيسية.",
     "We could not find this page. Start again from the home page."},
    {"title_405", "طريقة غير مسموحة", "Not allowed"},
    {"e405", "لا يمكن استخدام هذه الصفحة بهذه الطريقة.",
     "This page cannot be used that way."},
    {"title_413", "ما أرسلته أكبر من المسموح", "Your submission is too large"},
    {"e413",
     "مجموع ما أرسلته أكبر من الحد المسموح. صغّر المرفقات أو قلل عددها ثم حاول "
     "مرة أخرى. لم يحفظ شيء.",
     "What you sent is larger than we accept. Make the attachments smaller or "
     "fewer and try again. Nothing was kept."},
    {"limit", "الحد الأقصى:", "The limit is"},
    {"title_429", "محاولات كثيرة", "Too many attempts"},
    {"e429", "أرسلت عددًا كبيرًا من الطلبات في وقت قصير. حاول مرة أخرى بعد قليل.",
     "You have sent many requests in a short time. Please try again later."},
    {"title_400", "طلب غير مفهوم", "Bad request"},
    {"e400",
     "لم نفهم ما أرسله المتصفح. ارجع إلى الصفحة السابقة وحاول مرة أخرى.",
     "We could not read what your browser sent. Go back and try again."},
    {"title_503", "الخدمة غير متاحة مؤقتًا", "Temporarily unavailable"},
    {"e503", "لا نستطيع عرض هذه المعلومات الآن. حاول مرة أخرى بعد قليل.",
     "We cannot show this just now. Please try again in a moment."},
    {"home", "الصفحة الرئيسية", "Home page"},
};

/* Plain words for each status: the headline and the timeline entry. */
static const char *const statuses[][5] = {
    {"new", "استلمنا طلبك ونراجعه", "We have your request and are checking it",
     "استلام الطلب", "Request received"},
    {"awaiting_member", "ننتظر منك معلومات إضافية (راجع بريدك)",
     "Waiting for information from you (see your email)",
     "طلبنا منك معلومات إضافية", "We asked you for more information"},
    {"with_researcher", "لدى مسؤول البحث الاجتماعي للتوضيح",
     "With the social research officer, who is clarifying it",
     "أحيل إلى مسؤول البحث الاجتماعي",
     "Referred to the social research officer"},
    {"in_committee", "لدى لجنة البحث لدراسته والبت فيه",
     "With the research committee for a decision", "عرض على لجنة البحث",
     "Sent to the research committee"},
    {"accepted", "تمت الموافقة على طلبك", "Your request was accepted",
     "تمت الموافقة", "Accepted"},
    {"rejected", "لم تتم الموافقة على طلبك (أرسلنا إليك السبب بالبريد)",
     "Your request was not accepted (we emailed you why)", "لم تتم الموافقة",
     "Not accepted"},
    {"in_service", "نقدم لك الخدمة الآن", "We are delivering the service",
     "بدأ تقديم الخدمة", "Service started"},
    {"resolved", "اكتمل طلبك", "Your request is complete", "اكتمل الطلب",
     "Completed"},
    {"closed", "أغلق الطلب", "Closed", "أغلق الطلب", "Closed"},
    {"withdrawn", "سحب الطلب", "Withdrawn", "سحب الطلب", "Withdrawn"},
};

static const char *const months[2][12] = {
    {"يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس",
     "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر"},
    {"January", "February", "March", "April", "May", "June", "July", "August",
     "September", "October", "November", "December"},
};
static const char *const days[2][7] = {
    {"الأحد", "الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت"},
    {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
     "Saturday"},
};

const char web_css[] =
    ":root{--fg:#1b1b1b;--muted:#4a4a4a;--bg:#fff;--accent:#0b5d3b;"
    "--err:#b00020;--line:#b8b8b8;--soft:#eef5f1}"
    "*{box-sizing:border-box}"
    "body{margin:0;font:1.05rem/1.6 system-ui,'Noto Naskh Arabic','Noto Sans',"
    "Tahoma,sans-serif;color:var(--fg);background:var(--bg)}"
    ".skip{position:absolute;inset-inline-start:-999px}"
    ".skip:focus{inset-inline-start:1rem;top:1rem;background:#fff;"
    "padding:.5rem;z-index:9}"
    "header{background:var(--accent);color:#fff;padding:.75rem 1rem}"
    "header a{color:#fff}"
    "header .site{font-weight:700;font-size:1.15rem;margin:0}"
    "nav ul{list-style:none;margin:.4rem 0 0;padding:0;display:flex;"
    "flex-wrap:wrap;gap:1rem}"
    "main{max-width:44rem;margin:0 auto;padding:1rem}"
    "h1{font-size:1.6rem;line-height:1.3}"
    ".field{margin:0 0 1.25rem}"
    "label,legend{display:block;font-weight:600}"
    ".hint{color:var(--muted);margin:.1rem 0 .3rem}"
    ".error{color:var(--err);font-weight:600;margin:.1rem 0 .3rem}"
    "input[type=text],input[type=email],input[type=tel],select,textarea{"
    "width:100%;font:inherit;padding:.5rem;border:2px solid #555;"
    "border-radius:4px;background:#fff;color:inherit}"
    "textarea{min-height:9rem}"
    "[aria-invalid=true]{border-color:var(--err)}"
    "input:focus,select:focus,textarea:focus,button:focus,a:focus{"
    "outline:3px solid #ffbf47;outline-offset:2px}"
    "fieldset{border:0;padding:0;margin:0 0 1.25rem}"
    ".choice{display:flex;gap:.5rem;align-items:flex-start;margin:.3rem 0}"
    ".choice input{width:1.4rem;height:1.4rem;margin-top:.2rem}"
    "button{font:inherit;font-weight:700;background:var(--accent);color:#fff;"
    "border:0;border-radius:4px;padding:.7rem 1.4rem;cursor:pointer}"
    ".summary{border:3px solid var(--err);padding:.75rem 1rem;"
    "margin-bottom:1.5rem}"
    ".summary a{color:var(--err)}"
    ".notice{border-inline-start:6px solid "
    "var(--accent);background:var(--soft);"
    "padding:.75rem 1rem;margin-bottom:1.5rem}"
    ".ref{font-size:1.8rem;font-weight:700;direction:ltr;unicode-bidi:isolate;"
    "letter-spacing:.05em}"
    "[dir=rtl] .ref{text-align:right}"
    ".panel{background:var(--soft);padding:1rem;border-radius:6px;"
    "margin-bottom:1.5rem}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}"
    "dt{font-weight:600}dd{margin:0}"
    "ol.timeline{padding-inline-start:1.2rem}"
    "ol.timeline li{margin-bottom:.4rem}"
    ".ltr{direction:ltr;unicode-bidi:isolate}"
    "footer{color:var(--muted);text-align:center;padding:2rem 1rem}"
    "a{color:var(--accent)}";

/* put - append S */
static void put(struct tw_buf *b, const char *s)
{
    if (tw_buf_add(b, s, strlen(s)) != TW_OK)
        abort(); /* page buffers have no cap */
}

/* putf - append formatted text */
__attribute__((format(printf, 2, 3))) static void putf(struct tw_buf *b,
                                                       const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        put(b, small);
        return;
    }
    char *big = tw_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    put(b, big);
    free(big);
}

void web_html_escape(struct tw_buf *out, const char *s)
{
    if (!s)
        return;
    const char *start = s;
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            continue;
        }
        if (s > start && tw_buf_add(out, start, (size_t)(s - start)) != TW_OK)
            abort();
        put(out, rep);
        start = s + 1;
    }
    put(out, start);
}

/* h - append S escaped */
static void h(struct tw_buf *b, const char *s)
{
    web_html_escape(b, s);
}

const char *web_text(enum web_lang l, const char *key)
{
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (strcmp(texts[i][0], key) == 0)
            return texts[i][1 + l];
    return key;
}

/* T - shorthand */
#define T(key) web_text(p->lang, key)

const char *web_status_words(enum web_lang l, const char *status)
{
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        if (strcmp(statuses[i][0], status) == 0)
            return statuses[i][1 + l];
    return status;
}

/* status_event - the timeline words for reaching STATUS */
static const char *status_event(enum web_lang l, const char *status)
{
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        if (strcmp(statuses[i][0], status) == 0)
            return statuses[i][3 + l];
    return status;
}

void web_date(struct tw_buf *out, enum web_lang l, tw_time t, int with_time)
{
    time_t s = (time_t)(t / TW_SEC);
    struct tm tm;
    localtime_r(&s, &tm);
    putf(out, "%s %d %s %d", days[l][tm.tm_wday], tm.tm_mday,
         months[l][tm.tm_mon], tm.tm_year + 1900);
    if (with_time)
        putf(out, l == WEB_AR ? "، الساعة %02d:%02d" : ", %02d:%02d",
             tm.tm_hour, tm.tm_min);
}

/* site_name - the organisation's name in the page's language */
static const char *site_name(const struct web_page *p)
{
    const struct tw_base_config *base = p->w->base;
    return p->lang == WEB_AR && base->site_name_ar && *base->site_name_ar
               ? base->site_name_ar
               : base->site_name;
}

/* head - the document's start, the header and the navigation */
static void head(struct tw_buf *b, const struct web_page *p, const char *title,
                 int refresh)
{
    putf(b,
         "<!doctype html>\n<html lang=\"%s\" dir=\"%s\"><head>"
         "<meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, "
         "initial-scale=1\">",
         p->lang == WEB_AR ? "ar" : "en", p->lang == WEB_AR ? "rtl" : "ltr");
    if (refresh > 0)
        putf(b, "<meta http-equiv=\"refresh\" content=\"%d\">", refresh);
    put(b, "<title>");
    h(b, title);
    put(b, " - ");
    h(b, site_name(p));
    put(b, "</title><link rel=\"stylesheet\" href=\"/static/style.css\">"
           "</head><body>");
    putf(b, "<a class=\"skip\" href=\"#main\">%s</a><header><p class=\"site\">",
         T("skip"));
    h(b, site_name(p));
    putf(b, " - %s</p><nav aria-label=\"%s\"><ul>", T("site"), T("site"));
    putf(b, "<li><a href=\"/?lang=%s\">%s</a></li>", p->lang ? "en" : "ar",
         T("nav_new"));
    putf(b, "<li><a href=\"/status?lang=%s\">%s</a></li>",
         p->lang ? "en" : "ar", T("nav_status"));
    if (p->switch_url) {
        put(b, "<li><a href=\"");
        h(b, p->switch_url);
        putf(b, "\" lang=\"%s\" hreflang=\"%s\">%s</a></li>",
             p->lang ? "ar" : "en", p->lang ? "ar" : "en", T("switch"));
    }
    put(b, "</ul></nav></header><main id=\"main\">");
}

/* foot - the document's end */
static void foot(struct tw_buf *b, const struct web_page *p)
{
    put(b, "</main><footer>");
    h(b, T("footer"));
    put(b, " - ");
    h(b, site_name(p));
    put(b, "</footer></body></html>\n");
}

/* field_id - the form's name and id for each field */
static const char *const field_ids[F__COUNT] = {
    "member",   "name",    "email", "phone",  "kind",
    "category", "subject", "body",  "attest", "files",
};

/* describedby - aria-describedby for field I */
static void describedby(struct tw_buf *b, const struct web_form *f, int i,
                        int hint)
{
    if (!hint && !f->err[i])
        return;
    put(b, " aria-describedby=\"");
    if (hint)
        putf(b, "%s-hint", field_ids[i]);
    if (f->err[i])
        putf(b, "%s%s-err", hint ? " " : "", field_ids[i]);
    put(b, "\"");
    if (f->err[i])
        put(b, " aria-invalid=\"true\"");
}

/* label - label, hint and error of field I */
static void label(struct tw_buf *b, const struct web_page *p,
                  const struct web_form *f, int i, const char *text,
                  int required, const char *hint)
{
    putf(b, "<label for=\"%s\">%s <span class=\"hint\">(%s)</span></label>",
         field_ids[i], text, required ? T("required") : T("optional"));
    if (hint)
        putf(b, "<p class=\"hint\" id=\"%s-hint\">%s</p>", field_ids[i], hint);
    if (f->err[i])
        putf(b, "<p class=\"error\" id=\"%s-err\">%s</p>", field_ids[i],
             T(f->err[i]));
}

/* first_error - index of the first field in error, or -1 */
static int first_error(const struct web_form *f)
{
    for (int i = 0; i < F__COUNT; i++)
        if (f->err[i])
            return i;
    return -1;
}

/* input - a one-line text input for field I */
static void input(struct tw_buf *b, const struct web_form *f, int i,
                  const char *type, const char *extra, int hint)
{
    putf(b, "<input type=\"%s\" id=\"%s\" name=\"%s\" value=\"", type,
         field_ids[i], field_ids[i]);
    h(b, f->v[i]);
    putf(b, "\"%s", extra);
    describedby(b, f, i, hint);
    if (first_error(f) == i)
        put(b, " autofocus");
    put(b, ">");
}

/* csrf_field - the hidden token and language of every form */
static void csrf_field(struct tw_buf *b, const struct web_page *p)
{
    put(b, "<input type=\"hidden\" name=\"csrf\" value=\"");
    h(b, p->csrf);
    putf(b, "\"><input type=\"hidden\" name=\"lang\" value=\"%s\">",
         p->lang ? "en" : "ar");
}

/* size_text - a byte count as "5 MB" */
static void size_text(struct tw_buf *b, int64_t n)
{
    if (n >= (1 << 20) && n % (1 << 20) == 0)
        putf(b, "%lld MB", (long long)(n >> 20));
    else if (n >= 1024)
        putf(b, "%lld KB", (long long)(n >> 10));
    else
        putf(b, "%lld B", (long long)n);
}

void page_form(struct tw_buf *b, const struct web_page *p,
               const struct web_form *f, const char *notice)
{
    const struct web *w = p->w;
    head(b, p, T("title_new"), 0);
    putf(b, "<h1>%s</h1>", T("title_new"));
    if (notice)
        putf(b, "<div class=\"notice\" role=\"alert\"><p>%s</p></div>",
             T(notice));
    if (first_error(f) >= 0) {
        putf(b,
             "<div class=\"summary\" role=\"alert\" aria-labelledby=\"sum-t\">"
             "<h2 id=\"sum-t\">%s</h2><ul>",
             T("errors_title"));
        for (int i = 0; i < F__COUNT; i++)
            if (f->err[i])
                putf(b, "<li><a href=\"#%s\">%s</a></li>", field_ids[i],
                     T(f->err[i]));
        put(b, "</ul></div>");
    }
    putf(b, "<p>%s</p>", T("intro_new"));
    put(b, "<form method=\"post\" action=\"/request\" "
           "enctype=\"multipart/form-data\" novalidate>");
    csrf_field(b, p);

    put(b, "<div class=\"field\">");
    label(b, p, f, F_MEMBER, T("member"), 0, T("member_hint"));
    input(b, f, F_MEMBER, "text",
          " autocomplete=\"off\" inputmode=\"latin\" dir=\"ltr\" "
          "maxlength=\"32\"",
          1);
    put(b, "</div><div class=\"field\">");
    label(b, p, f, F_NAME, T("name"), 1, NULL);
    input(b, f, F_NAME, "text", " autocomplete=\"name\" maxlength=\"120\"", 0);
    put(b, "</div><div class=\"field\">");
    label(b, p, f, F_EMAIL, T("email"), 1, T("email_hint"));
    input(b, f, F_EMAIL, "email",
          " autocomplete=\"email\" dir=\"ltr\" maxlength=\"254\"", 1);
    put(b, "</div><div class=\"field\">");
    label(b, p, f, F_PHONE, T("phone"), 0, NULL);
    input(b, f, F_PHONE, "tel",
          " autocomplete=\"tel\" dir=\"ltr\" maxlength=\"30\"", 0);
    put(b, "</div>");

    /* kind: radio buttons, request first */
    static const char *const kinds[] = {"request", "inquiry", "complaint",
                                        "suggestion"};
    putf(b,
         "<fieldset class=\"field\" id=\"kind\"%s><legend>%s <span "
         "class=\"hint\">(%s)</span></legend>",
         f->err[F_KIND] ? " aria-describedby=\"kind-err\"" : "", T("kind"),
         T("required"));
    if (f->err[F_KIND])
        putf(b, "<p class=\"error\" id=\"kind-err\">%s</p>", T(f->err[F_KIND]));
    for (size_t i = 0; i < 4; i++) {
        char key[32];
        snprintf(key, sizeof key, "kind_%s", kinds[i]);
        int on = f->v[F_KIND] ? strcmp(f->v[F_KIND], kinds[i]) == 0 : i == 0;
        putf(b,
             "<div class=\"choice\"><input type=\"radio\" name=\"kind\" "
             "id=\"kind-%s\" value=\"%s\"%s><label for=\"kind-%s\">%s</label>"
             "</div>",
             kinds[i], kinds[i], on ? " checked" : "", kinds[i], T(key));
    }
    put(b, "</fieldset>");

    if (w->ncats > 0) {
        put(b, "<div class=\"field\">");
        label(b, p, f, F_CATEGORY, T("category"), 1, NULL);
        putf(b, "<select id=\"category\" name=\"category\"");
        describedby(b, f, F_CATEGORY, 0);
        if (first_error(f) == F_CATEGORY)
            put(b, " autofocus");
        putf(b, "><option value=\"\">%s</option>", T("choose"));
        for (size_t i = 0; i < w->ncats; i++) {
            const struct web_category *c = &w->cats[i];
            put(b, "<option value=\"");
            h(b, c->name);
            put(b, "\"");
            if (f->v[F_CATEGORY] && strcmp(f->v[F_CATEGORY], c->name) == 0)
                put(b, " selected");
            put(b, ">");
            h(b, c->label[p->lang]);
            put(b, "</option>");
        }
        put(b, "</select></div>");
    }

    put(b, "<div class=\"field\">");
    label(b, p, f, F_SUBJECT, T("subject"), 1, T("subject_hint"));
    {
        char extra[64];
        snprintf(extra, sizeof extra, " maxlength=\"%lld\"",
                 (long long)w->cfg->max_subject);
        input(b, f, F_SUBJECT, "text", extra, 1);
    }
    put(b, "</div><div class=\"field\">");
    label(b, p, f, F_BODY, T("body"), 1, NULL);
    put(b, "<textarea id=\"body\" name=\"body\" rows=\"8\"");
    describedby(b, f, F_BODY, 0);
    if (first_error(f) == F_BODY)
        put(b, " autofocus");
    put(b, ">");
    h(b, f->v[F_BODY]);
    put(b, "</textarea></div>");

    if (w->cfg->max_attachments > 0) {
        put(b, "<div class=\"field\">");
        label(b, p, f, F_FILES, T("files"), 0, NULL);
        putf(b, "<p class=\"hint\" id=\"files-hint\">%s %lld &times; ",
             T("files_hint"), (long long)w->cfg->max_attachments);
        size_text(b, w->cfg->max_attachment);
        put(b, "</p><input type=\"file\" id=\"files\" name=\"files\" multiple "
               "accept=\"");
        for (size_t i = 0; i < w->cfg->attachment_types.n; i++) {
            if (i)
                put(b, ",");
            h(b, w->cfg->attachment_types.v[i]);
        }
        put(b, "\"");
        describedby(b, f, F_FILES, 1);
        put(b, "></div>");
    }

    /* The attestation: shown always, required only where it applies (the
     * page cannot hide it without script). */
    int any_attest = 0;
    for (size_t i = 0; i < w->ncats; i++)
        any_attest |= w->cats[i].attest;
    if (any_attest) {
        putf(b, "<div class=\"field\">");
        if (f->err[F_ATTEST])
            putf(b, "<p class=\"error\" id=\"attest-err\">%s</p>",
                 T(f->err[F_ATTEST]));
        putf(b,
             "<div class=\"choice\"><input type=\"checkbox\" id=\"attest\" "
             "name=\"attest\" value=\"yes\"%s",
             f->v[F_ATTEST] && strcmp(f->v[F_ATTEST], "yes") == 0 ? " checked"
                                                                  : "");
        describedby(b, f, F_ATTEST, 1);
        if (first_error(f) == F_ATTEST)
            put(b, " autofocus");
        putf(b, "><label for=\"attest\">%s</label></div>", T("attest"));
        put(b, "<p class=\"hint\" id=\"attest-hint\">");
        h(b, T("attest_hint"));
        put(b, " (");
        int first = 1;
        for (size_t i = 0; i < w->ncats; i++) {
            if (!w->cats[i].attest)
                continue;
            if (!first)
                put(b, p->lang == WEB_AR ? "، " : ", ");
            h(b, w->cats[i].label[p->lang]);
            first = 0;
        }
        put(b, ")</p></div>");
    }
    putf(b, "<button type=\"submit\">%s</button></form>", T("submit"));
    foot(b, p);
}

void page_confirm(struct tw_buf *b, const struct web_page *p,
                  const struct web_result *r, const char *status_url)
{
    head(b, p, T("title_done"), 0);
    putf(b, "<h1>%s</h1><div class=\"panel\"><p>%s</p><p class=\"ref\">",
         T("title_done"), T("your_ref"));
    h(b, r->ref);
    putf(b, "</p><p>%s</p><p><strong>%s ", T("keep_ref"), T("due_text"));
    web_date(b, p->lang, r->due_at, 0);
    put(b, "</strong></p></div>");
    if (r->has_email)
        putf(b, "<p>%s</p>", T("sent_email"));
    if (!r->verified)
        putf(b, "<p>%s</p>", T("unverified"));
    putf(b, "<h2>%s</h2><ol><li>%s</li><li>%s</li><li>%s</li></ol>",
         T("next_title"), T("next_1"), T("next_2"), T("next_3"));
    if (status_url) {
        put(b, "<p><a href=\"");
        h(b, status_url);
        putf(b, "\">%s</a></p>", T("view_status"));
    }
    putf(b, "<p><a href=\"/?lang=%s\">%s</a></p>", p->lang ? "en" : "ar",
         T("another"));
    foot(b, p);
}

void page_queued(struct tw_buf *b, const struct web_page *p, tw_time received,
                 tw_time due, const char *self)
{
    head(b, p, T("title_queued"), 10);
    (void)received;
    putf(b, "<h1>%s</h1><div class=\"panel\" role=\"status\"><p>%s</p>",
         T("title_queued"), T("queued_at"));
    putf(b, "<p>%s</p><p><strong>%s ", T("queued_text"), T("queued_due"));
    web_date(b, p->lang, due, 0);
    put(b, "</strong></p></div>");
    putf(b, "<h2>%s</h2><ol><li>%s</li><li>%s</li><li>%s</li></ol>",
         T("next_title"), T("next_1"), T("next_2"), T("next_3"));
    put(b, "<p><a href=\"");
    h(b, self);
    putf(b, "\">%s</a></p>", T("refresh"));
    foot(b, p);
}

void page_lookup(struct tw_buf *b, const struct web_page *p, const char *ref,
                 const char *email, const char *error, const char *notice)
{
    head(b, p, T("title_lookup"), 0);
    putf(b, "<h1>%s</h1>", T("title_lookup"));
    if (notice)
        putf(b, "<div class=\"notice\" role=\"alert\"><p>%s</p></div>",
             T(notice));
    if (error)
        putf(b,
             "<div class=\"summary\" role=\"alert\"><p id=\"lookup-err\">%s"
             "</p></div>",
             T(error));
    putf(b, "<p>%s</p><form method=\"post\" action=\"/status\" novalidate>",
         T("lookup_intro"));
    csrf_field(b, p);
    putf(b,
         "<div class=\"field\"><label for=\"ref\">%s <span class=\"hint\">"
         "(%s)</span></label><p class=\"hint\" id=\"ref-hint\">%s</p>"
         "<input type=\"text\" id=\"ref\" name=\"ref\" dir=\"ltr\" "
         "autocomplete=\"off\" maxlength=\"32\" aria-describedby=\"ref-hint%s\""
         "%s value=\"",
         T("ref"), T("required"), T("ref_hint"), error ? " lookup-err" : "",
         error ? " aria-invalid=\"true\" autofocus" : "");
    h(b, ref);
    putf(b,
         "\"></div><div class=\"field\"><label for=\"email\">%s <span "
         "class=\"hint\">(%s)</span></label><input type=\"email\" "
         "id=\"email\" name=\"email\" dir=\"ltr\" autocomplete=\"email\" "
         "maxlength=\"254\" value=\"",
         T("email"), T("required"));
    h(b, email);
    putf(b, "\"></div><button type=\"submit\">%s</button></form>",
         T("lookup_submit"));
    foot(b, p);
}

void page_status(struct tw_buf *b, const struct web_page *p,
                 const struct web_case *c, const char *survey_url)
{
    head(b, p, T("title_status"), 0);
    putf(b, "<h1>%s</h1><div class=\"panel\"><p class=\"ref\">",
         T("title_status"));
    h(b, c->ref);
    put(b, "</p><p><strong>");
    h(b, web_status_words(p->lang, c->status));
    putf(b, "</strong></p></div><dl><dt>%s</dt><dd>", T("subject"));
    h(b, c->subject);
    char key[32];
    snprintf(key, sizeof key, "kind_%s", c->kind);
    putf(b, "</dd><dt>%s</dt><dd>%s</dd>", T("kind_l"), T(key));
    const struct web_category *cat = web_category_find(p->w, c->category);
    if (cat) {
        putf(b, "<dt>%s</dt><dd>", T("category"));
        h(b, cat->label[p->lang]);
        put(b, "</dd>");
    }
    putf(b, "<dt>%s</dt><dd>", T("received"));
    web_date(b, p->lang, c->received_at, 1);
    if (c->decided_at) {
        putf(b, "</dd><dt>%s</dt><dd>", T("decided"));
        web_date(b, p->lang, c->decided_at, 0);
    } else if (strcmp(c->status, "withdrawn") != 0 &&
               strcmp(c->status, "resolved") != 0 &&
               strcmp(c->status, "closed") != 0) {
        putf(b, "</dd><dt>%s</dt><dd>", T("due"));
        web_date(b, p->lang, c->due_at, 0);
    }
    putf(b, "</dd></dl><h2>%s</h2><ol class=\"timeline\">", T("timeline"));
    for (size_t i = 0; i < c->nevents; i++) {
        put(b, "<li><time>");
        web_date(b, p->lang, c->events[i].at, 1);
        put(b, "</time>: ");
        h(b, status_event(p->lang, c->events[i].status));
        put(b, "</li>");
    }
    put(b, "</ol>");
    if (survey_url) {
        put(b, "<p><a href=\"");
        h(b, survey_url);
        putf(b, "\">%s</a></p>", T("title_survey"));
    }
    foot(b, p);
}

void page_survey(struct tw_buf *b, const struct web_page *p,
                 const struct web_case *c, const char *token,
                 const char *rating, const char *comment, const char *err_r,
                 const char *err_c)
{
    head(b, p, T("title_survey"), 0);
    putf(b, "<h1>%s</h1><p class=\"ref\">", T("title_survey"));
    h(b, c->ref);
    put(b, "</p><p>");
    h(b, c->subject);
    putf(b, "</p><p>%s</p>", T("survey_intro"));
    if (err_r || err_c) {
        putf(b, "<div class=\"summary\" role=\"alert\"><h2>%s</h2><ul>",
             T("errors_title"));
        if (err_r)
            putf(b, "<li><a href=\"#rating-5\">%s</a></li>", T(err_r));
        if (err_c)
            putf(b, "<li><a href=\"#comment\">%s</a></li>", T(err_c));
        put(b, "</ul></div>");
    }
    put(b, "<form method=\"post\" action=\"/survey/");
    h(b, c->ref);
    put(b, "\" novalidate>");
    csrf_field(b, p);
    put(b, "<input type=\"hidden\" name=\"t\" value=\"");
    h(b, token);
    putf(b,
         "\"><fieldset class=\"field\"%s><legend>%s <span class=\"hint\">"
         "(%s)</span></legend>",
         err_r ? " aria-describedby=\"rating-err\"" : "", T("rating"),
         T("required"));
    if (err_r)
        putf(b, "<p class=\"error\" id=\"rating-err\">%s</p>", T(err_r));
    for (int i = 5; i >= 1; i--) {
        char key[16], v[4];
        snprintf(key, sizeof key, "star_%d", i);
        snprintf(v, sizeof v, "%d", i);
        int on = rating && strcmp(rating, v) == 0;
        putf(b,
             "<div class=\"choice\"><input type=\"radio\" name=\"rating\" "
             "id=\"rating-%d\" value=\"%d\"%s%s><label for=\"rating-%d\">"
             "<span aria-hidden=\"true\">",
             i, i, on ? " checked" : "", err_r && i == 5 ? " autofocus" : "",
             i);
        for (int s = 0; s < 5; s++)
            put(b, s < i ? "&#9733;" : "&#9734;");
        putf(b, "</span> %s</label></div>", T(key));
    }
    putf(b,
         "</fieldset><div class=\"field\"><label for=\"comment\">%s "
         "<span class=\"hint\">(%s)</span></label>",
         T("comment"), T("optional"));
    if (err_c)
        putf(b, "<p class=\"error\" id=\"comment-err\">%s</p>", T(err_c));
    putf(b,
         "<textarea id=\"comment\" name=\"comment\" rows=\"5\" "
         "maxlength=\"2000\"%s>",
         err_c ? " aria-invalid=\"true\" aria-describedby=\"comment-err\" "
                 "autofocus"
               : "");
    h(b, comment);
    putf(b, "</textarea></div><button type=\"submit\">%s</button></form>",
         T("survey_submit"));
    foot(b, p);
}

void page_message(struct tw_buf *b, const struct web_page *p,
                  const char *title_key, const char *text_key,
                  const char *extra)
{
    head(b, p, T(title_key), 0);
    putf(b, "<h1>%s</h1><p>%s", T(title_key), T(text_key));
    if (extra) {
        put(b, " ");
        h(b, extra);
    }
    putf(b, "</p><p><a href=\"/?lang=%s\">%s</a></p>", p->lang ? "en" : "ar",
         T("home"));
    foot(b, p);
}

void page_size_limit(struct tw_buf *b, const struct web_page *p, int64_t max)
{
    head(b, p, T("title_413"), 0);
    putf(b, "<h1>%s</h1><p>%s</p><p>%s ", T("title_413"), T("e413"),
         T("limit"));
    size_text(b, max);
    putf(b, ".</p><p><a href=\"/?lang=%s\">%s</a></p>", p->lang ? "en" : "ar",
         T("home"));
    foot(b, p);
}
