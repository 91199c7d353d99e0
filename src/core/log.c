#include "log.h"

#include "json_text.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Read by every thread that logs, changed by a reload (SIGHUP) on the loop thread: atomic, so
 * that a worker never reads it torn. */
static int min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void log_set_level(enum log_level level)
{
    __atomic_store_n(&min_level, (int)level, __ATOMIC_RELAXED);
}

int log_parse_level(const char *name, enum log_level *out)
{
    for (int i = LOG_DEBUG; i <= LOG_OFF; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

int log_enabled(enum log_level level)
{
    return (int)level >= __atomic_load_n(&min_level, __ATOMIC_RELAXED) && level != LOG_OFF;
}

static void format_time(char *buf, size_t len)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

void log_msg(enum log_level level, const char *msg, const char *fmt, ...)
{
    if (!log_enabled(level)) return;

    json_t *line = NULL;
    json_error_t err;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        line = json_vpack_ex(&err, 0, fmt, ap);
        va_end(ap);
    }
    if (!line) line = json_object();
    if (fmt && json_object_size(line) == 0 && strcmp(fmt, "{}") != 0)
        json_object_set_new(line, "log_error", json_string(err.text));

    char ts[40];
    format_time(ts, sizeof ts);
    /* The fixed keys go first so lines read well in a terminal; json_object_set keeps order. */
    json_t *out = json_pack("{ss,ss,ss}", "time", ts, "level", level_names[level], "msg", msg);
    json_object_update(out, line);
    json_decref(line);

    /* json_text writes what json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER) would, faster (a
     * line per game started and ended is worth it), UTF-8 as it is. A buffer of its own: the
     * thread's scratch text may be held by a caller that logs before it has used it. */
    struct json_text line_text = {0};
    int ok = json_text_append(&line_text, out) == 0;
    json_decref(out);
    if (ok) {
        struct iovec iov[2] = {{line_text.data, line_text.len}, {"\n", 1}};
        ssize_t w = writev(STDOUT_FILENO, iov, 2);
        (void)w;
    }
    json_text_free(&line_text);
}
