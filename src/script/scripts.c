#include "scripts.h"

#include "hmap.h"
#include "log.h"
#include "lua_compile.h"
#include "loop.h"
#include "vm.h"
#include "metrics.h"
#include "store.h"
#include "trusted.h"
#include "util.h"
#include "workers.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <lauxlib.h>
#include <lualib.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILES 64
#define MAX_FILE_BYTES (1024 * 1024)

struct entry {
    char name[64];
    int is_agent;
    struct script_version *current;
    char pending_id[17]; /* a validation in flight for this content */
    char refused_id[17];
    json_t *refusal; /* {version, file, line, message, at} of the last refusal, or NULL */
};

static const struct config *cfg;
static struct hmap *games, *agents;
static int started; /* initial scan done: later agent versions are "evolutions" */
static void (*evolved_cb)(const struct script_version *v);
static int inotify_fd = -1;
static struct event *inotify_ev, *debounce_ev;
static struct metric *m_reloads;

/* ---- versions ---- */

void script_version_ref(struct script_version *v)
{
    __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
}

static void version_free(struct script_version *v)
{
    for (int i = 0; i < v->nfiles; i++) {
        free(v->files[i].path);
        free(v->files[i].text);
        free(v->files[i].bc);
    }
    free(v->files);
    json_decref(v->meta);
    free(v);
}

void script_version_unref(struct script_version *v)
{
    if (v && __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0) version_free(v);
}

void script_version_store(struct script_version *v)
{
    if (v->stored) return;
    json_t *files = json_object();
    for (int i = 0; i < v->nfiles; i++)
        json_object_set_new(files, v->files[i].path,
                            json_stringn(v->files[i].text, v->files[i].len));
    json_t *row = json_pack("{ss,ss,ss,so,sf}", "id", v->id, "kind", v->is_agent ? "agent" : "game",
                            "name", v->name, "files", files, "created_at", loop_wall_ms());
    json_object_set_new(row, "commit", *v->commit ? json_string(v->commit) : json_null());
    store_put("script_versions", row);
    v->stored = 1;
}

void script_version_push_files(lua_State *L, const struct script_version *v)
{
    lua_createtable(L, 0, v->nfiles + 1);
    lua_createtable(L, 0, v->nfiles);
    for (int i = 0; i < v->nfiles; i++) {
        /* A compiled file's text is never read (sandbox.load_text runs the bytecode): an
         * empty string marks it present without copying it into every room's state. */
        if (v->files[i].bc)
            lua_pushliteral(L, "");
        else
            lua_pushlstring(L, v->files[i].text, v->files[i].len);
        lua_setfield(L, -3, v->files[i].path);
        if (!v->files[i].bc) continue;
        lua_pushlstring(L, v->files[i].bc, v->files[i].bclen);
        lua_setfield(L, -2, v->files[i].path);
    }
    /* The key holds a NUL, so it can never be a file's path: lua_setfield cannot take it. */
    lua_pushlstring(L, "\0bc", 3);
    lua_insert(L, -2);
    lua_settable(L, -3);
}

const char *script_version_prefix(const struct script_version *v, char *buf, size_t len)
{
    if (v->is_agent)
        snprintf(buf, len, "agents/");
    else
        snprintf(buf, len, "games/%s/", v->name);
    return buf;
}

static int read_source(const char *path, struct source_file *f, const char *rel)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    struct stat st;
    if (fstat(fileno(fp), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE_BYTES) {
        fclose(fp);
        return -1;
    }
    f->text = malloc((size_t)st.st_size + 1);
    f->len = f->text ? fread(f->text, 1, (size_t)st.st_size, fp) : 0;
    fclose(fp);
    if (!f->text) return -1;
    f->text[f->len] = '\0';
    f->path = strdup(rel);
    return f->path ? 0 : -1;
}

/* Compiles each file once for the version, with the CPU check compiled in (lua_compile.h), so
 * rooms load bytecode instead of parsing the text every time (parsing was the largest cost of
 * starting a game). A file that does not parse is left as text: validation then reports its
 * syntax error with file and line. */
static void compile_files(struct script_version *v)
{
    char chunk[200], prefix[100], err[256];
    script_version_prefix(v, prefix, sizeof prefix);
    for (int i = 0; i < v->nfiles; i++) {
        struct source_file *f = &v->files[i];
        snprintf(chunk, sizeof chunk, "@%s%s", prefix, f->path);
        if (!f->len || f->text[0] == 27) continue; /* bytecode: sandbox.load_text refuses it */
        if (lua_compile_script(f->text, f->len, chunk, &f->bc, &f->bclen, err, sizeof err) < 0) {
            f->bc = NULL;
            f->bclen = 0;
        }
    }
}

static int cmp_files(const void *a, const void *b)
{
    return strcmp(((const struct source_file *)a)->path, ((const struct source_file *)b)->path);
}

static void hash_version(struct script_version *v)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (int i = 0; i < v->nfiles; i++) {
        EVP_DigestUpdate(ctx, v->files[i].path, strlen(v->files[i].path) + 1);
        EVP_DigestUpdate(ctx, v->files[i].text, v->files[i].len);
        EVP_DigestUpdate(ctx, "", 1);
    }
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 8; i++)
        snprintf(v->id + 2 * i, 3, "%02x", md[i]);
}

/* Snapshots a game folder (every *.lua beside game.lua) or one agent file. NULL when the
 * files cannot be read. */
static struct script_version *snapshot(const char *name, int is_agent)
{
    struct script_version *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->refs = 1;
    v->is_agent = is_agent;
    util_strlcpy(v->name, name, sizeof v->name);
    v->files = calloc(MAX_FILES, sizeof *v->files);
    char path[1400];
    if (is_agent) {
        char rel[80];
        snprintf(rel, sizeof rel, "%s.lua", name);
        snprintf(path, sizeof path, "%s/%s", cfg->agents_dir, rel);
        if (!v->files || read_source(path, &v->files[0], rel) < 0) goto fail;
        v->nfiles = 1;
        v->main = v->files[0].path;
    } else {
        char dir[1100];
        snprintf(dir, sizeof dir, "%s/%s", cfg->games_dir, name);
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && v->files && (e = readdir(d)) && v->nfiles < MAX_FILES) {
            size_t n = strlen(e->d_name);
            if (n < 5 || strcmp(e->d_name + n - 4, ".lua") != 0 || e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (read_source(path, &v->files[v->nfiles], e->d_name) == 0) v->nfiles++;
        }
        if (d) closedir(d);
        qsort(v->files, (size_t)v->nfiles, sizeof *v->files, cmp_files);
        for (int i = 0; i < v->nfiles; i++)
            if (strcmp(v->files[i].path, "game.lua") == 0) v->main = v->files[i].path;
        if (!v->main) goto fail;
    }
    hash_version(v);
    compile_files(v);
    return v;
fail:
    version_free(v);
    return NULL;
}

struct script_version *script_version_from_files(const char *name, json_t *files)
{
    if (!json_is_object(files) || !json_is_string(json_object_get(files, "game.lua")) ||
        json_object_size(files) > MAX_FILES)
        return NULL;
    struct script_version *v = calloc(1, sizeof *v);
    if (!v || !(v->files = calloc(MAX_FILES, sizeof *v->files))) {
        free(v);
        return NULL;
    }
    v->refs = 1;
    util_strlcpy(v->name, name, sizeof v->name);
    const char *path;
    json_t *src;
    json_object_foreach(files, path, src)
    {
        struct source_file *f = &v->files[v->nfiles];
        f->len = json_string_length(src);
        f->text = malloc(f->len + 1);
        f->path = strdup(path);
        if (!f->text || !f->path) {
            free(f->text);
            free(f->path);
            version_free(v);
            return NULL;
        }
        memcpy(f->text, json_string_value(src) ? json_string_value(src) : "", f->len);
        f->text[f->len] = '\0';
        v->nfiles++;
    }
    qsort(v->files, (size_t)v->nfiles, sizeof *v->files, cmp_files);
    for (int i = 0; i < v->nfiles; i++)
        if (strcmp(v->files[i].path, "game.lua") == 0) v->main = v->files[i].path;
    hash_version(v);
    compile_files(v);
    return v;
}

/* Fills commit and subject when the script's path is clean in a git work tree. Runs git: call
 * it off the loop thread. */
static void git_info(struct script_version *v)
{
    char dir[1100], rel[200], cmd[2600];
    if (v->is_agent) {
        util_strlcpy(dir, cfg->agents_dir, sizeof dir);
        snprintf(rel, sizeof rel, "%s.lua", v->name);
    } else {
        snprintf(dir, sizeof dir, "%s/%s", cfg->games_dir, v->name);
        snprintf(rel, sizeof rel, ".");
    }
    if (strchr(dir, '\'') || strchr(rel, '\'')) return;
    snprintf(cmd, sizeof cmd,
             "cd '%s' 2>/dev/null && test -z \"$(git status --porcelain -- '%s' 2>/dev/null)\" && "
             "git log -1 --format='%%H%%n%%s' -- '%s' 2>/dev/null",
             dir, rel, rel);
    FILE *p = popen(cmd, "r");
    if (!p) return;
    char line[200];
    if (fgets(line, sizeof line, p) && strlen(line) >= 40) {
        line[40] = '\0';
        util_strlcpy(v->commit, line, sizeof v->commit);
        if (fgets(line, sizeof line, p)) {
            line[strcspn(line, "\n")] = '\0';
            util_strlcpy(v->subject, line, sizeof v->subject);
        }
    }
    pclose(p);
}

/* ---- validation ---- */

struct validation {
    struct script_version *v;
    char error[600];
    int ok;
    int budget_ms;
    size_t mem_limit;
};

/* Loads the version in a fresh state and runs its self-test. Worker thread. */
static void validate_work(void *arg)
{
    struct validation *job = arg;
    struct script_version *v = job->v;
    git_info(v);
    struct vm *vm = vm_new(job->mem_limit);
    if (!vm) {
        snprintf(job->error, sizeof job->error, "cannot create a Lua state");
        return;
    }
    lua_State *L = vm_state(vm);
    if (trusted_open(vm, v->is_agent ? "agent_host" : "referee", job->error, sizeof job->error) ==
        0) {
        char prefix[100];
        lua_getfield(L, -1, "validate");
        script_version_push_files(L, v);
        trusted_push_helpers(L);
        if (v->is_agent)
            lua_pushstring(L, v->main);
        else
            lua_pushstring(L, script_version_prefix(v, prefix, sizeof prefix));
        enum vm_status st = vm_call(vm, 3, 1, job->budget_ms, job->error, sizeof job->error);
        if (st == VM_OK) {
            size_t len;
            const char *meta = lua_tolstring(L, -1, &len);
            v->meta = meta ? json_loadb(meta, len, 0, NULL) : NULL;
            job->ok = v->meta != NULL;
            if (!job->ok)
                snprintf(job->error, sizeof job->error, "validation returned no metadata");
        } else if (st == VM_CPU) {
            size_t n = strlen(job->error);
            snprintf(job->error + n, sizeof job->error - n, " (load budget %d ms)", job->budget_ms);
        }
    }
    vm_free(vm);
}

/* Splits "games/x/game.lua:12: message" into file, line and message. */
static json_t *refusal_json(const struct script_version *v, const char *error)
{
    char file[256] = "";
    long line = 0;
    const char *msg = error;
    const char *colon = strchr(error, ':');
    if (colon && colon - error < (long)sizeof file && colon[1] >= '0' && colon[1] <= '9') {
        char *end;
        line = strtol(colon + 1, &end, 10);
        if (*end == ':') {
            memcpy(file, error, (size_t)(colon - error));
            file[colon - error] = '\0';
            msg = end + 1 + (end[1] == ' ');
        }
    }
    json_t *r = json_pack("{ss,ss,sf}", "version", v->id, "message", msg, "at", loop_wall_ms());
    if (*file) {
        json_object_set_new(r, "file", json_string(file));
        json_object_set_new(r, "line", json_integer(line));
    }
    return r;
}

static struct entry *entry_for(const struct script_version *v, int create)
{
    struct hmap *m = v->is_agent ? agents : games;
    struct entry *e = hmap_get(m, v->name);
    if (!e && create && (e = calloc(1, sizeof *e))) {
        util_strlcpy(e->name, v->name, sizeof e->name);
        e->is_agent = v->is_agent;
        hmap_put(m, e->name, e);
    }
    return e;
}

static void (*refusal_cb)(int is_agent, const char *name, const json_t *refusal);

void scripts_on_refusal(void (*fn)(int is_agent, const char *name, const json_t *refusal))
{
    refusal_cb = fn;
}

void scripts_refused_elsewhere(int is_agent, const char *name, json_t *refusal)
{
    const char *version = json_string_value(json_object_get(refusal, "version"));
    struct entry *e = hmap_get(is_agent ? agents : games, name);
    if (!version || strlen(version) >= sizeof e->refused_id) return;
    if (!e && (e = calloc(1, sizeof *e))) {
        util_strlcpy(e->name, name, sizeof e->name);
        e->is_agent = is_agent;
        if (hmap_put(is_agent ? agents : games, e->name, e) < 0) {
            free(e);
            e = NULL;
        }
    }
    if (!e) return;
    util_strlcpy(e->refused_id, version, sizeof e->refused_id);
    json_decref(e->refusal);
    e->refusal = json_incref(refusal);
    log_msg(LOG_WARN, "script version refused by another instance", "{ss,ss,ss}", "name", name,
            "version", version, "serving", e->current ? e->current->id : "");
}

static void validate_done(void *arg)
{
    struct validation *job = arg;
    struct script_version *v = job->v;
    struct entry *e = entry_for(v, 1);
    const char *kind = v->is_agent ? "agent" : "game";
    if (e && strcmp(e->pending_id, v->id) == 0) e->pending_id[0] = '\0';
    if (e && job->ok && strcmp(e->refused_id, v->id) == 0) {
        /* Another instance refused this very version while it was validated here: one version
         * serves the whole cluster or none does. */
        log_msg(LOG_WARN, "script version passed here but was refused elsewhere: not swapped in",
                "{ss,ss,ss}", "kind", kind, "name", v->name, "version", v->id);
        script_version_unref(v);
    } else if (!e) {
        script_version_unref(v);
    } else if (job->ok) {
        struct script_version *old = e->current;
        e->current = v;
        e->refused_id[0] = '\0';
        json_decref(e->refusal);
        e->refusal = NULL;
        metric_add(m_reloads, "loaded", 1);
        log_msg(LOG_INFO, "script version live", "{ss,ss,ss,ss,ss}", "kind", kind, "name", v->name,
                "version", v->id, "commit", v->commit, "previous", old ? old->id : "");
        if (old) script_version_unref(old);
        if (v->is_agent) {
            script_version_store(v);
            json_t *row =
                json_pack("{ss,ss,sO,sO,sf}", "name", v->name, "version", v->id, "title",
                          json_object_get(v->meta, "title"), "personality",
                          json_object_get(v->meta, "personality"), "created_at", loop_wall_ms());
            json_object_set_new(row, "commit", *v->commit ? json_string(v->commit) : json_null());
            store_put("agent_behaviors", row);
        }
        if (v->is_agent && started && evolved_cb) evolved_cb(v);
    } else {
        util_strlcpy(e->refused_id, v->id, sizeof e->refused_id);
        json_decref(e->refusal);
        e->refusal = refusal_json(v, job->error);
        if (refusal_cb) refusal_cb(v->is_agent, v->name, e->refusal);
        metric_add(m_reloads, "refused", 1);
        log_msg(LOG_WARN, "script version refused: the previous version keeps serving",
                "{ss,ss,ss,ss,ss}", "kind", kind, "name", v->name, "version", v->id, "error",
                job->error, "serving", e->current ? e->current->id : "");
        script_version_unref(v);
    }
    free(job);
}

static void consider(const char *name, int is_agent, int sync)
{
    struct script_version *v = snapshot(name, is_agent);
    if (!v) return;
    struct entry *e = entry_for(v, 1);
    if (e && e->current && strcmp(e->current->id, v->id) == 0) {
        /* Back to the live content (a broken edit was reverted): the refusal is history. */
        json_decref(e->refusal);
        e->refusal = NULL;
        e->refused_id[0] = '\0';
        script_version_unref(v);
        return;
    }
    if (e && (strcmp(e->refused_id, v->id) == 0 || strcmp(e->pending_id, v->id) == 0)) {
        script_version_unref(v);
        return;
    }
    if (e) util_strlcpy(e->pending_id, v->id, sizeof e->pending_id);
    struct validation *job = calloc(1, sizeof *job);
    if (!job) {
        script_version_unref(v);
        return;
    }
    job->v = v;
    job->budget_ms = cfg->cpu_load_ms;
    job->mem_limit = (size_t)cfg->lua_memory_mb * 1024 * 1024;
    if (sync || workers_submit(validate_work, validate_done, job) < 0) {
        validate_work(job);
        validate_done(job);
    }
}

/* ---- scanning and watching ---- */

struct seen {
    char names[512][64];
    int n;
};

static void retire_missing(struct hmap *m, const struct seen *seen)
{
    void *vals[1024];
    size_t n = hmap_values(m, vals, 1024);
    for (size_t i = 0; i < n; i++) {
        struct entry *e = vals[i];
        int present = 0;
        for (int j = 0; j < seen->n && !present; j++)
            present = strcmp(seen->names[j], e->name) == 0;
        if (present || !e->current) continue;
        log_msg(LOG_INFO, "script removed: retired for new games", "{ss,ss,ss}", "kind",
                e->is_agent ? "agent" : "game", "name", e->name, "version", e->current->id);
        script_version_unref(e->current);
        e->current = NULL;
    }
}

static int valid_name(const char *s, size_t n)
{
    if (n == 0 || n >= 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

static void watch_dir(const char *dir)
{
    if (inotify_fd >= 0)
        inotify_add_watch(inotify_fd, dir,
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                              IN_DELETE_SELF | IN_MOVE_SELF);
}

static void scan(int sync)
{
    struct seen *seen = calloc(1, sizeof *seen);
    if (!seen) return;
    DIR *d = opendir(cfg->games_dir);
    struct dirent *e;
    char path[1200];
    while (d && (e = readdir(d)) && seen->n < 512) {
        if (!valid_name(e->d_name, strlen(e->d_name))) continue;
        snprintf(path, sizeof path, "%s/%s", cfg->games_dir, e->d_name);
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) continue;
        watch_dir(path); /* inotify ignores a watch it already has */
        snprintf(path, sizeof path, "%s/%s/game.lua", cfg->games_dir, e->d_name);
        if (access(path, R_OK) != 0) continue;
        util_strlcpy(seen->names[seen->n++], e->d_name, 64);
        consider(e->d_name, 0, sync);
    }
    if (d) closedir(d);
    retire_missing(games, seen);

    seen->n = 0;
    d = opendir(cfg->agents_dir);
    while (d && (e = readdir(d)) && seen->n < 512) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".lua") != 0 || !valid_name(e->d_name, n - 4))
            continue;
        char name[64];
        memcpy(name, e->d_name, n - 4);
        name[n - 4] = '\0';
        util_strlcpy(seen->names[seen->n++], name, 64);
        consider(name, 1, sync);
    }
    if (d) closedir(d);
    retire_missing(agents, seen);
    free(seen);
}

void scripts_rescan(void)
{
    scan(0);
}

static void on_debounced(evutil_socket_t fd, short what, void *arg)
{
    scan(0);
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (read(fd, buf, sizeof buf) > 0) {
    }
    /* Editors and git write in bursts: wait for a quiet moment, then rescan everything. */
    struct timeval tv = {cfg->reload_debounce_ms / 1000, (cfg->reload_debounce_ms % 1000) * 1000};
    event_add(debounce_ev, &tv);
}

int scripts_init(const struct config *config)
{
    cfg = config;
    m_reloads =
        metrics_counter("script_reloads_total", "Script versions loaded, by outcome", "outcome");
    games = hmap_new();
    agents = hmap_new();
    if (!games || !agents || !m_reloads) return -1;
    inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd < 0) {
        log_msg(LOG_WARN, "inotify unavailable: scripts will not hot-reload", "{ss}", "error",
                strerror(errno));
    } else {
        watch_dir(cfg->games_dir);
        watch_dir(cfg->agents_dir);
        inotify_ev = event_new(loop_base(), inotify_fd, EV_READ | EV_PERSIST, on_inotify, NULL);
        debounce_ev = evtimer_new(loop_base(), on_debounced, NULL);
        event_add(inotify_ev, NULL);
    }
    scan(1);
    started = 1;
    log_msg(LOG_INFO, "scripts loaded", "{sI,sI}", "games", (json_int_t)hmap_size(games), "agents",
            (json_int_t)hmap_size(agents));
    return 0;
}

static void free_entry(const char *key, void *value, void *arg)
{
    struct entry *e = value;
    script_version_unref(e->current);
    json_decref(e->refusal);
    free(e);
}

void scripts_shutdown(void)
{
    if (inotify_ev) event_free(inotify_ev);
    if (debounce_ev) event_free(debounce_ev);
    if (inotify_fd >= 0) close(inotify_fd);
    inotify_ev = debounce_ev = NULL;
    inotify_fd = -1;
    hmap_free_values(games, free_entry);
    hmap_free_values(agents, free_entry);
    games = agents = NULL;
}

/* ---- lookups and catalog ---- */

struct script_version *scripts_game(const char *name)
{
    struct entry *e = games ? hmap_get(games, name) : NULL;
    return e ? e->current : NULL;
}

struct script_version *scripts_agent(const char *name)
{
    struct entry *e = agents ? hmap_get(agents, name) : NULL;
    return e ? e->current : NULL;
}

static int agent_plays(const struct script_version *a, const char *game)
{
    const struct script_version *g = scripts_game(game);
    json_t *list = json_object_get(a->meta, "games");
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        const char *s = json_string_value(item);
        if (s && strcmp(s, game) == 0) return 1;
        if (s && strcmp(s, "*") == 0 && g && json_is_true(json_object_get(g->meta, "has_legal")))
            return 1;
    }
    return 0;
}

struct script_version *scripts_agent_for(const char *game, const char *preferred)
{
    if (preferred) {
        struct script_version *a = scripts_agent(preferred);
        return a && agent_plays(a, game) ? a : NULL;
    }
    /* No preference: the first, by name, that names the game itself; else any "*" agent. */
    void *vals[512];
    size_t n = hmap_values(agents, vals, 512);
    struct script_version *best = NULL, *wildcard = NULL;
    for (size_t i = 0; i < n; i++) {
        struct entry *e = vals[i];
        if (!e->current || !agent_plays(e->current, game)) continue;
        json_t *list = json_object_get(e->current->meta, "games");
        int named = 0;
        size_t j;
        json_t *item;
        json_array_foreach(list, j, item) named |=
            json_is_string(item) && strcmp(json_string_value(item), game) == 0;
        struct script_version **slot = named ? &best : &wildcard;
        if (!*slot || strcmp(e->name, (*slot)->name) < 0) *slot = e->current;
    }
    return best ? best : wildcard;
}

/* the version's id, and its git commit when it has one */
static void version_fields(json_t *o, const struct script_version *v)
{
    json_object_set_new(o, "version", json_string(v->id));
    if (*v->commit) json_object_set_new(o, "commit", json_string(v->commit));
}

static void game_fields(json_t *o, const struct script_version *v)
{
    json_t *m = v->meta;
    json_object_set(o, "title", json_object_get(m, "title"));
    json_object_set_new(
        o, "players",
        json_pack("{sO,sO}", "min", json_object_get(m, "min"), "max", json_object_get(m, "max")));
    json_object_set(o, "tickRate", json_object_get(m, "tick_rate"));
    version_fields(o, v);
    if (json_object_get(m, "turn_time_ms"))
        json_object_set(o, "turnTimeMs", json_object_get(m, "turn_time_ms"));
    if (json_is_true(json_object_get(m, "game_master")))
        json_object_set_new(o, "gameMaster", json_true());
    if (json_is_true(json_object_get(m, "commands")))
        json_object_set_new(o, "commands", json_true());
}

static void agent_fields(json_t *o, const struct script_version *v)
{
    json_t *m = v->meta;
    json_object_set(o, "title", json_object_get(m, "title"));
    json_object_set(o, "personality", json_object_get(m, "personality"));
    json_object_set(o, "games", json_object_get(m, "games"));
    version_fields(o, v);
    if (*v->subject) json_object_set_new(o, "summary", json_string(v->subject));
}

/* A catalog entry: its name, fields(current version) when one is loaded, whether it is
 * available and why its last version was refused. */
static json_t *entry_json(const struct entry *e,
                          void (*fields)(json_t *o, const struct script_version *v))
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(e->name));
    if (e->current) fields(o, e->current);
    json_object_set_new(o, "available", json_boolean(e->current != NULL));
    if (e->refusal) json_object_set(o, "refused", e->refusal);
    return o;
}

static int cmp_entries(const void *a, const void *b)
{
    return strcmp((*(struct entry *const *)a)->name, (*(struct entry *const *)b)->name);
}

static json_t *catalog(struct hmap *m, void (*fields)(json_t *o, const struct script_version *v))
{
    void *vals[1024];
    size_t n = hmap_values(m, vals, 1024);
    qsort(vals, n, sizeof *vals, cmp_entries);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct entry *e = vals[i];
        if (e->current || e->refusal) json_array_append_new(arr, entry_json(e, fields));
    }
    return arr;
}

json_t *scripts_games_json(void)
{
    return catalog(games, game_fields);
}

json_t *scripts_agents_json(void)
{
    return catalog(agents, agent_fields);
}

void scripts_on_agent_evolved(void (*fn)(const struct script_version *v))
{
    evolved_cb = fn;
}
