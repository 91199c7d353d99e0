/* config.h - the server's settings, resolved once at start-up.
 *
 * Every setting has one name (the long flag, e.g. "max-connections"), an environment variable
 * derived from it (MONKEYTOWN_MAX_CONNECTIONS) and a key in the config file (max-connections or
 * max_connections). Precedence: flag > environment > file > built-in default. Values are
 * checked against their type and range; the first invalid one stops start-up with a message
 * naming the key. The config file is "key = value" lines; '#' starts a comment. */
#ifndef MT_CONFIG_H
#define MT_CONFIG_H

#include <stddef.h>

struct config {
    char *host;
    int port;
    char *config_file;
    char *data_dir;
    char *games_dir;
    char *agents_dir;
    char *lua_dir;
    char *web_dir;
    char *sql_dir;
    char *log_level;
    char *mode; /* "development" or "production" */

    int max_connections;
    int ping_interval_s;
    int ping_timeout_s;
    int max_message_bytes;
    int send_queue_bytes;
    int max_body_bytes;
    int shutdown_timeout_ms;

    char *jwt_secret;
    char *admins;
    int token_ttl_s;
    int allow_guests;
    int compact_dead_records;  /* start-up compaction when this many records are dead (0: off) */
    int compact_dead_percent;  /* ... or when dead records are this share of the log's bytes */
    int spill_max_mb;          /* the PostgreSQL journal's bound (pg_journal.h) */
    int last_seen_interval_s;  /* a player's last-seen time is written at most this often */
    int register_rate_per_min; /* registrations per client address; 0: no limit */
    int guest_rate_per_min;    /* guests made per client address; 0: no limit */
    int guest_idle_timeout_s;  /* a guest with no socket leaves memory after this; 0: never */

    char *database_url;
    char *redis_url;
    char *trusted_proxies; /* CIDR list whose X-Forwarded-For is believed (cidr.h) */
    int cluster;           /* cluster mode: needs redis_url and database_url */
    char *instance_id;     /* this instance's name in the cluster ("" until config_load) */
    int instance_lease_ms;
    int cluster_heartbeat_ms;

    int seat_hold_s;
    int input_rate_per_min;
    int realtime_input_rate_per_min;
    int chat_rate_per_min;
    int rooms_rate_per_min;
    int replay_buffer;
    int lua_memory_mb;
    int cpu_apply_ms;
    int cpu_choose_ms;
    int agent_turn_ms; /* an external agent's time to answer agent_turn */
    int cpu_load_ms;
    int workers;
    int reload_debounce_ms;
    int max_rooms;
    int waiting_rooms_per_player;  /* created rooms still waiting, per player */
    int waiting_rooms_per_address; /* the same per client address */
    int waiting_room_ttl_s;        /* a created room not started by then closes; 0: never */
    int waiting_room_idle_s;       /* a room waiting this long drops its Lua state; 0: never */
    int finished_room_ttl_s;       /* a finished room stays in memory this long */
    int text_max_bytes;            /* the text bridge's longest outgoing line (/text) */
};

enum config_result { CONFIG_OK = 0, CONFIG_EXIT_OK = 1, CONFIG_INVALID = 2 };

/* Fills cfg from defaults, the config file, the environment and argv, in rising precedence.
 * Returns CONFIG_OK to run, CONFIG_EXIT_OK after printing --help or --version, or
 * CONFIG_INVALID after writing "invalid value for <key>: ..." to err (size errlen).
 * argv is not modified. Strings in cfg are owned by cfg: release them with config_free. */
enum config_result config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen);

/* Releases the strings config_load allocated. cfg is no longer valid afterwards. */
void config_free(struct config *cfg);

/* ---- reloading (SIGHUP) ----
 * A reload calls config_load again with the process's argv into a fresh struct: flags still
 * beat the environment and the file, and an invalid value fails the whole reload. Only the
 * reloadable settings (config_reloadable) are then copied into the running config; the others
 * keep their start-up values until a restart. */

/* 1 when the setting named name (the long flag without dashes) takes effect on a reload. */
int config_reloadable(const char *name);

/* Copies the reloadable settings of fresh into live (live's strings are replaced; pointers to
 * the old ones must not be kept). changed[len] receives the names of those whose value
 * changed, comma-separated ("" for none). Returns 0, or -1 on OOM (live may be partly
 * updated, every value in it valid). */
int config_apply_reloadable(struct config *live, const struct config *fresh, char *changed,
                            size_t len);

/* Writes into out[len] the names, comma-separated, of the settings that are not reloadable and
 * differ between before and fresh: they were changed but need a restart. */
void config_fixed_changes(const struct config *before, const struct config *fresh, char *out,
                          size_t len);

/* A deep copy of src into dst (release with config_free). Returns 0, or -1 on OOM (dst then
 * holds nothing to free). */
int config_copy(struct config *dst, const struct config *src);

/* Writes the --help text to stdout. */
void config_print_help(void);

#endif
