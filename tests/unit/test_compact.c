/* Unit tests for compact.c: which tables are folded, the keys that group their rows, how rows
 * fold, and when a start-up compaction is due. */
#include "compact.h"
#include "tap.h"

static void kinds(void)
{
    is_int(compact_kind("players"), COMPACT_MERGE, "players rows merge");
    is_int(compact_kind("games"), COMPACT_MERGE, "games rows merge (the abort row is partial)");
    is_int(compact_kind("game_participants"), COMPACT_REPLACE, "a seat's last row replaces");
    is_int(compact_kind("game_events"), COMPACT_KEEP, "events are all kept");
    is_int(compact_kind("game_inputs"), COMPACT_KEEP, "inputs are all kept");
    is_int(compact_kind("script_versions"), COMPACT_FIRST, "a version's first row is kept");
    is_int(compact_kind("agent_behaviors"), COMPACT_FIRST, "an agent behaviour's first row too");
    is_int(compact_kind("later_table"), COMPACT_KEEP, "an unknown table is kept");
}

static void keys(void)
{
    char k[64], k2[64];
    json_t *p = json_pack("{ss}", "id", "abc"), *g = json_pack("{ss}", "id", "abc");
    ok(compact_key("players", p, k, sizeof k) == 0 && compact_key("games", g, k2, sizeof k2) == 0,
       "players and games rows have keys");
    ok(strcmp(k, k2) != 0, "the same id in two tables gives two keys");
    json_t *s1 = json_pack("{ss,si}", "game_id", "1:2", "seat", 0);
    json_t *s2 = json_pack("{ss,si}", "game_id", "2", "seat", 1);
    ok(compact_key("game_participants", s1, k, sizeof k) == 0 &&
           compact_key("game_participants", s2, k2, sizeof k2) == 0 && strcmp(k, k2) != 0,
       "seat 0 of game '1:2' and seat 1 of game '2' differ: %s, %s", k, k2);
    json_t *bad = json_pack("{si}", "seat", 1);
    ok(compact_key("game_participants", bad, k, sizeof k) < 0, "a row without its key has none");
    ok(compact_key("games", bad, k, sizeof k) < 0, "a games row without an id has none");
    ok(compact_key("players", p, k, 3) < 0, "a key that does not fit is refused");
    json_t *a1 = json_pack("{ss,ss}", "name", "ab", "version", "c");
    json_t *a2 = json_pack("{ss,ss}", "name", "a", "version", "bc");
    ok(compact_key("agent_behaviors", a1, k, sizeof k) == 0 &&
           compact_key("agent_behaviors", a2, k2, sizeof k2) == 0 && strcmp(k, k2) != 0,
       "agent (ab, c) and (a, bc) differ: %s, %s", k, k2);
    ok(compact_key("game_events", p, k, sizeof k) < 0, "events have no key here");
    json_decref(a1), json_decref(a2);
    json_decref(p), json_decref(g), json_decref(s1), json_decref(s2), json_decref(bad);
}

static void folds(void)
{
    json_t *game =
        json_pack("{ss,ss,ss,si}", "id", "g", "status", "active", "game", "ttt", "seed", 7);
    json_t *abort =
        json_pack("{ss,ss,s{ss}}", "id", "g", "status", "aborted", "result", "reason", "aborted");
    compact_fold(COMPACT_MERGE, game, abort);
    ok(strcmp(json_string_value(json_object_get(game, "status")), "aborted") == 0 &&
           json_integer_value(json_object_get(game, "seed")) == 7 &&
           json_object_get(game, "result"),
       "merge: the later columns win, the others stay");
    json_t *part = json_pack("{ss,si,ss}", "game_id", "g", "seat", 0, "extra", "x");
    json_t *later = json_pack("{ss,si,si}", "game_id", "g", "seat", 0, "score", 1);
    compact_fold(COMPACT_REPLACE, part, later);
    ok(!json_object_get(part, "extra") && json_integer_value(json_object_get(part, "score")) == 1,
       "replace: the later row as a whole");
    json_decref(game), json_decref(abort), json_decref(part), json_decref(later);
}

static void due(void)
{
    ok(!compact_due(0, 0, 100, 1, 1), "nothing dead: never");
    ok(compact_due(10, 1, 1000, 10, 0), "by count");
    ok(!compact_due(9, 1, 1000, 10, 0), "below the count");
    ok(compact_due(1, 500, 1000, 0, 50), "by share of bytes");
    ok(!compact_due(1, 499, 1000, 0, 50), "below the share");
    ok(!compact_due(1000, 999, 1000, 0, 0), "both off: never");
}

int main(void)
{
    kinds();
    keys();
    folds();
    due();
    return done_testing();
}
