/* pg_conn.c - the PostgreSQL store's connection (see pg_conn.h). */
#include "pg_conn.h"

#include "log.h"
#include "loop.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_MS 5000
/* A statement unanswered this long once ready (a frozen or unreachable server: TCP keepalives
 * do not see a stopped process) ends the connection, as a lost one would: the reads waiting
 * are answered, the rows go again after the reconnect. Setup is not timed: its migrations may
 * wait on another instance's migration lock. */
#define STATEMENT_TIMEOUT_MS 10000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static struct {
    char *url;
    const struct pg_conn_hooks *hooks;
    PGconn *conn;
    enum pg_conn_state state;
    struct event *io, *timer;
    short want;    /* the events io waits for */
    int attempt;   /* failed connects since the last success, for the backoff */
    int down_told; /* the outage was logged */
    int draining;  /* pg_conn_drive runs */
    char last_error[256];

    int busy; /* a statement is in flight: the fields below describe it */
    pg_query_done cb;
    void *cb_arg;
    PGresult *result;
    uint64_t sent_us;
} c;

static void on_io(evutil_socket_t fd, short what, void *arg);

/* ---- results ---- */

int pg_failed(const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY;
}

const char *pg_error_text(const PGresult *res)
{
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    return primary ? primary : PQresultErrorMessage(res);
}

/* Errors that say nothing about the statement: the connection, the server going down or out
 * of resources, a conflict with another transaction, a read-only server (a standby, during a
 * failover). Sending the statement again on a new connection will do; anything else is the
 * statement's (or a row's) fault. */
static int transient(const PGresult *res)
{
    if (PQstatus(c.conn) == CONNECTION_BAD) return 1;
    const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (!code) return 1; /* made up by libpq: the connection */
    static const char *const prefixes[] = {"08", "40", "53", "57", "58", "25006"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(code, prefixes[i], strlen(prefixes[i])) == 0) return 1;
    return 0;
}

void pg_conn_on_notice(void *arg, const char *message)
{
    log_msg(LOG_DEBUG, "postgres notice", "{ss}", "message", message);
}

/* Keeps msg as lastError, on one line: libpq's messages end with a newline and some add a
 * hint on a second line. */
static void set_error(const char *msg)
{
    char copy[sizeof c.last_error];
    snprintf(copy, sizeof copy, "%s", msg && *msg ? msg : "unknown error");
    size_t n = strlen(copy);
    while (n > 0 && (copy[n - 1] == '\n' || copy[n - 1] == ' '))
        copy[--n] = '\0';
    for (char *p = copy; *p; p++)
        if (*p == '\n' || *p == '\t') *p = ' ';
    memcpy(c.last_error, copy, n + 1);
}

/* ---- the socket ---- */

/* Makes io wait for what on the connection's socket, which changes with each connection and
 * may change while connecting (one address after another, often under the same number: so
 * while connecting it is always registered anew). */
static void watch(short what)
{
    int fd = PQsocket(c.conn);
    if (c.state != PG_CONNECTING && c.want == what && event_get_fd(c.io) == fd &&
        event_pending(c.io, EV_READ | EV_WRITE, NULL))
        return;
    event_del(c.io);
    event_assign(c.io, loop_base(), fd, what | EV_PERSIST, on_io, NULL);
    event_add(c.io, NULL);
    c.want = what;
}

static void teardown(void)
{
    event_del(c.io);
    c.want = 0;
    evtimer_del(c.timer);
    PQclear(c.result);
    c.result = NULL;
    PQfinish(c.conn);
    c.conn = NULL;
    c.state = PG_DOWN;
}

/* A random delay between half and all of 100 ms * 2^attempt, at most 5 s: servers that lost
 * the database together do not come back in step. */
static struct timeval backoff(void)
{
    int ms = BACKOFF_MIN_MS << (c.attempt < 6 ? c.attempt : 6);
    if (ms > BACKOFF_MAX_MS) ms = BACKOFF_MAX_MS;
    c.attempt++;
    uint32_t r = 0;
    util_random_bytes(&r, sizeof r);
    ms = ms / 2 + (int)(r % (uint32_t)(ms / 2 + 1));
    return (struct timeval){ms / 1000, (ms % 1000) * 1000};
}

/* Everything that ends a connection ends here. The rows of a write in flight are still at the
 * head of the queue: they go again after the reconnect. */
static void connection_failed(const char *why)
{
    pg_query_done cb = c.busy ? c.cb : NULL;
    void *arg = c.cb_arg;
    set_error(why);
    c.busy = 0;
    teardown();
    if (!c.down_told) {
        log_msg(LOG_WARN, "database unavailable: writes are queued until it is back", "{ss,sI}",
                "error", c.last_error, "queued", (json_int_t)c.hooks->queued());
        c.down_told = 1;
    } else {
        log_msg(LOG_DEBUG, "database still unavailable", "{ss}", "error", c.last_error);
    }
    struct timeval tv = backoff();
    evtimer_add(c.timer, &tv);
    c.hooks->lost();
    if (cb) cb(NULL, arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    if (c.state == PG_DOWN)
        pg_conn_start();
    else if (c.state == PG_CONNECTING)
        connection_failed("timeout while connecting");
    else if (c.state == PG_READY && c.busy)
        connection_failed("timeout: the database did not answer a statement within 10 s");
}

/* ---- statements ---- */

static void flush_output(void)
{
    int r = PQflush(c.conn);
    if (r < 0)
        connection_failed(PQerrorMessage(c.conn));
    else
        watch(r ? EV_READ | EV_WRITE : EV_READ);
}

static void sent(int ok, pg_query_done cb, void *arg)
{
    c.busy = 1;
    c.cb = cb;
    c.cb_arg = arg;
    c.sent_us = loop_now_us();
    if (c.state == PG_READY) {
        struct timeval tv = {STATEMENT_TIMEOUT_MS / 1000, (STATEMENT_TIMEOUT_MS % 1000) * 1000};
        evtimer_add(c.timer, &tv);
    }
    if (!ok)
        connection_failed(PQerrorMessage(c.conn));
    else
        flush_output();
}

void pg_conn_send_params(const char *sql, int n, const char *const *vals, pg_query_done cb,
                         void *arg)
{
    sent(PQsendQueryParams(c.conn, sql, n, NULL, vals, NULL, NULL, 0), cb, arg);
}

void pg_conn_send_script(const char *sql, pg_query_done cb, void *arg)
{
    sent(PQsendQuery(c.conn, sql), cb, arg);
}

static void finish_statement(void)
{
    PGresult *res = c.result;
    c.result = NULL;
    if (!res || (pg_failed(res) && transient(res))) {
        char why[sizeof c.last_error];
        snprintf(why, sizeof why, "%s", res ? pg_error_text(res) : PQerrorMessage(c.conn));
        PQclear(res);
        connection_failed(why);
        return;
    }
    pg_query_done cb = c.cb;
    c.busy = 0;
    evtimer_del(c.timer);
    cb(res, c.cb_arg);
    PQclear(res);
    c.hooks->idle();
}

/* Keeps the first error of a statement, else its last result. */
static void keep_result(PGresult *r)
{
    if (c.result && pg_failed(c.result)) {
        PQclear(r);
        return;
    }
    PQclear(c.result);
    c.result = r;
}

static void read_input(void)
{
    if (!PQconsumeInput(c.conn)) {
        connection_failed(PQerrorMessage(c.conn));
        return;
    }
    if (!c.busy) {
        /* Idle: a notice, or the server closing the connection (it is shutting down). */
        if (PQstatus(c.conn) == CONNECTION_BAD) connection_failed(PQerrorMessage(c.conn));
        return;
    }
    while (!PQisBusy(c.conn)) {
        PGresult *r = PQgetResult(c.conn);
        if (!r) {
            finish_statement();
            return;
        }
        keep_result(r);
    }
}

void pg_conn_poll(void)
{
    static uint64_t last_us;
    if (c.state != PG_READY || !c.busy || !c.conn) return;
    uint64_t now = loop_now_us();
    if (now - last_us < 200) return;
    last_us = now;
    read_input();
}

/* ---- connecting ---- */

static void connect_step(void)
{
    switch (PQconnectPoll(c.conn)) {
    case PGRES_POLLING_READING:
        watch(EV_READ);
        break;
    case PGRES_POLLING_WRITING:
        watch(EV_WRITE);
        break;
    case PGRES_POLLING_OK:
        evtimer_del(c.timer);
        if (PQsetnonblocking(c.conn, 1) < 0) {
            connection_failed(PQerrorMessage(c.conn));
            return;
        }
        c.state = PG_SETUP;
        watch(EV_READ);
        c.hooks->connected();
        break;
    default:
        connection_failed(PQerrorMessage(c.conn));
        break;
    }
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    if (c.state == PG_CONNECTING) {
        connect_step();
        return;
    }
    if ((what & EV_WRITE) && c.busy) {
        flush_output();
        if (!c.conn) return;
    }
    if (what & EV_READ) read_input();
}

void pg_conn_start(void)
{
    /* The URL comes last so that whatever it says wins over these defaults. */
    static const char *const keys[] = {"application_name",
                                       "client_encoding",
                                       "keepalives_idle",
                                       "keepalives_interval",
                                       "keepalives_count",
                                       "dbname",
                                       NULL};
    const char *vals[] = {"monkeytown", "UTF8", "30", "10", "3", c.url, NULL};
    evtimer_del(c.timer); /* a reconnect that was waiting: this is it */
    c.conn = PQconnectStartParams(keys, vals, 1);
    if (!c.conn || PQstatus(c.conn) == CONNECTION_BAD) {
        connection_failed(c.conn ? PQerrorMessage(c.conn) : "out of memory");
        return;
    }
    PQsetNoticeProcessor(c.conn, pg_conn_on_notice, NULL);
    c.state = PG_CONNECTING;
    struct timeval tv = {CONNECT_TIMEOUT_MS / 1000, 0};
    evtimer_add(c.timer, &tv);
    watch(EV_WRITE); /* libpq: start as if PQconnectPoll had said PGRES_POLLING_WRITING */
}

void pg_conn_ready(void)
{
    c.state = PG_READY;
    c.attempt = 0;
    if (c.down_told)
        log_msg(LOG_INFO, "database available again", "{sI}", "queued",
                (json_int_t)c.hooks->queued());
    else
        log_msg(LOG_INFO, "database connected", NULL);
    c.down_told = 0;
}

void pg_conn_setup_failed(const char *what, const PGresult *res)
{
    char why[sizeof c.last_error];
    snprintf(why, sizeof why, "%s: %s", what, pg_error_text(res));
    if (!c.down_told) log_msg(LOG_ERROR, "database setup failed", "{ss}", "error", why);
    connection_failed(why);
}

void pg_conn_give_up(const char *why)
{
    connection_failed(why);
}

/* ---- life ---- */

int pg_conn_open(const char *url, const struct pg_conn_hooks *hooks)
{
    memset(&c, 0, sizeof c);
    c.hooks = hooks;
    c.url = strdup(url);
    c.io = event_new(loop_base(), -1, 0, on_io, NULL);
    c.timer = evtimer_new(loop_base(), on_timer, NULL);
    return c.url && c.io && c.timer ? 0 : -1;
}

int pg_conn_opened(void)
{
    return c.url != NULL;
}

void pg_conn_close(void)
{
    if (c.conn) PQfinish(c.conn);
    PQclear(c.result);
    if (c.io) event_free(c.io);
    if (c.timer) event_free(c.timer);
    free(c.url);
    memset(&c, 0, sizeof c);
}

void pg_conn_drive(int (*done)(void), int ms)
{
    uint64_t deadline = loop_now_ms() + (uint64_t)ms;
    c.draining = 1;
    c.hooks->idle();
    while (!done() && c.conn) {
        uint64_t now = loop_now_ms();
        if (now >= deadline) break;
        struct pollfd p = {PQsocket(c.conn), 0, 0};
        p.events = (short)((c.want & EV_READ ? POLLIN : 0) | (c.want & EV_WRITE ? POLLOUT : 0));
        int r = poll(&p, 1, (int)(deadline - now));
        if (r < 0 && errno != EINTR) break;
        if (r <= 0) continue;
        short what = (short)((p.revents & (POLLIN | POLLERR | POLLHUP) ? EV_READ : 0) |
                             (p.revents & POLLOUT ? EV_WRITE : 0));
        on_io(p.fd, what ? what : EV_READ, NULL);
    }
    c.draining = 0;
}

/* ---- state ---- */

enum pg_conn_state pg_conn_state(void)
{
    return c.state;
}

int pg_conn_busy(void)
{
    return c.busy;
}

uint64_t pg_conn_sent_us(void)
{
    return c.sent_us;
}

int pg_conn_std_strings(void)
{
    const char *scs = PQparameterStatus(c.conn, "standard_conforming_strings");
    return scs && strcmp(scs, "on") == 0;
}

int pg_conn_draining(void)
{
    return c.draining;
}

const char *pg_conn_last_error(void)
{
    return c.last_error;
}

int pg_conn_down_told(void)
{
    return c.down_told;
}
