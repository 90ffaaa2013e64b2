/*
 * log.h - one line per event on stderr:
 *   tawasul-engine[1234]: info: AW-2026-000001: case created channel=phone
 * The work item's id comes first in the text by convention ("%s: ...").
 * journald, Docker or the local stack's log file collect stderr.
 * Never log passwords or message bodies.
 */
#ifndef TW_LOG_H
#define TW_LOG_H

#include <stdarg.h>

enum tw_log_level {
    TW_LOG_DEBUG = 0,
    TW_LOG_INFO,
    TW_LOG_WARN,
    TW_LOG_ERROR,
};

/* tw_log_init - set the service name shown on each line and the threshold */
void tw_log_init(const char *service, enum tw_log_level level);
/* tw_log_set_level - change the threshold (e.g. after a config reload) */
void tw_log_set_level(enum tw_log_level level);
/* tw_log_level_parse - "debug|info|warn|error" to a level; -1 if unknown */
int tw_log_level_parse(const char *name);
/* tw_log_enabled - whether LEVEL would be printed (to skip costly work) */
int tw_log_enabled(enum tw_log_level level);

__attribute__((format(printf, 2, 3))) void tw_log(enum tw_log_level level,
                                                  const char *fmt, ...);
void tw_logv(enum tw_log_level level, const char *fmt, va_list ap);

#define tw_debug(...) tw_log(TW_LOG_DEBUG, __VA_ARGS__)
#define tw_info(...)  tw_log(TW_LOG_INFO, __VA_ARGS__)
#define tw_warn(...)  tw_log(TW_LOG_WARN, __VA_ARGS__)
#define tw_error(...) tw_log(TW_LOG_ERROR, __VA_ARGS__)

/* tw_fatal - log at error level and exit with EXIT_CODE (sysexits.h) */
__attribute__((format(printf, 2, 3), noreturn)) void
tw_fatal(int exit_code, const char *fmt, ...);

#endif
