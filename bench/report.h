/*
 * report: the pieces of the generators' reports (mt-loadgen, mt-gamegen) that read the same:
 * numbers that may be NAN, latency histograms in ms, and the WebSocket client's tables of
 * failures (HTTP statuses, connect errnos, close codes), as JSON (jansson) and as text.
 */
#ifndef MT_BENCH_REPORT_H
#define MT_BENCH_REPORT_H

#include <jansson.h>

#include "wsclient.h"
#include "wsproto.h"

/* v as a JSON number; null for NAN, the string "+Inf" for an infinity. */
json_t *rep_jnum(double v);

/* buf holding v with prec decimals; "-" for NAN, ">max bucket" for an infinity. */
const char *rep_fmt(char buf[32], double v, int prec);

/* A µs histogram as an object of ms: samples, p50, p<mid>, p99, max, [min,] mean. */
json_t *rep_hist_json(const struct wsp_hist *h, int mid, int with_min);

/* Prints "LABEL: p50 A, p<mid> B, p99 C, max D, mean E (n=N)" of a µs histogram, in ms. */
void rep_print_hist(const char *label, const struct wsp_hist *h, int mid);

/* {"KEY": count, ...} of an integer-keyed table (HTTP statuses, close codes). */
json_t *rep_ktab_json(const struct ktab *t);

/* {"ECONNREFUSED": count, "errno_N": count, ...} of wsc.connect_errno. */
json_t *rep_errnos_json(void);

/* Prints the "  http statuses:", "  connect errors:" and "  server close codes:" lines of the
 * client's failure tables that are not empty. */
void rep_print_failures(void);

/* Prints o as one compact JSON line (reals with 6 significant digits), flushes stdout and
 * releases o. */
void rep_print_json(json_t *o);

#endif
