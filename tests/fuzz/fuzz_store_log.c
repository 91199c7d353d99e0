/* fuzz_store_log.c - the embedded store's reader (src/store/store_log.c) on torn and corrupted
 * log files. One fuzz input is a log file: a flags byte, then the file's bytes.
 *   flags & 1: every line whose ninth byte is a space gets the right CRC in its first eight
 *              (so that mutations reach the JSON and the record logic, not only the CRC check);
 *   flags & 2: a valid record longer than the reader's 64 KiB first read is added at the end.
 *
 * The model, written here from store_log.c's header comment: a record is one line
 * "<crc32 of the text, 8 hex digits> <text>\n" whose text is an object {"t": table, "r": row}
 * with a string table and an object row. The reader must
 *   - deliver the row of every valid record to the loaders, in file order, and nothing else
 *     (a bad line in the middle is skipped, never used to drop what follows);
 *   - answer store_load_game for every game of the file with the game the valid records make;
 *   - when opened for writing: cut the file after its last valid record (a torn tail), keep
 *     everything before it byte for byte, append nothing, and name each game whose last status
 *     was waiting or active, once, to the "unfinished_games" loader (the server rebuilds them);
 *   - then, opened again, deliver all that again and change nothing more.
 * A crash, a sanitizer report or a hang (libFuzzer's -timeout) is a failure too. */
#include "fuzz.h"
#include "log.h"
#include "loop.h"
#include "store.h"

#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char dir[256], file[300];
static struct config cfg;
static json_t *delivered; /* [table, row] pairs, in the order the loaders got them */

static void cleanup(void)
{
    fuzz_rmtree(dir);
}

static const char *const tables[] = {"players",    "script_versions",   "agent_behaviors",
                                     "games",      "game_participants", "game_events",
                                     "game_inputs"};
#define N_TABLES (int)(sizeof tables / sizeof tables[0])

#define LOADER(n)                                                                                  \
    static void load##n(json_t *row)                                                               \
    {                                                                                              \
        json_array_append_new(delivered, json_pack("[sO]", tables[n], row));                       \
    }
LOADER(0)
LOADER(1)
LOADER(2)
LOADER(3)
LOADER(4)
LOADER(5)
LOADER(6)
static void (*const loaders[N_TABLES])(json_t *) = {load0, load1, load2, load3,
                                                    load4, load5, load6};

static json_t *named; /* id -> count of "unfinished_games" rows, per open */

static void load_unfinished(json_t *row)
{
    const char *id = json_string_value(json_object_get(row, "id"));
    if (!id) id = "(no id)";
    json_object_set_new(named, id,
                        json_integer(json_integer_value(json_object_get(named, id)) + 1));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/mt-fuzz-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) abort();
    atexit(cleanup);
    snprintf(file, sizeof file, "%s/monkeytown.log", dir);
    cfg.data_dir = dir;
    log_set_level(LOG_OFF);
    if (loop_init() < 0) abort(); /* the writer's wake-up event needs the base */
    for (int i = 0; i < N_TABLES; i++)
        store_on_load(tables[i], loaders[i]);
    store_on_load("unfinished_games", load_unfinished);
    return 0;
}

/* ---- the model ---- */

struct model {
    json_t *records;  /* [table, row] of every valid record, in order */
    size_t good_end;  /* the end of the last valid record */
    json_t *games;    /* game id -> [table, row] of its records (index_row's key) */
    json_t *versions; /* script version id -> its first row */
    json_t *status;   /* game id -> its last status */
};

static json_t *model_record(const char *line, size_t len)
{
    if (len < 10 || line[8] != ' ') return NULL;
    char hex[9];
    memcpy(hex, line, 8);
    hex[8] = '\0';
    char *end;
    unsigned long want = strtoul(hex, &end, 16); /* as the reader (see docs/fuzzing.md) */
    if (*end || crc32(0, (const Bytef *)line + 9, (uInt)(len - 9)) != want) return NULL;
    json_t *rec = json_loadb(line + 9, len - 9, 0, NULL);
    if (!json_is_string(json_object_get(rec, "t")) || !json_is_object(json_object_get(rec, "r"))) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

static void model_read(struct model *m, const char *data, size_t size)
{
    m->records = json_array();
    m->games = json_object();
    m->versions = json_object();
    m->status = json_object();
    m->good_end = 0;
    for (size_t at = 0; at < size;) {
        const char *nl = memchr(data + at, '\n', size - at);
        if (!nl) break;
        size_t len = (size_t)(nl - (data + at));
        json_t *rec = model_record(data + at, len);
        at += len + 1;
        if (!rec) continue;
        m->good_end = at;
        const char *t = json_string_value(json_object_get(rec, "t"));
        json_t *row = json_object_get(rec, "r");
        json_t *pair = json_pack("[sO]", t, row);
        json_array_append(m->records, pair);
        const char *game =
            json_string_value(json_object_get(row, strcmp(t, "games") == 0 ? "id" : "game_id"));
        if (game) {
            if (!json_object_get(m->games, game)) json_object_set_new(m->games, game, json_array());
            json_array_append(json_object_get(m->games, game), pair);
        }
        const char *vid = json_string_value(json_object_get(row, "id"));
        if (strcmp(t, "script_versions") == 0 && vid && !json_object_get(m->versions, vid))
            json_object_set(m->versions, vid, row);
        const char *st = json_string_value(json_object_get(row, "status"));
        if (strcmp(t, "games") == 0 && vid && st)
            json_object_set_new(m->status, vid, json_string(st));
        json_decref(pair);
        json_decref(rec);
    }
}

static void model_free(struct model *m)
{
    json_decref(m->records);
    json_decref(m->games);
    json_decref(m->versions);
    json_decref(m->status);
}

/* What store_load_game must give for id: store.h's shape, assembled from the records. */
static json_t *model_game(const struct model *m, const char *id)
{
    json_t *recs = json_object_get(m->games, id), *game = NULL, *parts = json_object(),
           *events = json_array(), *inputs = json_array(), *pair;
    size_t i;
    json_array_foreach(recs, i, pair)
    {
        const char *t = json_string_value(json_array_get(pair, 0));
        json_t *row = json_array_get(pair, 1);
        if (strcmp(t, "games") == 0) {
            if (!game)
                game = json_deep_copy(row);
            else
                json_object_update(game, row);
        } else if (strcmp(t, "game_participants") == 0) {
            char seat[32];
            snprintf(seat, sizeof seat, "%lld",
                     (long long)json_integer_value(json_object_get(row, "seat")));
            json_object_set(parts, seat, row);
        } else if (strcmp(t, "game_events") == 0) {
            json_array_append(events, row);
        } else if (strcmp(t, "game_inputs") == 0) {
            json_array_append(inputs, row);
        }
    }
    if (game) {
        json_t *list = json_array(), *v;
        const char *k;
        json_object_foreach(parts, k, v) json_array_append(list, v);
        json_object_set_new(game, "participants", list);
        json_object_set(game, "events", events);
        json_object_set(game, "inputs", inputs);
        const char *version = json_string_value(json_object_get(game, "version"));
        json_t *sv = version ? json_object_get(m->versions, version) : NULL;
        if (sv) json_object_set(game, "script_version", sv);
    }
    json_decref(parts);
    json_decref(events);
    json_decref(inputs);
    return game;
}

/* ---- running the store ---- */

static json_t *loaded_game;

static void on_game(json_t *game, void *arg)
{
    loaded_game = game ? json_deep_copy(game) : NULL;
}

static char *slurp(size_t *len)
{
    int fd = open(file, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) abort();
    char *buf = malloc((size_t)st.st_size + 1);
    if (read(fd, buf, (size_t)st.st_size) != st.st_size) abort();
    close(fd);
    *len = (size_t)st.st_size;
    return buf;
}

static void write_file(const char *data, size_t size)
{
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd) < 0) abort();
}

/* Opens the store (read-only or not), checks what it delivered and every game it answers for,
 * and closes it. */
static void open_and_check(const struct model *m, int ro, const char *when)
{
    delivered = json_array();
    json_decref(named);
    named = json_object();
    store_set_readonly(ro);
    CHECK(store_log_backend.open(&cfg) == 0, "%s: the store does not open", when);
    json_t *want = json_array(), *pair;
    size_t i;
    json_array_foreach(m->records, i, pair)
    {
        for (int t = 0; t < N_TABLES; t++)
            if (strcmp(json_string_value(json_array_get(pair, 0)), tables[t]) == 0)
                json_array_append(want, pair);
    }
    CHECK(json_equal(want, delivered), "%s: delivered %zu rows, the valid records are %zu", when,
          json_array_size(delivered), json_array_size(want));
    json_decref(want);
    json_decref(delivered);
    if (ro) {
        const char *id;
        json_t *recs;
        json_object_foreach(m->games, id, recs)
        {
            json_t *g = model_game(m, id);
            loaded_game = NULL;
            store_log_backend.load_game(id, on_game, NULL);
            CHECK(g ? loaded_game && json_equal(g, loaded_game) : !loaded_game,
                  "%s: game %s loads %s", when, id, loaded_game ? "differently" : "as missing");
            json_decref(g);
            json_decref(loaded_game);
        }
    }
    store_log_backend.close();
}

static int unfinished(const struct model *m, const char *id)
{
    const char *st = json_string_value(json_object_get(m->status, id));
    return st && (strcmp(st, "waiting") == 0 || strcmp(st, "active") == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int flags = data[0];
    size_t len = size - 1, cap = len + 80000;
    char *text = malloc(cap);
    memcpy(text, data + 1, len);
    if (flags & 1) /* the right CRC for every line that has the shape of a record */
        for (size_t at = 0; at < len;) {
            char *nl = memchr(text + at, '\n', len - at);
            size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
            if (nl && n >= 10 && text[at + 8] == ' ') {
                char hex[9];
                snprintf(hex, sizeof hex, "%08lx",
                         crc32(0, (const Bytef *)text + at + 9, (uInt)(n - 9)));
                memcpy(text + at, hex, 8);
            }
            at += n + 1;
        }
    if (flags & 2) { /* one record longer than the reader's first 64 KiB read */
        char *rec = text + len + 9;
        int n =
            sprintf(rec, "{\"t\":\"games\",\"r\":{\"id\":\"big\",\"status\":\"ended\",\"pad\":\"");
        memset(rec + n, 'p', 70000);
        n += 70000;
        n += sprintf(rec + n, "\"}}");
        char hex[10];
        snprintf(hex, sizeof hex, "%08lx ", crc32(0, (const Bytef *)rec, (uInt)n));
        memcpy(text + len, hex, 9);
        len += 9 + (size_t)n;
        text[len++] = '\n';
    }
    write_file(text, len);

    struct model m;
    model_read(&m, text, len);
    open_and_check(&m, 1, "read-only");

    /* Opened for writing: the torn tail goes, nothing is appended, each unfinished game is
     * named once. */
    open_and_check(&m, 0, "first open");
    size_t got_len;
    char *got = slurp(&got_len);
    CHECK(got_len == m.good_end && memcmp(got, text, m.good_end) == 0,
          "the valid prefix (%zu bytes) was not kept as it was (%zu bytes now)", m.good_end,
          got_len);
    size_t open_games = 0;
    const char *id;
    json_t *v;
    json_object_foreach(m.status, id, v)
    {
        if (!unfinished(&m, id)) continue;
        open_games++;
        CHECK(json_integer_value(json_object_get(named, id)) == 1, "game %s named %lld times", id,
              (long long)json_integer_value(json_object_get(named, id)));
    }
    CHECK(json_object_size(named) == open_games, "%zu games named, %zu unfinished",
          json_object_size(named), open_games);

    /* Opened again: everything is there, nothing is cut, nothing more is appended. */
    struct model again;
    model_read(&again, got, got_len);
    CHECK(again.good_end == got_len, "the file the store left has a bad tail");
    open_and_check(&again, 1, "reopened read-only");
    open_and_check(&again, 0, "second open");
    size_t final_len;
    char *final = slurp(&final_len);
    CHECK(final_len == got_len && memcmp(final, got, got_len) == 0,
          "the second open changed the file (%zu bytes, was %zu)", final_len, got_len);
    free(final);
    model_free(&again);
    free(got);
    model_free(&m);
    free(text);
    return 0;
}
