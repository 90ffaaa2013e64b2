/*
 * log.c - one line per event on stderr, "service[pid]: level: text".
 * Each line is written with a single write(2) so lines from several
 * processes sharing a log file never interleave.
 */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char log_service[64] = "tawasul";
static enum tw_log_level log_threshold = TW_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warning", "error"};

void tw_log_init(const char *service, enum tw_log_level level)
{
    snprintf(log_service, sizeof log_service, "%s", service);
    log_threshold = level;
}

void tw_log_set_level(enum tw_log_level level)
{
    log_threshold = level;
}

int tw_log_level_parse(const char *name)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    if (strcmp(name, "warning") == 0)
        return TW_LOG_WARN;
    return -1;
}

int tw_log_enabled(enum tw_log_level level)
{
    return level >= log_threshold;
}

void tw_logv(enum tw_log_level level, const char *fmt, va_list ap)
{
    if (level < log_threshold)
        return;
    char line[2048];
    int n = snprintf(line, sizeof line, "%s[%ld]: %s: ", log_service,
                     (long)getpid(), level_names[level]);
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    /* No raw line breaks inside one event: keep one event per line. */
    for (size_t i = (size_t)n; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void tw_log(enum tw_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tw_logv(level, fmt, ap);
    va_end(ap);
}

void tw_fatal(int exit_code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tw_logv(TW_LOG_ERROR, fmt, ap);
    va_end(ap);
    exit(exit_code);
}
