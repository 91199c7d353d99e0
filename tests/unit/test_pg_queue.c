/* Unit tests for pg_queue.c: rows queue in order and are journaled; a later row of a queued
 * upsert key is folded into it (not while it is in flight); a batch gathered from further down
 * keeps the orders that matter (a row never passes its games row, an upsert never passes an
 * earlier row of its key, a result never passes a players row); taken rows leave from wherever
 * they lie, and the journal lets go of them. */
#include "pg_journal.h"
#include "pg_queue.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put(const char *table, const char *json)
{
    pg_queue_put(table, json_loads(json, 0, NULL), NULL, NULL);
}

/* The first key column of the n rows of out, joined by ',' (static). */
static const char *keys(struct pg_row **out, int n, int col)
{
    static char text[256];
    text[0] = '\0';
    for (int i = 0; i < n; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s%s", i ? "," : "",
                 pg_row_col(out[i], col));
    return text;
}

static void test_coalesce(void)
{
    put("players", "{\"id\": \"p1\", \"name\": \"ann\", \"rating\": 1200}");
    put("players", "{\"id\": \"p1\", \"rating\": 1216, \"last_seen_at\": 5}");
    is_int(pg_queue_rows(), 1, "a later row of a queued upsert key joins it");
    struct pg_row *r = pg_queue_head();
    ok(strcmp(pg_row_col(r, 2), "ann") == 0 && strcmp(pg_row_col(r, 6), "1216") == 0 &&
           strcmp(pg_row_col(r, 8), "5") == 0,
       "its columns win, the earlier row's others stay");
    r->taken = 1; /* in flight */
    put("players", "{\"id\": \"p1\", \"rating\": 1230}");
    is_int(pg_queue_rows(), 2, "a row in flight is not changed: the next one queues");
    put("game_events", "{\"game_id\": \"g\", \"seq\": 1, \"type\": \"t\", \"payload\": {},"
                       " \"t\": 0}");
    put("game_events", "{\"game_id\": \"g\", \"seq\": 1, \"type\": \"t\", \"payload\": {},"
                       " \"t\": 0}");
    is_int(pg_queue_rows(), 4, "insert-once rows are never folded");
    is_int(pg_queue_last_seq(), 4, "every queued row has its place");
    ok(pg_journal_bytes() > 0, "and is journaled");
    pg_queue_pop(4);
    ok(pg_queue_head() == NULL && pg_queue_rows() == 0, "popped, the queue is empty");
}

static void test_gather_children(void)
{
    struct pg_row *out[500];
    put("game_events",
        "{\"game_id\": \"g1\", \"seq\": 1, \"type\": \"t\", \"payload\": 1, \"t\": 0}");
    put("games", "{\"id\": \"g2\", \"game\": \"x\", \"version\": \"v\", \"status\": \"active\","
                 " \"seed\": 1, \"seats\": 2}");
    put("game_events",
        "{\"game_id\": \"g2\", \"seq\": 1, \"type\": \"t\", \"payload\": 1, \"t\": 0}");
    put("game_events",
        "{\"game_id\": \"g1\", \"seq\": 2, \"type\": \"t\", \"payload\": 1, \"t\": 0}");
    is_int(pg_queue_run(500), 1, "the run at the head is one row (a games row follows)");
    int n = pg_queue_gather(pg_queue_head(), out);
    is_str(keys(out, n, 1), "1,2", "gathered: g1's events, not g2's, which waits for its game");
    ok(out[0]->taken && out[1]->taken, "the gathered rows are taken");
    const struct pg_row *next = pg_queue_first_untaken();
    ok(next && strcmp(next->t->name, "games") == 0, "the games row is the first not taken");
    is_int(pg_queue_gather(next, out), 1, "it gathers alone");
    pg_queue_pop_taken(3);
    ok(pg_queue_rows() == 1 && strcmp(pg_row_col(pg_queue_head(), 0), "g2") == 0 &&
           strcmp(pg_queue_head()->t->name, "game_events") == 0,
       "the taken rows left, wherever they were; g2's event stays");
    pg_queue_pop(1);
}

static void test_gather_keys(void)
{
    struct pg_row *out[500];
    put("game_participants", "{\"game_id\": \"g\", \"seat\": 2, \"name\": \"n\", \"score\": 1}");
    put("game_participants", "{\"game_id\": \"g\", \"seat\": 1, \"name\": \"n\"}");
    struct pg_row *earlier = pg_queue_head()->next;
    earlier->taken = 1; /* so that the next row of its key queues on its own */
    put("game_participants", "{\"game_id\": \"g\", \"seat\": 1, \"name\": \"n\", \"score\": 2}");
    earlier->taken = 0;
    put("game_participants", "{\"game_id\": \"g\", \"seat\": 3, \"name\": \"n\", \"score\": 3}");
    int n = pg_queue_gather(pg_queue_head(), out);
    is_str(keys(out, n, 1), "2,3", "seat 1's row waits behind the earlier row of its key");
    n = pg_queue_gather(pg_queue_first_untaken(), out);
    is_str(keys(out, n, 1), "1", "the earlier row (other columns) goes next, alone");
    n = pg_queue_gather(pg_queue_first_untaken(), out);
    ok(n == 1 && strcmp(pg_row_col(out[0], 5), "2") == 0, "then the later one");
    pg_queue_pop(4);

    put("game_results", "{\"id\": \"r1\", \"players\": [], \"winner\": 0, \"draw\": true}");
    put("players", "{\"id\": \"p1\", \"name\": \"ann\"}");
    put("game_results", "{\"id\": \"r2\", \"players\": [], \"winner\": 0, \"draw\": true}");
    is_int(pg_queue_gather(pg_queue_head(), out), 1, "a result never passes a players row");
    pg_queue_pop(3);

    put("players", "{\"id\": \"p1\", \"name\": \"ann\"}");
    pg_queue_head()->taken = 1;
    put("players", "{\"id\": \"p1\", \"name\": \"bob\"}");
    pg_queue_head()->taken = 0;
    is_int(pg_queue_run(500), 1, "one statement never touches an upsert key twice");
    pg_queue_drop_head("test");
    is_int(pg_queue_rows(), 1, "a dropped row leaves the queue");
    pg_queue_pop(1);
}

/* The rows of a game take the fence held for it (pg_queue_set_fence): at the put, and again
 * when they go out; a released fence lasts until the rows put before have left. */
static void test_fence(void)
{
    struct pg_row *out[500];
    put("game_events", "{\"game_id\": \"g\", \"seq\": 1, \"type\": \"t\", \"payload\": 1,"
                       " \"t\": 0}");
    ok(pg_queue_head()->fence == 0, "a row put before the claim is answered has fence 0");
    pg_queue_set_fence("g", 4);
    put("game_events", "{\"game_id\": \"g\", \"seq\": 2, \"type\": \"t\", \"payload\": 1,"
                       " \"t\": 0}");
    put("game_events", "{\"game_id\": \"h\", \"seq\": 1, \"type\": \"t\", \"payload\": 1,"
                       " \"t\": 0}");
    ok(pg_queue_head()->next->fence == 4 && pg_queue_head()->next->next->fence == 0,
       "a row put after it has the game's fence, another game's row none");
    int n = pg_queue_gather(pg_queue_head(), out);
    ok(n == 3 && strcmp(pg_row_col(out[0], 5), "4") == 0 &&
           strcmp(pg_row_col(out[1], 5), "4") == 0 && strcmp(pg_row_col(out[2], 5), "0") == 0,
       "going out, the earlier row has it too: never a lower fence after a higher one");
    pg_queue_pop_taken(n);

    put("games", "{\"id\": \"g\", \"status\": \"active\"}");
    pg_queue_set_fence("g", 9); /* claimed again (a later owner in this process) */
    put("games", "{\"id\": \"g\", \"status\": \"completed\"}");
    is_int(pg_queue_rows(), 1, "a games row coalesces");
    ok(pg_queue_head()->fence == 9 && strcmp(pg_row_col(pg_queue_head(), 14), "9") == 0,
       "with the higher fence");
    pg_queue_set_fence("g", 0); /* released */
    put("games", "{\"id\": \"g\", \"status\": \"aborted\"}");
    ok(pg_queue_head()->fence == 9, "a row put after the release still has the fence");
    pg_queue_pop(1);
    put("game_events", "{\"game_id\": \"g\", \"seq\": 3, \"type\": \"t\", \"payload\": 1,"
                       " \"t\": 0}");
    ok(pg_queue_head()->fence == 0, "once the rows before the release left, it is forgotten");
    pg_queue_pop(1);

    pg_queue_set_fence("g", 10);
    put("game_events", "{\"game_id\": \"g\", \"seq\": 4, \"type\": \"t\", \"payload\": 1,"
                       " \"t\": 0}");
    put("players", "{\"id\": \"p\", \"name\": \"ann\"}");
    put("game_inputs", "{\"game_id\": \"G\", \"ord\": 1, \"seat\": 1, \"source\": \"x\","
                       " \"t\": 0}");
    is_int(pg_queue_drop_game("g", "stale fence"), 2,
           "a stale fence drops the game's rows (its id in any case)");
    ok(pg_queue_rows() == 1 && strcmp(pg_queue_head()->t->name, "players") == 0, "and only those");
    put("game_events", "{\"game_id\": \"g\", \"seq\": 5, \"type\": \"t\", \"payload\": 1,"
                       " \"t\": 0}");
    is_int(pg_queue_rows(), 1, "the game's later rows are dropped as they are put");
    pg_queue_set_fence("g", 11);
    put("game_events", "{\"game_id\": \"g\", \"seq\": 6, \"type\": \"t\", \"payload\": 1,"
                       " \"t\": 0}");
    is_int(pg_queue_rows(), 2, "until a higher fence is claimed");
    pg_queue_pop(2);
    pg_queue_set_fence("g", 0);
    pg_queue_set_fence("nothing held", 0);
}

int main(void)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/mt-pgq-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    ok(pg_journal_open(dir, 1u << 20, NULL, NULL) == 0, "a journal in a new directory");
    pg_journal_replayed();
    ok(pg_queue_open() == 0, "the queue opens");
    ok(pg_queue_accepting() && pg_queue_below_bound(), "an empty queue has room");
    test_coalesce();
    test_gather_children();
    test_gather_keys();
    test_fence();
    ok(pg_queue_put("nonesuch", json_object(), NULL, NULL) == 0 && pg_queue_rows() == 0,
       "a row of an unknown table is dropped");
    pg_queue_close();
    pg_journal_close();
    rmdir(dir);
    return done_testing();
}
