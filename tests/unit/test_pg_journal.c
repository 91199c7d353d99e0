/* Unit tests for pg_journal.c: rows not released are handed back at the next open, in order;
 * released segments go; an empty queue leaves no file; the bound. */
#include "pg_journal.h"
#include "tap.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static json_t *got;

static void collect(const char *table, json_t *row, void *arg)
{
    (void)arg;
    json_array_append_new(got, json_pack("{ss,sO}", "t", table, "r", row));
}

static int files(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strncmp(e->d_name, "pg-journal.", 11) == 0;
    if (d) closedir(d);
    return n;
}

static void put(uint64_t seq, int n)
{
    char text[64];
    int len = snprintf(text, sizeof text, "{\"id\":\"g%d\",\"n\":%d}", n, n);
    pg_journal_append(seq, "games", text, (size_t)len);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/mt-pgj-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    got = json_array();

    is_int((int)pg_journal_open(dir, 1u << 20, collect, NULL), 0,
           "a new journal hands back nothing");
    pg_journal_replayed();
    for (int i = 1; i <= 5; i++)
        put((uint64_t)i, i);
    pg_journal_barrier();
    ok(pg_journal_bytes() > 0 && !pg_journal_full(), "five rows journaled, under the bound");
    pg_journal_released(2);
    pg_journal_close(); /* rows 3..5 are not in the database: the journal stays */
    is_int(files(), 1, "a journal with rows still queued stays on disk");

    is_int((int)pg_journal_open(dir, 1u << 20, collect, NULL), 5,
           "the next open hands back the rows");
    ok(json_array_size(got) == 5 && json_integer_value(json_object_get(
                                        json_object_get(json_array_get(got, 4), "r"), "n")) == 5,
       "in the order they were put");
    for (int i = 1; i <= 5; i++) /* the store puts them again */
        put((uint64_t)i, i);
    pg_journal_replayed();
    is_int(files(), 1, "the old segment is gone once they are journaled anew");
    pg_journal_released(5);
    pg_journal_close();
    is_int(files(), 0, "a journal whose rows are all released leaves no file");

    json_array_clear(got);
    pg_journal_open(dir, 4096, collect, NULL);
    pg_journal_replayed();
    for (int i = 1; i <= 200; i++)
        put((uint64_t)i, i);
    ok(pg_journal_full(), "past --spill-max-mb the journal says it is full (%llu bytes)",
       (unsigned long long)pg_journal_bytes());
    pg_journal_released(200);
    pg_journal_close();
    rmdir(dir);
    json_decref(got);
    return done_testing();
}
