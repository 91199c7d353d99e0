#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric_type { COUNTER, GAUGE, HISTOGRAM };

struct series {
    char *label_value;
    double value;          /* counter or gauge */
    double sum;            /* histogram */
    unsigned long *counts; /* histogram: one per bound plus +Inf, not cumulative */
    struct series *next;
};

struct metric {
    const char *name, *help, *label;
    enum metric_type type;
    double *bounds;
    int nbounds;
    struct series *series;
    struct metric *next;
};

static struct metric *registry_head, *registry_tail;

static struct metric *register_metric(const char *name, const char *help, const char *label,
                                      enum metric_type type)
{
    struct metric *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->name = name;
    m->help = help;
    m->label = label;
    m->type = type;
    if (registry_tail)
        registry_tail->next = m;
    else
        registry_head = m;
    registry_tail = m;
    return m;
}

struct metric *metrics_counter(const char *name, const char *help, const char *label)
{
    return register_metric(name, help, label, COUNTER);
}

struct metric *metrics_gauge(const char *name, const char *help, const char *label)
{
    return register_metric(name, help, label, GAUGE);
}

struct metric *metrics_histogram(const char *name, const char *help, const char *label,
                                 const double *bounds, int nbounds)
{
    struct metric *m = register_metric(name, help, label, HISTOGRAM);
    if (!m) return NULL;
    m->bounds = malloc(sizeof(double) * (size_t)nbounds);
    if (!m->bounds) return NULL;
    memcpy(m->bounds, bounds, sizeof(double) * (size_t)nbounds);
    m->nbounds = nbounds;
    return m;
}

static struct series *find_series(struct metric *m, const char *label_value, int create)
{
    for (struct series *s = m->series; s; s = s->next) {
        if (!label_value || !s->label_value) return s; /* an unlabelled metric has one series */
        if (strcmp(s->label_value, label_value) == 0) return s;
    }
    if (!create) return NULL;
    struct series *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (label_value && !(s->label_value = strdup(label_value))) {
        free(s);
        return NULL;
    }
    if (m->type == HISTOGRAM && !(s->counts = calloc((size_t)m->nbounds + 1, sizeof *s->counts))) {
        free(s->label_value);
        free(s);
        return NULL;
    }
    s->next = m->series;
    m->series = s;
    return s;
}

void metric_add(struct metric *m, const char *label_value, double delta)
{
    struct series *s = m ? find_series(m, label_value, 1) : NULL;
    if (s) s->value += delta;
}

void metric_set(struct metric *m, const char *label_value, double value)
{
    struct series *s = m ? find_series(m, label_value, 1) : NULL;
    if (s) s->value = value;
}

double metric_value(struct metric *m, const char *label_value)
{
    struct series *s = m ? find_series(m, label_value, 0) : NULL;
    return s ? s->value : 0;
}

void metric_observe(struct metric *m, const char *label_value, double value)
{
    struct series *s = m ? find_series(m, label_value, 1) : NULL;
    if (!s) return;
    int i = 0;
    while (i < m->nbounds && value > m->bounds[i])
        i++;
    s->counts[i]++;
    s->sum += value;
}

struct text {
    char *buf;
    size_t len, cap;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
    if (!t->buf) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        char *grown = realloc(t->buf, t->cap * 2 + (size_t)n);
        if (!grown) {
            free(t->buf);
            t->buf = NULL;
            return;
        }
        t->buf = grown;
        t->cap = t->cap * 2 + (size_t)n;
    }
}

static void put_number(struct text *t, double v)
{
    if (isinf(v))
        put(t, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        put(t, "%.0f", v);
    else
        put(t, "%.17g", v);
}

/* Writes {label="value"} (plus an extra le pair for buckets), or nothing for no labels. */
static void put_labels(struct text *t, const struct metric *m, const struct series *s,
                       const char *le)
{
    int has_label = m->label && s->label_value;
    if (!has_label && !le) return;
    put(t, "{");
    if (has_label) put(t, "%s=\"%s\"", m->label, s->label_value);
    if (le) put(t, "%sle=\"%s\"", has_label ? "," : "", le);
    put(t, "}");
}

static void render_histogram(struct text *t, const struct metric *m, const struct series *s)
{
    unsigned long cumulative = 0;
    char le[32];
    for (int i = 0; i <= m->nbounds; i++) {
        cumulative += s->counts[i];
        if (i < m->nbounds)
            snprintf(le, sizeof le, "%g", m->bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        put(t, "%s_bucket", m->name);
        put_labels(t, m, s, le);
        put(t, " %lu\n", cumulative);
    }
    put(t, "%s_sum", m->name);
    put_labels(t, m, s, NULL);
    put(t, " ");
    put_number(t, s->sum);
    put(t, "\n%s_count", m->name);
    put_labels(t, m, s, NULL);
    put(t, " %lu\n", cumulative);
}

char *metrics_render(size_t *len)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    struct text t = {malloc(8192), 0, 8192};
    for (const struct metric *m = registry_head; m; m = m->next) {
        put(&t, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, type_names[m->type]);
        /* An unlabelled counter or gauge always shows a sample, 0 before its first update. */
        if (!m->series && !m->label && m->type != HISTOGRAM) put(&t, "%s 0\n", m->name);
        for (const struct series *s = m->series; s; s = s->next) {
            if (m->type == HISTOGRAM) {
                render_histogram(&t, m, s);
                continue;
            }
            put(&t, "%s", m->name);
            put_labels(&t, m, s, NULL);
            put(&t, " ");
            put_number(&t, s->value);
            put(&t, "\n");
        }
    }
    if (len) *len = t.len;
    return t.buf;
}

void metrics_free(void)
{
    struct metric *m = registry_head;
    while (m) {
        struct metric *next = m->next;
        struct series *s = m->series;
        while (s) {
            struct series *sn = s->next;
            free(s->label_value);
            free(s->counts);
            free(s);
            s = sn;
        }
        free(m->bounds);
        free(m);
        m = next;
    }
    registry_head = registry_tail = NULL;
}
