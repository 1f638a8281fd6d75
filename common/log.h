/* Logging: levels, a component/instance prefix on every line, and rate-limited repeats.
 *
 * Every macro is a do { } while (0) statement that checks the level before any argument is
 * formatted, so a disabled debug line costs one comparison. Lines go to stderr (journald adds
 * the timestamp under systemd; we add our own too so that plain log files are readable):
 *
 *   2026-11-27T06:10:57.123Z WARN  collector[main] ipfix: bad set length (1523x in 10 s)
 *
 * A thread that works for one named part of a daemon (a worker thread running an analysis
 * instance) names it once with s4f_log_set_thread_name(); every line it writes then carries
 * that name after the prefix, as fluent-bit's flb_plg_* lines carry their plugin instance:
 *
 *   2026-11-27T06:10:57.123Z INFO  worker[a] host_stats: partition 0: resuming at offset 0
 *
 * s4f_log_rl() limits one call site to a burst of lines per interval and, when the interval ends,
 * the next line carries how many repeats were suppressed, so a flood of malformed datagrams can
 * never flood the log. Thread-safe. */
#ifndef S4F_LOG_H
#define S4F_LOG_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

enum s4f_log_level {
    S4F_LOG_ERROR = 0,
    S4F_LOG_WARN = 1,
    S4F_LOG_INFO = 2,
    S4F_LOG_DEBUG = 3,
};

extern volatile int s4f_log_level_current;

/* Sets the prefix of every line. Strings are copied. instance may be NULL. */
void s4f_log_init(const char *component, const char *instance, enum s4f_log_level level);
/* Names what the calling thread works for: its lines then read "<prefix> <name>: <message>".
 * Thread-local (other threads' lines are unchanged); copied, at most 63 bytes kept. NULL or
 * "" clears it. */
void s4f_log_set_thread_name(const char *name);
/* The calling thread's name ("" when none). */
const char *s4f_log_thread_name(void);
/* Parses "error", "warn", "info", "debug"; returns -1 on anything else. */
int s4f_log_level_parse(const char *name);
const char *s4f_log_level_name(enum s4f_log_level level);
/* Redirects output (tests). NULL restores stderr. The stream is not closed by the logger. */
void s4f_log_set_stream(FILE *stream);

void s4f_log_write(enum s4f_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void s4f_log_vwrite(enum s4f_log_level level, const char *suffix, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* One rate limiter per call site. interval_ms and burst fixed at the site. */
struct s4f_ratelimit {
    int interval_ms;
    int burst;
    int64_t window_start;
    int emitted;
    uint64_t suppressed;
};
#define S4F_RATELIMIT_INIT(interval_ms, burst)                                                     \
    {                                                                                              \
        (interval_ms), (burst), 0, 0, 0                                                            \
    }

/* Returns 1 if a line may be written now; *suppressed receives the count of lines dropped at
 * this site since the last written one (0 if none), and *window_ms the span they cover. */
int s4f_ratelimit_allow(struct s4f_ratelimit *rl, uint64_t *suppressed, int64_t *window_ms);
void s4f_log_rl_write(struct s4f_ratelimit *rl, enum s4f_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define s4f_log(level, ...)                                                                        \
    do {                                                                                           \
        if ((int)(level) <= s4f_log_level_current)                                                 \
            s4f_log_write((level), __VA_ARGS__);                                                   \
    } while (0)

#define s4f_error(...) s4f_log(S4F_LOG_ERROR, __VA_ARGS__)
#define s4f_warn(...)  s4f_log(S4F_LOG_WARN, __VA_ARGS__)
#define s4f_info(...)  s4f_log(S4F_LOG_INFO, __VA_ARGS__)
#define s4f_debug(...) s4f_log(S4F_LOG_DEBUG, __VA_ARGS__)

/* Rate-limited: at most 5 lines per 10 s from this call site, then a summary with the count. */
#define s4f_log_rl(level, ...)                                                                     \
    do {                                                                                           \
        static struct s4f_ratelimit s4f_rl_ = S4F_RATELIMIT_INIT(10000, 5);                        \
        if ((int)(level) <= s4f_log_level_current)                                                 \
            s4f_log_rl_write(&s4f_rl_, (level), __VA_ARGS__);                                      \
    } while (0)

#define s4f_error_rl(...) s4f_log_rl(S4F_LOG_ERROR, __VA_ARGS__)
#define s4f_warn_rl(...)  s4f_log_rl(S4F_LOG_WARN, __VA_ARGS__)

#endif
