/* log.h - structured JSON-lines logging on stdout.
 *
 * Every line is one JSON object: {"time": RFC 3339 UTC with ms, "level", "msg", ...fields}.
 * Fields are given as a jansson json_pack() object format and its arguments, so call sites
 * name the ids that matter (conn, player, game) without building JSON by hand:
 *
 *     log_msg(LOG_INFO, "socket opened", "{sI,ss}", "conn", id, "peer", ip);
 *
 * Pass NULL as the format for a line with no fields. Lines below the configured level are
 * dropped before any formatting happens. Safe to call from any thread (one write(2) a line). */
#ifndef MT_LOG_H
#define MT_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* Sets the lowest level that is written. Default LOG_INFO. Any thread (a reload changes it
 * while workers log). */
void log_set_level(enum log_level level);

/* Parses "debug", "info", "warn", "error" or "off". Returns 0, or -1 for anything else. */
int log_parse_level(const char *name, enum log_level *out);

/* Returns 1 when a line at this level would be written. */
int log_enabled(enum log_level level);

/* Writes one line. fmt is a json_pack object format ("{ss,sI}") or NULL. A format error is
 * reported inside the line as "log_error" instead of being lost. */
void log_msg(enum log_level level, const char *msg, const char *fmt, ...);

#endif
