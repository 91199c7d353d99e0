/* Unit tests for metrics.c: exposition format, histogram buckets, labels. */
#include "metrics.h"
#include "tap.h"

#include <stdlib.h>

int main(void)
{
    static const double bounds[] = {1, 5, 10};
    struct metric *c = metrics_counter("requests_total", "Requests", "code");
    struct metric *g = metrics_gauge("open", "Open things", NULL);
    struct metric *h = metrics_histogram("latency_ms", "Latency", NULL, bounds, 3);
    ok(c && g && h, "registered");

    metric_add(c, "200", 1);
    metric_add(c, "200", 2);
    metric_add(c, "404", 1);
    metric_set(g, NULL, 7);
    metric_observe(h, NULL, 0.5);
    metric_observe(h, NULL, 5);
    metric_observe(h, NULL, 7);
    metric_observe(h, NULL, 100);
    is_int((long)metric_value(c, "200"), 3, "counter adds");
    is_int((long)metric_value(g, NULL), 7, "gauge sets");

    size_t len;
    char *text = metrics_render(&len);
    ok(text && strlen(text) == len, "rendered");
    ok(strstr(text, "# HELP requests_total Requests\n# TYPE requests_total counter\n") != NULL,
       "HELP and TYPE lines");
    ok(strstr(text, "requests_total{code=\"200\"} 3\n") != NULL, "labelled sample");
    ok(strstr(text, "open 7\n") != NULL, "gauge sample");
    ok(strstr(text, "latency_ms_bucket{le=\"1\"} 1\n") != NULL, "bucket le=1");
    ok(strstr(text, "latency_ms_bucket{le=\"5\"} 2\n") != NULL, "bucket bounds are inclusive");
    ok(strstr(text, "latency_ms_bucket{le=\"10\"} 3\n") != NULL, "buckets are cumulative");
    ok(strstr(text, "latency_ms_bucket{le=\"+Inf\"} 4\n") != NULL, "+Inf bucket");
    ok(strstr(text, "latency_ms_count 4\n") != NULL, "count");
    ok(strstr(text, "latency_ms_sum 112.5\n") != NULL, "sum");
    free(text);
    metrics_free();
    return done_testing();
}
