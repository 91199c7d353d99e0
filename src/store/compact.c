#include "compact.h"

#include <stdio.h>
#include <string.h>

enum compact_kind compact_kind(const char *table)
{
    if (strcmp(table, "players") == 0 || strcmp(table, "games") == 0) return COMPACT_MERGE;
    /* load_game keeps the last participants row of a seat as a whole (json_object_set) */
    if (strcmp(table, "game_participants") == 0) return COMPACT_REPLACE;
    if (strcmp(table, "script_versions") == 0 || strcmp(table, "agent_behaviors") == 0)
        return COMPACT_FIRST;
    return COMPACT_KEEP;
}

int compact_key(const char *table, json_t *row, char *key, size_t size)
{
    int n = -1;
    if (strcmp(table, "players") == 0 || strcmp(table, "games") == 0 ||
        strcmp(table, "script_versions") == 0) {
        const char *id = json_string_value(json_object_get(row, "id"));
        if (id) n = snprintf(key, size, "%c:%s", table[0], id);
    } else if (strcmp(table, "game_participants") == 0) {
        const char *game = json_string_value(json_object_get(row, "game_id"));
        json_t *seat = json_object_get(row, "seat");
        /* the seat (digits) comes first, so its ':' ends it whatever the game id holds */
        if (game && json_is_integer(seat))
            n = snprintf(key, size, "s:%lld:%s", (long long)json_integer_value(seat), game);
    } else if (strcmp(table, "agent_behaviors") == 0) {
        const char *name = json_string_value(json_object_get(row, "name"));
        const char *version = json_string_value(json_object_get(row, "version"));
        /* the name's length says where it ends, whatever it holds */
        if (name && version) n = snprintf(key, size, "a:%zu:%s%s", strlen(name), name, version);
    }
    return n >= 0 && (size_t)n < size ? 0 : -1;
}

void compact_fold(enum compact_kind kind, json_t *into, json_t *later)
{
    if (kind == COMPACT_REPLACE) json_object_clear(into);
    json_object_update(into, later);
}

int compact_due(long dead_records, long long dead_bytes, long long total_bytes, long min_records,
                int min_percent)
{
    if (dead_records <= 0) return 0;
    if (min_records > 0 && dead_records >= min_records) return 1;
    return min_percent > 0 && total_bytes > 0 &&
           dead_bytes * 100 >= (long long)min_percent * total_bytes;
}
