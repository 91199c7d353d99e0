/* pg_conn.h - the PostgreSQL store's one connection: libpq in non-blocking mode on the loop
 * (connect, backoff, send, read), one statement in flight at a time.
 *
 *   DOWN -> CONNECTING (PQconnectPoll on libevent) -> SETUP (hooks.connected) -> READY
 *
 * Every way a connection ends (a libpq error, a transient SQLSTATE, the server closing it, a
 * setup step failing) tears it down, logs the outage once, schedules a reconnect (backing off
 * from 100 ms to 5 s, each delay drawn between half and all of its value), calls hooks.lost and
 * then the statement in flight's callback with NULL. The owner (store_pg.c) drives SETUP and
 * declares the connection READY.
 *
 * Results handed to callbacks are borrowed (freed when the callback returns). Loop thread
 * only, except pg_conn_drive, which runs the same I/O with poll(2) for open and close. */
#ifndef MT_PG_CONN_H
#define MT_PG_CONN_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

enum pg_conn_state { PG_DOWN, PG_CONNECTING, PG_SETUP, PG_READY };

/* Called once per statement: res is its result (the first error, else the last result), or
 * NULL when the connection was lost before it completed (or a transient error ended it). */
typedef void (*pg_query_done)(PGresult *res, void *arg);

struct pg_conn_hooks {
    void (*connected)(void); /* SETUP began: the owner's setup statements go now */
    void (*idle)(void);      /* a statement finished and its callback ran: send the next */
    void (*lost)(void);      /* torn down: the session (prepared statements) is gone */
    size_t (*queued)(void);  /* rows waiting, for the outage's log lines */
};

/* Keeps url (copied) and hooks (borrowed, static) and makes the events; connects nothing yet.
 * Returns 0, or -1 on OOM. */
int pg_conn_open(const char *url, const struct pg_conn_hooks *hooks);

/* Whether pg_conn_open ran and pg_conn_close did not since. */
int pg_conn_opened(void);

/* Starts connecting (a connection attempt at once, also from DOWN while a reconnect waits). */
void pg_conn_start(void);

/* Closes the connection (no reconnect) and frees what pg_conn_open made. The statement in
 * flight's callback is not called. */
void pg_conn_close(void);

/* Where the connection stands: down (waiting to reconnect), connecting, running the owner's
 * setup, or ready for statements. */
enum pg_conn_state pg_conn_state(void);

/* A statement is in flight. */
int pg_conn_busy(void);

/* SETUP is done: READY, the backoff reset, the return logged. */
void pg_conn_ready(void);

/* A setup step failed for a reason that retrying at once will not cure (a broken migration, a
 * missing permission): logged (once per outage), and the connection is given up like a lost
 * one, so the server keeps queueing and tries again with the backoff. */
void pg_conn_setup_failed(const char *what, const PGresult *res);

/* Gives the connection up as lost, for why (kept as lastError): a step of the owner's cannot
 * go on (out of memory). Only while no statement is in flight. */
void pg_conn_give_up(const char *why);

/* Sends one statement with n text parameters (vals: borrowed, copied by libpq). Every path
 * ends in one call of cb. Only when the connection is up and idle. */
void pg_conn_send_params(const char *sql, int n, const char *const *vals, pg_query_done cb,
                         void *arg);

/* Sends SQL that may hold several statements (a migration, a combined round), which
 * PostgreSQL runs as one implicit transaction. As pg_conn_send_params. */
void pg_conn_send_script(const char *sql, pg_query_done cb, void *arg);

/* When the statement in flight was sent (loop_now_us). */
uint64_t pg_conn_sent_us(void);

/* Whether the server writes string literals as standard SQL (standard_conforming_strings). */
int pg_conn_std_strings(void);

/* store_poll: with a statement in flight, reads its reply if it has come (at most every
 * 200 us: one recv() that finds nothing otherwise). */
void pg_conn_poll(void);

/* Runs the connection's I/O with poll(2) instead of the loop until done() or ms have passed,
 * or the connection is gone. Only for open and close, where blocking is allowed. */
void pg_conn_drive(int (*done)(void), int ms);

/* pg_conn_drive runs: the writer sends without waiting for more rows. */
int pg_conn_draining(void);

/* The last error, on one line ("" before any). */
const char *pg_conn_last_error(void);

/* The current outage was logged (the database has been down since). */
int pg_conn_down_told(void);

/* For any connection's results: whether res failed, and its one-line reason (without "ERROR:"
 * and the context lines; borrowed from res). */
int pg_failed(const PGresult *res);
const char *pg_error_text(const PGresult *res);

/* libpq's notice processor for the store's connections: notices go to the debug log. */
void pg_conn_on_notice(void *arg, const char *message);

#endif
