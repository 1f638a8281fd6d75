#include "log.h"

#include "s4f.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

volatile int s4f_log_level_current = S4F_LOG_INFO;

static char log_prefix[128] = "s4f";
static _Thread_local char thread_name[64];
static FILE *log_stream;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const level_tags[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};

void s4f_log_init(const char *component, const char *instance, enum s4f_log_level level)
{
    pthread_mutex_lock(&log_lock);
    if (instance && *instance)
        snprintf(log_prefix, sizeof(log_prefix), "%s[%s]", component, instance);
    else
        snprintf(log_prefix, sizeof(log_prefix), "%s", component);
    pthread_mutex_unlock(&log_lock);
    s4f_log_level_current = level;
}

void s4f_log_set_thread_name(const char *name)
{
    snprintf(thread_name, sizeof(thread_name), "%s", name ? name : "");
}

const char *s4f_log_thread_name(void)
{
    return thread_name;
}

int s4f_log_level_parse(const char *name)
{
    for (size_t i = 0; i < S4F_ARRAY_SIZE(level_names); i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return (int)i;
    if (strcasecmp(name, "warning") == 0)
        return S4F_LOG_WARN;
    return -1;
}

const char *s4f_log_level_name(enum s4f_log_level level)
{
    if ((unsigned)level >= S4F_ARRAY_SIZE(level_names))
        return "?";
    return level_names[level];
}

void s4f_log_set_stream(FILE *stream)
{
    pthread_mutex_lock(&log_lock);
    log_stream = stream;
    pthread_mutex_unlock(&log_lock);
}

void s4f_log_vwrite(enum s4f_log_level level, const char *suffix, const char *fmt, va_list ap)
{
    char line[2048], ts[32];
    size_t lvl = (unsigned)level < S4F_ARRAY_SIZE(level_tags) ? (size_t)level : 0;

    s4f_iso8601_ms(s4f_wall_ms(), ts, sizeof(ts));
    pthread_mutex_lock(&log_lock);
    int n = snprintf(line, sizeof(line), "%s %s %s %s%s", ts, level_tags[lvl], log_prefix,
                     thread_name, thread_name[0] ? ": " : "");
    pthread_mutex_unlock(&log_lock);
    if (n < 0 || (size_t)n >= sizeof(line))
        n = 0;
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    size_t len = m < 0 ? (size_t)n : (size_t)n + (size_t)m;
    if (len >= sizeof(line) - 1) {
        /* Truncated: mark it so nobody mistakes a cut line for the whole message. */
        len = sizeof(line) - 5;
        memcpy(line + len, "...", 3);
        len += 3;
    }
    /* Control characters from hostile input (exporter strings, URLs) must not forge log lines. */
    for (size_t i = (size_t)n; i < len; i++)
        if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
            line[i] = '?';
    if (suffix && *suffix) {
        int k = snprintf(line + len, sizeof(line) - len, "%s", suffix);
        if (k > 0)
            len = len + (size_t)k < sizeof(line) - 1 ? len + (size_t)k : sizeof(line) - 2;
    }
    line[len++] = '\n';
    pthread_mutex_lock(&log_lock);
    FILE *out = log_stream ? log_stream : stderr;
    fwrite(line, 1, len, out);
    fflush(out);
    pthread_mutex_unlock(&log_lock);
}

void s4f_log_write(enum s4f_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s4f_log_vwrite(level, NULL, fmt, ap);
    va_end(ap);
}

int s4f_ratelimit_allow(struct s4f_ratelimit *rl, uint64_t *suppressed, int64_t *window_ms)
{
    int64_t now = s4f_mono_ms();
    int ok;

    *suppressed = 0;
    *window_ms = 0;
    pthread_mutex_lock(&log_lock);
    if (rl->window_start == 0 || now - rl->window_start >= rl->interval_ms) {
        /* A new window: report what the previous one swallowed. */
        *suppressed = rl->suppressed;
        *window_ms = rl->window_start ? now - rl->window_start : 0;
        rl->suppressed = 0;
        rl->window_start = now;
        rl->emitted = 0;
    }
    ok = rl->emitted < rl->burst;
    if (ok)
        rl->emitted++;
    else
        rl->suppressed++;
    pthread_mutex_unlock(&log_lock);
    return ok;
}

void s4f_log_rl_write(struct s4f_ratelimit *rl, enum s4f_log_level level, const char *fmt, ...)
{
    uint64_t suppressed;
    int64_t window_ms;
    char suffix[96] = "";
    va_list ap;

    if (!s4f_ratelimit_allow(rl, &suppressed, &window_ms))
        return;
    if (suppressed)
        snprintf(suffix, sizeof(suffix), " (%llu more like this in %lld s)",
                 (unsigned long long)suppressed, (long long)((window_ms + 500) / 1000));
    va_start(ap, fmt);
    s4f_log_vwrite(level, suffix, fmt, ap);
    va_end(ap);
}
