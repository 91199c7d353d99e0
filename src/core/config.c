#include "config.h"

#include "cidr.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum opt_type { OPT_STRING, OPT_INT, OPT_BOOL };

struct option_desc {
    const char *name; /* long flag without dashes; env and file keys derive from it */
    enum opt_type type;
    size_t offset;
    const char *def;
    long min, max;              /* OPT_INT range; for OPT_STRING min=1 means "must not be empty" */
    const char *const *choices; /* OPT_STRING: allowed values, NULL-terminated, or NULL */
    const char *help;
};

static const char *const log_levels[] = {"debug", "info", "warn", "error", "off", NULL};
static const char *const modes[] = {"development", "production", NULL};

#define OFF(f) offsetof(struct config, f)
static const struct option_desc options[] = {
    {"host", OPT_STRING, OFF(host), "127.0.0.1", 1, 0, NULL, "address to listen on"},
    {"port", OPT_INT, OFF(port), "8080", 0, 65535, NULL, "HTTP and WebSocket port (0: any free)"},
    {"config", OPT_STRING, OFF(config_file), "", 0, 0, NULL, "config file (key = value lines)"},
    {"data-dir", OPT_STRING, OFF(data_dir), "data", 1, 0, NULL, "embedded storage directory"},
    {"games", OPT_STRING, OFF(games_dir), "games", 1, 0, NULL, "game scripts directory"},
    {"agents", OPT_STRING, OFF(agents_dir), "agents", 1, 0, NULL, "agent scripts directory"},
    {"lua-dir", OPT_STRING, OFF(lua_dir), "lua", 1, 0, NULL, "the server's trusted Lua"},
    {"web-dir", OPT_STRING, OFF(web_dir), "web", 1, 0, NULL, "static web client directory"},
    {"sql-dir", OPT_STRING, OFF(sql_dir), "sql", 1, 0, NULL, "PostgreSQL migrations directory"},
    {"log-level", OPT_STRING, OFF(log_level), "info", 1, 0, log_levels,
     "debug|info|warn|error|off"},
    {"mode", OPT_STRING, OFF(mode), "development", 1, 0, modes, "development|production"},
    {"max-connections", OPT_INT, OFF(max_connections), "10000", 1, 1000000, NULL,
     "WebSocket connections held at once; above it upgrades get 503"},
    {"ping-interval", OPT_INT, OFF(ping_interval_s), "30", 1, 3600, NULL,
     "seconds of silence before the server pings"},
    {"ping-timeout", OPT_INT, OFF(ping_timeout_s), "60", 2, 7200, NULL,
     "seconds of silence (no pong) before the server hangs up"},
    {"max-message-bytes", OPT_INT, OFF(max_message_bytes), "16384", 256, 16777216, NULL,
     "largest client message; larger ones get TOO_LARGE and close 1009"},
    {"send-queue-bytes", OPT_INT, OFF(send_queue_bytes), "1048576", 4096, 1073741824, NULL,
     "bytes queued for one slow client before it is disconnected"},
    {"max-body-bytes", OPT_INT, OFF(max_body_bytes), "65536", 256, 16777216, NULL,
     "largest HTTP request body; larger ones get 413"},
    {"shutdown-timeout", OPT_INT, OFF(shutdown_timeout_ms), "3000", 0, 60000, NULL,
     "milliseconds to finish writes and closes on SIGTERM"},
    {"jwt-secret", OPT_STRING, OFF(jwt_secret), "", 0, 0, NULL,
     "HS256 secret (required in production; random per process otherwise)"},
    {"admins", OPT_STRING, OFF(admins), "", 0, 0, NULL,
     "comma-separated usernames that get the admin role"},
    {"token-ttl", OPT_INT, OFF(token_ttl_s), "604800", 60, 31536000, NULL,
     "lifetime of issued tokens in seconds"},
    {"allow-guests", OPT_BOOL, OFF(allow_guests), "true", 0, 0, NULL,
     "create a guest player for sockets without a token"},
    {"last-seen-interval", OPT_INT, OFF(last_seen_interval_s), "60", 0, 86400, NULL,
     "seconds between writes of a player's last-seen time (0: every socket)"},
    {"register-rate", OPT_INT, OFF(register_rate_per_min), "10", 0, 1000000, NULL,
     "registrations per minute per client address (0: no limit)"},
    {"guest-rate", OPT_INT, OFF(guest_rate_per_min), "60", 0, 10000000, NULL,
     "guests created per minute per client address, by socket or HTTP (0: no limit)"},
    {"guest-idle-timeout", OPT_INT, OFF(guest_idle_timeout_s), "3600", 0, 31536000, NULL,
     "seconds a guest that never played stays in memory with no socket open (0: forever)"},
    {"compact-dead-records", OPT_INT, OFF(compact_dead_records), "100000", 0, 1000000000, NULL,
     "compact the embedded log at start-up when this many records are dead (0: not by count)"},
    {"compact-dead-percent", OPT_INT, OFF(compact_dead_percent), "50", 0, 100, NULL,
     "compact it at start-up when dead records are this % of its bytes (0: not by share)"},
    {"spill-max-mb", OPT_INT, OFF(spill_max_mb), "1024", 1, 1048576, NULL,
     "MiB of rows PostgreSQL has not yet stored that the local journal may hold; past it new "
     "rooms are refused"},
    {"database-url", OPT_STRING, OFF(database_url), "", 0, 0, NULL,
     "postgres://... to use PostgreSQL instead of the embedded store"},
    {"redis-url", OPT_STRING, OFF(redis_url), "", 0, 0, NULL, "redis://host:port to use Redis"},
    {"cluster", OPT_BOOL, OFF(cluster), "false", 0, 0, NULL,
     "cluster mode: instances behind a proxy share Redis and PostgreSQL (needs both URLs)"},
    {"instance-id", OPT_STRING, OFF(instance_id), "", 0, 0, NULL,
     "this instance's name in the cluster (default host:port); [A-Za-z0-9._:-], 1-64"},
    {"instance-lease-ms", OPT_INT, OFF(instance_lease_ms), "3000", 300, 600000, NULL,
     "how long an instance stays listed without a heartbeat"},
    /* The same setting under the name the failover contract gives it: a room's lease is its
     * owner's (one renewal renews every room of the instance), so they cannot differ. */
    {"room-lease-ms", OPT_INT, OFF(instance_lease_ms), "3000", 300, 600000, NULL,
     "how long a dead owner's rooms wait to be taken over: instance-lease-ms, by another name"},
    {"cluster-heartbeat-ms", OPT_INT, OFF(cluster_heartbeat_ms), "1000", 100, 200000, NULL,
     "how often an instance renews its lease (at most a third of instance-lease-ms)"},
    {"trusted-proxies", OPT_STRING, OFF(trusted_proxies), "", 0, 0, NULL,
     "CIDR list of proxies whose X-Forwarded-For gives the client address (e.g. 127.0.0.1/32)"},
    {"seat-hold", OPT_INT, OFF(seat_hold_s), "300", 0, 86400, NULL,
     "seconds a disconnected player's seat is held"},
    {"input-rate", OPT_INT, OFF(input_rate_per_min), "30", 1, 1000000, NULL,
     "inputs per minute per player, all their sockets (turn-based games)"},
    {"realtime-input-rate", OPT_INT, OFF(realtime_input_rate_per_min), "3600", 1, 10000000, NULL,
     "inputs per minute per player, all their sockets (real-time games)"},
    {"chat-rate", OPT_INT, OFF(chat_rate_per_min), "10", 1, 100000, NULL,
     "chat messages per minute per player"},
    {"rooms-rate", OPT_INT, OFF(rooms_rate_per_min), "1200", 1, 10000000, NULL,
     "create_game requests per minute per player"},
    {"replay-buffer", OPT_INT, OFF(replay_buffer), "1000", 1000, 1000000, NULL,
     "events kept per room for resume"},
    {"lua-memory-mb", OPT_INT, OFF(lua_memory_mb), "32", 1, 4096, NULL,
     "memory cap of one room's Lua state, MiB"},
    {"cpu-apply-ms", OPT_INT, OFF(cpu_apply_ms), "20", 1, 10000, NULL,
     "CPU budget of one apply/tick/validate call, ms"},
    {"cpu-choose-ms", OPT_INT, OFF(cpu_choose_ms), "200", 1, 60000, NULL,
     "CPU budget of one agent choose call, ms"},
    {"agent-turn-ms", OPT_INT, OFF(agent_turn_ms), "30000", 100, 600000, NULL,
     "time an external agent has to answer agent_turn before a random legal move, ms"},
    {"text-max-bytes", OPT_INT, OFF(text_max_bytes), "200", 40, 4000, NULL,
     "longest line the text bridge (/text) sends, in bytes; longer answers are split"},
    {"cpu-load-ms", OPT_INT, OFF(cpu_load_ms), "500", 1, 60000, NULL,
     "CPU budget for loading a script and running its self-test, ms"},
    {"workers", OPT_INT, OFF(workers), "2", 1, 64, NULL, "threads for agent thinking and hashing"},
    {"reload-debounce", OPT_INT, OFF(reload_debounce_ms), "150", 0, 10000, NULL,
     "milliseconds of quiet before a changed script is reloaded"},
    {"max-rooms", OPT_INT, OFF(max_rooms), "20000", 1, 1000000, NULL, "rooms open at once"},
    {"waiting-rooms-per-player", OPT_INT, OFF(waiting_rooms_per_player), "3", 1, 1000, NULL,
     "rooms a player may have created that still wait for players"},
    {"waiting-rooms-per-address", OPT_INT, OFF(waiting_rooms_per_address), "20", 1, 100000, NULL,
     "rooms the players of one client address may have waiting at once"},
    {"waiting-room-ttl", OPT_INT, OFF(waiting_room_ttl_s), "600", 0, 86400, NULL,
     "seconds a created room waits for its players before it closes (0: forever)"},
    {"finished-room-ttl", OPT_INT, OFF(finished_room_ttl_s), "600", 1, 86400, NULL,
     "seconds a finished room stays in memory, answering resume and its log, before the store "
     "does"},
    {"waiting-room-idle", OPT_INT, OFF(waiting_room_idle_s), "10", 0, 86400, NULL,
     "seconds after which a room still waiting lets go of its Lua state until it starts (0: "
     "never)"},
};
#define N_OPTIONS (sizeof options / sizeof options[0])

/* The settings a running server takes from a reload (SIGHUP). Each is read where it is used, on
 * the loop thread, every time (a rate at each message, the admins at each login, the log level
 * by log_msg), so a new value applies from the next use on and nothing was sized by the old
 * one. Everything else (addresses, folders, the store, secrets, limits that size tables or
 * were copied at start-up) needs a restart. */
static const char *const reloadable[] = {
    "log-level",
    "admins",
    "allow-guests",
    "input-rate",
    "realtime-input-rate",
    "chat-rate",
    "rooms-rate",
    "seat-hold",
    "max-rooms",
    "register-rate",
    "guest-rate",
    "guest-idle-timeout",
    "last-seen-interval",
    "waiting-rooms-per-player",
    "waiting-rooms-per-address",
    NULL,
};

/* Cluster mode's requirements and the instance id's shape. Returns 0, or -1 with err. */
static int check_cluster(struct config *cfg, char *err, size_t errlen)
{
    if (!cfg->cluster) return 0;
    if (!*cfg->redis_url || !*cfg->database_url) {
        snprintf(err, errlen, "invalid value for %s: cluster mode needs it (Redis and PostgreSQL)",
                 !*cfg->redis_url ? "redis-url" : "database-url");
        return -1;
    }
    if (cfg->cluster_heartbeat_ms * 3 > cfg->instance_lease_ms) {
        snprintf(err, errlen,
                 "invalid value for cluster-heartbeat-ms: %d is more than a third of "
                 "instance-lease-ms %d (a late heartbeat would drop the instance)",
                 cfg->cluster_heartbeat_ms, cfg->instance_lease_ms);
        return -1;
    }
    size_t n = strlen(cfg->instance_id); /* "": members.c names it after the listening port */
    if (n > 64 ||
        strspn(cfg->instance_id,
               "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") != n) {
        snprintf(err, errlen, "invalid value for instance-id: 1 to 64 of A-Z a-z 0-9 . _ : -");
        return -1;
    }
    return 0;
}

static const struct option_desc *find_option(const char *key)
{
    char norm[64];
    size_t n = strlen(key);
    if (n >= sizeof norm) return NULL;
    for (size_t i = 0; i <= n; i++)
        norm[i] = key[i] == '_' ? '-' : (char)tolower((unsigned char)key[i]);
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strcmp(options[i].name, norm) == 0) return &options[i];
    return NULL;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no",
                                                                                "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) return *out = 1, 0;
        if (strcasecmp(v, no[i]) == 0) return *out = 0, 0;
    }
    return -1;
}

/* Stores value into the option's field after checking it. source names where it came from. */
static int set_option(struct config *cfg, const struct option_desc *o, const char *value,
                      const char *source, char *err, size_t errlen)
{
    char *field = (char *)cfg + o->offset;
    switch (o->type) {
    case OPT_INT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < o->min || v > o->max) {
            snprintf(err, errlen,
                     "invalid value for %s (%s): \"%s\": want an integer from %ld to %ld", o->name,
                     source, value, o->min, o->max);
            return -1;
        }
        *(int *)field = (int)v;
        return 0;
    }
    case OPT_BOOL:
        if (parse_bool(value, (int *)field) < 0) {
            snprintf(err, errlen, "invalid value for %s (%s): \"%s\": want true or false", o->name,
                     source, value);
            return -1;
        }
        return 0;
    case OPT_STRING:
        if (o->min == 1 && !*value) {
            snprintf(err, errlen, "invalid value for %s (%s): must not be empty", o->name, source);
            return -1;
        }
        if (o->choices) {
            int ok = 0;
            for (const char *const *c = o->choices; *c; c++)
                ok |= strcmp(*c, value) == 0;
            if (!ok) {
                snprintf(err, errlen, "invalid value for %s (%s): \"%s\"", o->name, source, value);
                return -1;
            }
        }
        free(*(char **)field);
        *(char **)field = strdup(value);
        return 0;
    }
    return -1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "invalid value for config: cannot open \"%s\"", path);
        return -1;
    }
    /* Whole lines however long (a fixed buffer read a longer line as two, so the tail of a
     * comment could set an option), and no NUL byte (it hid the rest of its line). */
    char *line = NULL, source[64];
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (memchr(line, '\0', (size_t)n)) {
            snprintf(err, errlen, "invalid config file %s:%d: a NUL byte", path, lineno);
            rc = -1;
            break;
        }
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *s = trim(line);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "invalid config file %s:%d: want key = value", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') value[vl - 1] = '\0', value++;
        const struct option_desc *o = find_option(key);
        if (!o || o->offset == OFF(config_file)) {
            snprintf(err, errlen, "invalid config file %s:%d: unknown key \"%s\"", path, lineno,
                     key);
            rc = -1;
            break;
        }
        snprintf(source, sizeof source, "config file line %d", lineno);
        rc = set_option(cfg, o, value, source, err, errlen);
    }
    free(line);
    fclose(f);
    return rc;
}

static int load_env(struct config *cfg, char *err, size_t errlen)
{
    char env[96];
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option_desc *o = &options[i];
        int n = snprintf(env, sizeof env, "MONKEYTOWN_");
        for (const char *p = o->name; *p; p++)
            env[n++] = *p == '-' ? '_' : (char)toupper(*p);
        env[n] = '\0';
        const char *v = getenv(env);
        if (v && o->offset != OFF(config_file) && set_option(cfg, o, v, env, err, errlen) < 0)
            return -1;
    }
    return 0;
}

void config_print_help(void)
{
    printf(
        "Usage: monkeytown [options]                 run the server\n"
        "       monkeytown migrate [options]         apply PostgreSQL migrations (--database-url) "
        "and exit\n"
        "       monkeytown replay GAME_ID [options]  re-run a stored game and verify it comes out "
        "identical\n\n"
        "Options (each also MONKEYTOWN_<NAME> in the environment, or name = value in --config):\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option_desc *o = &options[i];
        char flag[64];
        snprintf(flag, sizeof flag, "--%s %s", o->name,
                 o->type == OPT_INT    ? "N"
                 : o->type == OPT_BOOL ? "BOOL"
                                       : "VALUE");
        printf("  %-28s %s", flag, o->help);
        if (*o->def) printf(" (default %s)", o->def);
        printf("\n");
    }
    printf("  %-28s %s\n  %-28s %s\n", "--help", "print this text", "--version",
           "print the version");
    printf(
        "\nSIGHUP re-reads the config file and the environment (flags still win), applies these\n"
        "settings and rescans the scripts; an invalid value keeps the running settings:\n ");
    int col = 1;
    for (const char *const *r = reloadable; *r; r++) {
        if (col + 1 + (int)strlen(*r) > 90) col = printf("\n ") - 1;
        col += printf(" %s", *r);
    }
    printf("\nThe others take effect at the next start.\n");
}

/* Finds argv's "--config" (both "--config F" and "--config=F") before anything else is read,
 * because the file's values rank below the environment's and the other flags. */
static const char *find_config_flag(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
    }
    return path;
}

static int load_args(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", a);
            return -1;
        }
        char name[64];
        const char *value = strchr(a, '=');
        size_t nl = value ? (size_t)(value - a - 2) : strlen(a + 2);
        if (nl >= sizeof name) nl = sizeof name - 1;
        memcpy(name, a + 2, nl);
        name[nl] = '\0';
        const struct option_desc *o = find_option(name);
        if (!o || strchr(name, '_')) {
            snprintf(err, errlen, "unknown option \"%s\" (see --help)", a);
            return -1;
        }
        if (value)
            value++;
        else if (o->type == OPT_BOOL && (i + 1 == argc || strncmp(argv[i + 1], "--", 2) == 0))
            value = "true"; /* a bare boolean flag (--cluster) turns it on */
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            snprintf(err, errlen, "invalid value for %s: missing", o->name);
            return -1;
        }
        if (set_option(cfg, o, value, "flag", err, errlen) < 0) return -1;
    }
    return 0;
}

enum config_result config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            config_print_help();
            return CONFIG_EXIT_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("monkeytown %s\n", MT_VERSION);
            return CONFIG_EXIT_OK;
        }
    }
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (set_option(cfg, &options[i], options[i].def, "default", err, errlen) < 0)
            return CONFIG_INVALID;

    const char *file = find_config_flag(argc, argv);
    if (!file) file = getenv("MONKEYTOWN_CONFIG");
    if (file && *file) {
        if (load_file(cfg, file, err, errlen) < 0) return CONFIG_INVALID;
        free(cfg->config_file);
        cfg->config_file = strdup(file);
    }
    if (load_env(cfg, err, errlen) < 0 || load_args(cfg, argc, argv, err, errlen) < 0)
        return CONFIG_INVALID;
    if (cfg->ping_timeout_s <= cfg->ping_interval_s) {
        snprintf(err, errlen, "invalid value for ping-timeout: %d must exceed ping-interval %d",
                 cfg->ping_timeout_s, cfg->ping_interval_s);
        return CONFIG_INVALID;
    }
    if (*cfg->redis_url && strncmp(cfg->redis_url, "redis://", 8) != 0) {
        snprintf(err, errlen, "invalid value for redis-url: want redis://host[:port][/db]");
        return CONFIG_INVALID;
    }
    if (*cfg->database_url && strncmp(cfg->database_url, "postgres://", 11) != 0 &&
        strncmp(cfg->database_url, "postgresql://", 13) != 0) {
        snprintf(err, errlen, "invalid value for database-url: want postgres://user@host:port/db");
        return CONFIG_INVALID;
    }
    if (check_cluster(cfg, err, errlen) < 0) return CONFIG_INVALID;
    struct cidr_list proxies;
    char why[160];
    if (cidr_list_parse(cfg->trusted_proxies, &proxies, why, sizeof why) < 0) {
        snprintf(err, errlen, "invalid value for trusted-proxies: %s", why);
        return CONFIG_INVALID;
    }
    if (strcmp(cfg->mode, "production") == 0 && strlen(cfg->jwt_secret) < 32) {
        snprintf(err, errlen,
                 "invalid value for jwt-secret: production mode needs a secret of at "
                 "least 32 characters");
        return CONFIG_INVALID;
    }
    return CONFIG_OK;
}

int config_reloadable(const char *name)
{
    for (const char *const *r = reloadable; *r; r++)
        if (strcmp(*r, name) == 0) return 1;
    return 0;
}

/* Whether option o holds the same value in a and b. */
static int same_value(const struct option_desc *o, const struct config *a, const struct config *b)
{
    const char *fa = (const char *)a + o->offset, *fb = (const char *)b + o->offset;
    if (o->type != OPT_STRING) return *(const int *)fa == *(const int *)fb;
    const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;
    return strcmp(sa ? sa : "", sb ? sb : "") == 0;
}

/* Appends name to the comma-separated list out[len] (cut short when full). */
static void list_add(char *out, size_t len, const char *name)
{
    size_t n = strlen(out);
    if (n + 1 < len) snprintf(out + n, len - n, "%s%s", n ? "," : "", name);
}

int config_copy(struct config *dst, const struct config *src)
{
    *dst = *src;
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].type == OPT_STRING) *(char **)((char *)dst + options[i].offset) = NULL;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (options[i].type != OPT_STRING) continue;
        const char *from = *(char *const *)((const char *)src + options[i].offset);
        char **field = (char **)((char *)dst + options[i].offset);
        if (from && !(*field = strdup(from))) {
            config_free(dst);
            return -1;
        }
    }
    return 0;
}

int config_apply_reloadable(struct config *live, const struct config *fresh, char *changed,
                            size_t len)
{
    if (len) *changed = '\0';
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option_desc *o = &options[i];
        if (!config_reloadable(o->name) || same_value(o, live, fresh)) continue;
        char *dst = (char *)live + o->offset;
        const char *src = (const char *)fresh + o->offset;
        if (o->type == OPT_STRING) {
            char *copy = strdup(*(char *const *)src);
            if (!copy) return -1;
            free(*(char **)dst);
            *(char **)dst = copy;
        } else {
            *(int *)dst = *(const int *)src;
        }
        list_add(changed, len, o->name);
    }
    return 0;
}

void config_fixed_changes(const struct config *before, const struct config *fresh, char *out,
                          size_t len)
{
    if (len) *out = '\0';
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option_desc *o = &options[i];
        if (!config_reloadable(o->name) && !same_value(o, before, fresh))
            list_add(out, len, o->name);
    }
}

void config_free(struct config *cfg)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].type == OPT_STRING) {
            char **field = (char **)((char *)cfg + options[i].offset);
            free(*field);
            *field = NULL;
        }
}
