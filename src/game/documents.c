/* documents.c - per-player documents (see documents.h). */
#include "documents.h"

#include "hmap.h"
#include "log.h"
#include "loop.h"
#include "store.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct doc_version {
    int version;
    char author[8];
    char author_id[UUID_LEN + 1]; /* "" for the rules */
    char game_id[UUID_LEN + 1];   /* "" when not known */
    char *note;
    char *doc; /* JSON text */
    double created_at;
};

/* The kept versions of one (player, game), oldest first; last is the highest version ever
 * saved, also when it was pruned since, so numbers are never reused. */
struct doc_list {
    struct doc_version *v;
    size_t n, cap;
    int last;
};

static struct hmap *lists;

static void key_of(char *out, size_t len, const char *player_id, const char *game)
{
    snprintf(out, len, "%s\n%s", player_id, game);
}

static struct doc_list *list_of(const char *player_id, const char *game, int create)
{
    if (!lists || !player_id || !game) return NULL;
    char key[200];
    key_of(key, sizeof key, player_id, game);
    struct doc_list *l = hmap_get(lists, key);
    if (l || !create) return l;
    l = calloc(1, sizeof *l);
    if (l && hmap_put(lists, key, l) < 0) {
        free(l);
        return NULL;
    }
    return l;
}

static void version_free(struct doc_version *d)
{
    free(d->note);
    free(d->doc);
}

/* Forgets the oldest versions past DOCUMENT_VERSIONS_KEPT. */
static void prune(struct doc_list *l)
{
    if (l->n <= DOCUMENT_VERSIONS_KEPT) return;
    size_t drop = l->n - DOCUMENT_VERSIONS_KEPT;
    for (size_t i = 0; i < drop; i++)
        version_free(&l->v[i]);
    memmove(l->v, l->v + drop, (l->n - drop) * sizeof *l->v);
    l->n -= drop;
}

/* Inserts d (taken) in version order; a version already kept is left as it is (the journal
 * and PostgreSQL may both hand back a row). Returns 0, or -1 (d freed). */
static int insert(struct doc_list *l, struct doc_version *d)
{
    size_t at = l->n;
    while (at > 0 && l->v[at - 1].version >= d->version)
        at--;
    if ((at < l->n && l->v[at].version == d->version) ||
        (l->n >= DOCUMENT_VERSIONS_KEPT && at == 0)) {
        version_free(d);
        if (d->version > l->last) l->last = d->version;
        return -1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        struct doc_version *p = realloc(l->v, cap * sizeof *p);
        if (!p) {
            version_free(d);
            return -1;
        }
        l->v = p;
        l->cap = cap;
    }
    memmove(l->v + at + 1, l->v + at, (l->n - at) * sizeof *l->v);
    l->v[at] = *d;
    l->n++;
    if (d->version > l->last) l->last = d->version;
    prune(l);
    return 0;
}

static void copy_str(char *out, size_t len, const char *s)
{
    snprintf(out, len, "%s", s ? s : "");
}

/* A row of player_documents from the store at start-up. */
static void load_row(json_t *row)
{
    const char *pid = json_string_value(json_object_get(row, "player_id"));
    const char *game = json_string_value(json_object_get(row, "game"));
    json_t *doc = json_object_get(row, "doc");
    int version = (int)json_integer_value(json_object_get(row, "version"));
    struct doc_list *l = list_of(pid, game, 1);
    if (!l || version < 1 || !json_is_object(doc)) return;
    struct doc_version d = {.version = version,
                            .created_at = json_number_value(json_object_get(row, "created_at"))};
    copy_str(d.author, sizeof d.author, json_string_value(json_object_get(row, "author")));
    copy_str(d.author_id, sizeof d.author_id, json_string_value(json_object_get(row, "author_id")));
    copy_str(d.game_id, sizeof d.game_id, json_string_value(json_object_get(row, "game_id")));
    d.note = strdup(json_string_value(json_object_get(row, "note")) ?: "");
    d.doc = json_dumps(doc, JSON_COMPACT);
    if (!d.note || !d.doc) {
        version_free(&d);
        return;
    }
    insert(l, &d);
}

int documents_preinit(void)
{
    lists = hmap_new();
    if (!lists) return -1;
    store_on_load("player_documents", load_row);
    return 0;
}

static void free_list(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    struct doc_list *l = value;
    for (size_t i = 0; i < l->n; i++)
        version_free(&l->v[i]);
    free(l->v);
    free(l);
}

void documents_shutdown(void)
{
    if (!lists) return;
    hmap_each(lists, free_list, NULL);
    hmap_free(lists);
    lists = NULL;
}

int documents_latest(const char *player_id, const char *game, const char **doc)
{
    struct doc_list *l = list_of(player_id, game, 0);
    *doc = NULL;
    if (!l || l->n == 0) return 0;
    *doc = l->v[l->n - 1].doc;
    return l->v[l->n - 1].version;
}

static struct doc_version *find(const char *player_id, const char *game, int version)
{
    struct doc_list *l = list_of(player_id, game, 0);
    for (size_t i = 0; l && i < l->n; i++)
        if (l->v[i].version == version) return &l->v[i];
    return NULL;
}

const char *documents_get(const char *player_id, const char *game, int version)
{
    struct doc_version *d = find(player_id, game, version);
    return d ? d->doc : NULL;
}

const char *documents_saved_by_game(const char *player_id, const char *game, const char *game_id,
                                    int k)
{
    struct doc_list *l = list_of(player_id, game, 0);
    for (size_t i = 0; l && i < l->n; i++)
        if (strcmp(l->v[i].game_id, game_id) == 0 && k-- == 0) return l->v[i].doc;
    return NULL;
}

char *documents_start_json(const char *game, int nseats, const char *const *players,
                           const int *versions, int *missing)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    *missing = 0;
    if (!f) return NULL;
    fputc('{', f);
    for (int seat = 1, first = 1; seat <= nseats; seat++) {
        if (!players[seat]) continue;
        const char *doc = versions[seat] ? documents_get(players[seat], game, versions[seat]) : "";
        if (!doc) {
            *missing = seat;
            break;
        }
        fprintf(f, "%s\"%d\":{%s%s}", first ? "" : ",", seat, *doc ? "\"doc\":" : "", doc);
        first = 0;
    }
    fputc('}', f);
    int bad = ferror(f);
    fclose(f);
    if (bad || *missing) {
        free(text);
        return NULL;
    }
    return text;
}

int documents_save(const char *player_id, const char *game, const char *doc, size_t len,
                   const char *note, const char *author, const char *author_id, const char *game_id)
{
    json_t *parsed = len <= DOCUMENT_MAX_BYTES ? json_loadb(doc, len, 0, NULL) : NULL;
    struct doc_list *l = list_of(player_id, game, 1);
    if (!json_is_object(parsed) || !l || strlen(note ? note : "") > DOCUMENT_NOTE_MAX) {
        log_msg(LOG_ERROR, "document not saved", "{ss,ss,ss,sI}", "player", player_id ?: "",
                "script", game ?: "", "game", game_id ?: "", "bytes", (json_int_t)len);
        json_decref(parsed);
        return -1;
    }
    struct doc_version d = {.version = l->last + 1, .created_at = loop_wall_ms()};
    copy_str(d.author, sizeof d.author, author);
    copy_str(d.author_id, sizeof d.author_id, author_id);
    copy_str(d.game_id, sizeof d.game_id, game_id);
    d.note = strdup(note ? note : "");
    d.doc = json_dumps(parsed, JSON_COMPACT);
    if (!d.note || !d.doc || insert(l, &d) < 0) {
        json_decref(parsed);
        return -1;
    }
    json_t *row =
        json_pack("{ss,ss,si,ss,ss,sf}", "player_id", player_id, "game", game, "version", d.version,
                  "author", d.author, "note", note ? note : "", "created_at", d.created_at);
    json_object_set_new(row, "author_id",
                        author_id && *author_id ? json_string(author_id) : json_null());
    json_object_set_new(row, "game_id", game_id && *game_id ? json_string(game_id) : json_null());
    json_object_set_new(row, "doc", parsed);
    store_put("player_documents", row);
    return d.version;
}

static json_t *version_json(const struct doc_version *d)
{
    json_t *o = json_pack("{si,ss,ss,sf}", "version", d->version, "author", d->author, "note",
                          d->note, "createdAt", d->created_at);
    json_object_set_new(o, "authorId", *d->author_id ? json_string(d->author_id) : json_null());
    json_object_set_new(o, "gameId", *d->game_id ? json_string(d->game_id) : json_null());
    return o;
}

json_t *documents_list_json(const char *player_id, const char *game)
{
    json_t *out = json_array();
    struct doc_list *l = list_of(player_id, game, 0);
    for (size_t i = l ? l->n : 0; i > 0; i--)
        json_array_append_new(out, version_json(&l->v[i - 1]));
    return out;
}

json_t *documents_version_json(const char *player_id, const char *game, int version)
{
    struct doc_version *d = find(player_id, game, version);
    if (!d) return NULL;
    json_t *o = version_json(d);
    json_object_set_new(o, "doc", json_loads(d->doc, 0, NULL));
    return o;
}
