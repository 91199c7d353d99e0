/* report: the shared pieces of the generators' reports (report.h). */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "procstat.h"

json_t *rep_jnum(double v)
{
    return isnan(v) ? json_null() : isinf(v) ? json_string("+Inf") : json_real(v);
}

const char *rep_fmt(char buf[32], double v, int prec)
{
    if (isnan(v)) return "-";
    if (isinf(v)) return ">max bucket";
    snprintf(buf, 32, "%.*f", prec, v);
    return buf;
}

json_t *rep_hist_json(const struct wsp_hist *h, int mid, int with_min)
{
    char k[8];
    snprintf(k, sizeof k, "p%d", mid);
    json_t *o = json_object();
    json_object_set_new(o, "samples", json_integer((json_int_t)h->count));
    json_object_set_new(o, "p50", rep_jnum(wsp_hist_pct(h, 50) / 1000.0));
    json_object_set_new(o, k, rep_jnum(wsp_hist_pct(h, mid) / 1000.0));
    json_object_set_new(o, "p99", rep_jnum(wsp_hist_pct(h, 99) / 1000.0));
    json_object_set_new(o, "max", h->count ? json_real((double)h->max / 1000.0) : json_null());
    if (with_min)
        json_object_set_new(o, "min", h->count ? json_real((double)h->min / 1000.0) : json_null());
    json_object_set_new(o, "mean",
                        h->count ? json_real(h->sum / (double)h->count / 1000.0) : json_null());
    return o;
}

void rep_print_hist(const char *label, const struct wsp_hist *h, int mid)
{
    char a[32], b[32], c[32], d[32], e[32];
    printf("%s: p50 %s, p%d %s, p99 %s, max %s, mean %s (n=%llu)\n", label,
           rep_fmt(a, wsp_hist_pct(h, 50) / 1e3, 3), mid, rep_fmt(b, wsp_hist_pct(h, mid) / 1e3, 3),
           rep_fmt(c, wsp_hist_pct(h, 99) / 1e3, 3),
           rep_fmt(d, h->count ? (double)h->max / 1e3 : NAN, 3),
           rep_fmt(e, h->count ? h->sum / (double)h->count / 1e3 : NAN, 3),
           (unsigned long long)h->count);
}

json_t *rep_ktab_json(const struct ktab *t)
{
    json_t *o = json_object();
    for (unsigned i = 0; i < t->n; i++) {
        char k[16];
        snprintf(k, sizeof k, "%ld", t->e[i].key);
        json_object_set_new(o, k, json_integer((json_int_t)t->e[i].n));
    }
    return o;
}

json_t *rep_errnos_json(void)
{
    const struct ktab *t = &wsc.connect_errno;
    json_t *o = json_object();
    for (unsigned i = 0; i < t->n; i++) {
        const char *n = ps_errname(t->e[i].key);
        char k[24];
        if (!n) {
            snprintf(k, sizeof k, "errno_%ld", t->e[i].key);
            n = k;
        }
        json_object_set_new(o, n, json_integer((json_int_t)t->e[i].n));
    }
    return o;
}

static void print_ktab(const char *label, const struct ktab *t)
{
    if (!t->n) return;
    printf("  %s:", label);
    for (unsigned i = 0; i < t->n; i++)
        printf(" %ld x%llu", t->e[i].key, (unsigned long long)t->e[i].n);
    printf("\n");
}

void rep_print_failures(void)
{
    print_ktab("http statuses", &wsc.http_status);
    const struct ktab *t = &wsc.connect_errno;
    if (t->n) {
        printf("  connect errors:");
        for (unsigned i = 0; i < t->n; i++) {
            const char *n = ps_errname(t->e[i].key);
            if (n)
                printf(" %s x%llu", n, (unsigned long long)t->e[i].n);
            else
                printf(" errno %ld x%llu", t->e[i].key, (unsigned long long)t->e[i].n);
        }
        printf("\n");
    }
    print_ktab("server close codes", &wsc.close_codes);
}

void rep_print_json(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(o);
    fflush(stdout);
}
