/* metrics.h - a Prometheus registry and its text exposition (format 0.0.4).
 *
 * Metrics are registered once at start-up and live until metrics_free(). Each is registered by
 * the module that updates it, in that module's init, and held there in a static pointer: a
 * NULL metric (its module not initialised, as in the subcommands and the tests) ignores every
 * update, so code that counts need not know whether anyone reads. Each has at most one
 * label; a series per label value is created on first use, so callers must only pass label
 * values from a small fixed set (message types, error codes, game names), never user input.
 * Loop thread only: nothing here locks. */
#ifndef MT_METRICS_H
#define MT_METRICS_H

#include <stddef.h>

struct metric;

/* Register a metric. name and help must be static strings; label is a label name or NULL.
 * Histogram bucket bounds are copied; they must rise strictly. Returns NULL only on OOM. */
struct metric *metrics_counter(const char *name, const char *help, const char *label);
struct metric *metrics_gauge(const char *name, const char *help, const char *label);
struct metric *metrics_histogram(const char *name, const char *help, const char *label,
                                 const double *bounds, int nbounds);

/* Update the series for label_value (NULL when the metric has no label). */
void metric_add(struct metric *m, const char *label_value, double delta);
void metric_set(struct metric *m, const char *label_value, double value);
void metric_observe(struct metric *m, const char *label_value, double value);

/* Current value of a counter or gauge series (0 when it does not exist yet). */
double metric_value(struct metric *m, const char *label_value);

/* Renders every metric as Prometheus text. Returns a malloc'd string (caller frees) and its
 * length in *len, or NULL on OOM. */
char *metrics_render(size_t *len);

/* Frees every metric and its series: the pointers the registering calls returned are no longer
 * valid. At shutdown, once nothing observes or renders any more. */
void metrics_free(void);

#endif
