/* main.c - the monkeytown server: arguments, wiring, signals and an ordered shutdown.
 *
 * Start-up order: config (exit 2 on a bad value), log level, loop, metrics, identities,
 * sessions, protocol table, HTTP routes, then the listening socket last, so that nothing is
 * accepted before every module is ready. Shutdown runs the other way round. SIGTERM and SIGINT
 * stop gracefully; SIGHUP reloads the reloadable settings (config.h) and rescans the scripts. */
#include "accounts.h"
#include "api_admin.h"
#include "bus.h"
#include "api_games.h"
#include "api_health.h"
#include "restore.h"
#include "api_gamefiles.h"
#include "api_static.h"
#include "api_cluster.h"
#include "directory.h"
#include "documents.h"
#include "api_documents.h"
#include "failover.h"
#include "relay.h"
#include "auth.h"
#include "config.h"
#include "game_proto.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "vm.h"
#include "matchmaker.h"
#include "members.h"
#include "player_rate.h"
#include "metrics.h"
#include "proto.h"
#include "referee_pool.h"
#include "replay.h"
#include "room.h"
#include "scripts.h"
#include "session.h"
#include "store.h"
#include "tick.h"
#include "store_pg.h"
#include "text_bridge.h"
#include "trusted.h"
#include "workers.h"
#include "ws.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static struct config cfg;
/* The settings as last read (cfg itself is adjusted by modules: ws.c may lower
 * max-connections), to tell a reload which fixed settings the file now changes. */
static struct config loaded;
static int saved_argc;
static char **saved_argv;
static struct event *sig_term, *sig_int, *sig_hup, *shutdown_timer;
static int stopping;

static void finish(void)
{
    loop_stop();
}

static void on_shutdown_timeout(evutil_socket_t fd, short what, void *arg)
{
    log_msg(LOG_WARN, "shutdown timeout: closing remaining sockets", "{sI}", "open",
            (json_int_t)session_count());
    finish();
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    if (stopping) return;
    stopping = 1;
    log_msg(LOG_INFO, "shutting down", "{ss,sI}", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT",
            "open", (json_int_t)session_count());
    struct timeval tv = {cfg.shutdown_timeout_ms / 1000, (cfg.shutdown_timeout_ms % 1000) * 1000};
    shutdown_timer = evtimer_new(loop_base(), on_shutdown_timeout, NULL);
    evtimer_add(shutdown_timer, &tv);
    /* In a cluster the games go on elsewhere (a peer takes them over once this lease is gone):
     * clients reconnect and resume; alone, the server is going away. */
    if (cfg.cluster)
        ws_drain(1012, "service restart", finish);
    else
        ws_drain(1001, "server shutting down", finish);
}

static void apply_log_level(void)
{
    enum log_level level = LOG_INFO;
    log_parse_level(cfg.log_level, &level);
    log_set_level(level);
}

/* Reads the settings again as at start-up (defaults, file, environment, the same flags) and
 * applies the reloadable ones; an invalid value anywhere keeps every running setting. */
static void reload_settings(void)
{
    struct config fresh;
    char err[512], changed[512], fixed[512];
    if (config_load(&fresh, saved_argc, saved_argv, err, sizeof err) != CONFIG_OK) {
        config_free(&fresh);
        log_msg(LOG_ERROR, "SIGHUP: settings not reloaded: the running ones stay", "{ss}", "error",
                err);
        return;
    }
    config_fixed_changes(&loaded, &fresh, fixed, sizeof fixed);
    int rc = config_apply_reloadable(&cfg, &fresh, changed, sizeof changed);
    config_free(&loaded);
    loaded = fresh; /* takes fresh's strings */
    apply_log_level();
    accounts_reconfigured();
    if (rc < 0) log_msg(LOG_ERROR, "SIGHUP: out of memory: some settings not reloaded", NULL);
    log_msg(LOG_INFO, "SIGHUP: settings reloaded, scripts rescanned", "{ss,ss}", "changed", changed,
            "config", cfg.config_file);
    if (*fixed)
        log_msg(LOG_WARN, "SIGHUP: these settings changed but take effect only after a restart",
                "{ss}", "settings", fixed);
}

/* SIGHUP: reload the settings and rescan the scripts. The log goes to stdout, which belongs
 * to whoever started the server, so there is no log file of ours to reopen. */
static void on_hangup(evutil_socket_t sig, short what, void *arg)
{
    if (stopping) return;
    reload_settings();
    scripts_rescan();
}

static int storage_check(json_t *out, void *arg)
{
    struct stat st;
    int ok = stat(cfg.data_dir, &st) == 0 && S_ISDIR(st.st_mode);
    json_object_set_new(out, "dataDir", json_string(cfg.data_dir));
    return ok;
}

static int scripts_check(json_t *out, void *arg)
{
    json_t *games = scripts_games_json();
    size_t i, live = 0;
    json_t *g;
    json_array_foreach(games, i, g) live += json_is_true(json_object_get(g, "available"));
    json_decref(games);
    json_object_set_new(out, "games", json_integer((json_int_t)live));
    return live > 0;
}

/* After each message (and each posted result, see loop_set_between), the store may read a
 * database reply that came in meanwhile: under load one turn of the loop serves hundreds of
 * sockets, and a reply read only when the turn ends made every PostgreSQL round trip tens of
 * milliseconds long. */
static void on_message(struct session *s, const char *data, size_t len)
{
    if (s->text)
        text_bridge_line(s, data, len); /* a /text socket: lines, mapped onto the same handlers */
    else
        proto_on_message(s, data, len);
    loop_between();
}

static void on_open(struct session *s, const char *guest_token)
{
    accounts_seen(&s->who);
    if (s->text && text_bridge_open(s) < 0) {
        session_close(s, 1011, "out of memory");
        return;
    }
    proto_on_open(s, guest_token);
}

static void on_refused(struct session *s, const char *code)
{
    if (s->text)
        text_bridge_refused(s, code);
    else
        proto_on_refused(s, code);
}

/* A closed socket is the last sign of life of a guest that may now go idle. */
static void on_close(struct session *s)
{
    relay_session_closed(s);
    game_proto_session_closed(s);
    text_bridge_closed(s);
    accounts_left(&s->who);
}

static int store_check(json_t *out, void *arg)
{
    return store_healthy(out);
}

static int redis_check(json_t *out, void *arg)
{
    return bus_health(out);
}

static int relay_check(json_t *out, void *arg)
{
    return relay_health(out);
}

/* Alone, Redis only carries a copy of the traffic for outside consumers: games never wait for
 * it, so its absence degrades the server without making it unready. A cluster needs it to
 * coordinate instances: then it is required. No check at all without --redis-url. */
static int redis_check_add(void)
{
    if (!bus_enabled()) return 0;
    return cfg.cluster ? api_health_add_check("redis", redis_check, NULL)
                       : api_health_add_optional_check("redis", redis_check, NULL);
}

static int start(void)
{
    static const struct ws_handlers handlers = {
        .on_open = on_open,
        .on_message = on_message,
        .on_refused = on_refused,
        .on_close = on_close,
        .admit_guest = accounts_admit_guest,
    };
    if (mkdir(cfg.data_dir, 0700) < 0 && errno != EEXIST) {
        log_msg(LOG_ERROR, "cannot create the data directory", "{ss,ss}", "dir", cfg.data_dir,
                "error", strerror(errno));
        return -1;
    }
    if (vm_global_init() < 0 || loop_init() < 0 || http_init() < 0 || auth_init(&cfg) < 0 ||
        workers_init(cfg.workers) < 0 || trusted_init(cfg.lua_dir) < 0 ||
        session_init((size_t)cfg.send_queue_bytes, cfg.ping_interval_s, cfg.ping_timeout_s) < 0 ||
        proto_init() < 0)
        return -1;
    accounts_preinit();
    if (documents_preinit() < 0) return -1;
    if (restore_preinit(&cfg) < 0) return -1;
    if (bus_init(&cfg) < 0 || redis_check_add() < 0 || store_init(&cfg) < 0 ||
        accounts_init(&cfg) < 0 || scripts_init(&cfg) < 0 || tick_init() < 0 ||
        rooms_init(&cfg) < 0 || matchmaker_init(&cfg) < 0 || game_proto_init(&cfg) < 0 ||
        api_health_init() < 0 || api_games_init() < 0 || api_documents_init() < 0 ||
        api_admin_init() < 0 || api_cluster_init() < 0 || api_static_init(cfg.web_dir) < 0 ||
        api_gamefiles_init(cfg.games_dir) < 0 ||
        api_health_add_check("storage", storage_check, NULL) < 0 ||
        api_health_add_check("store", store_check, NULL) < 0 ||
        api_health_add_check("scripts", scripts_check, NULL) < 0)
        return -1;
    if (text_bridge_init(&cfg) < 0) return -1;
    loop_set_between(store_poll);
    session_set_before_write(store_barrier);
    restore_run(); /* before listening: no resume may find its room not yet rebuilt */
    if (ws_init(&cfg, &handlers) < 0) return -1;
    int joined = members_init(&cfg); /* after listening: the default id names the real port */
    if (joined < 0) return joined;
    /* After joining: the directory's entries and the relay's channel carry this instance's id
     * and lease token. */
    if (directory_init(&cfg) < 0 || failover_init(&cfg) < 0 ||
        relay_init(&cfg, on_message, game_proto_session_closed, game_proto_missing) < 0 ||
        (cfg.cluster && api_health_add_check("relay", relay_check, NULL) < 0))
        return -1;
    if (cfg.cluster) {
        game_proto_set_forward(relay_forward);
        game_proto_set_match_forward(relay_forward_match);
        game_proto_set_lobby_source(members_rooms_fetch);
    }

    sig_term = evsignal_new(loop_base(), SIGTERM, on_signal, NULL);
    sig_int = evsignal_new(loop_base(), SIGINT, on_signal, NULL);
    sig_hup = evsignal_new(loop_base(), SIGHUP, on_hangup, NULL);
    evsignal_add(sig_term, NULL);
    evsignal_add(sig_int, NULL);
    evsignal_add(sig_hup, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static void stop(void)
{
    ws_free();
    loop_set_between(NULL);
    session_set_before_write(NULL);
    trusted_pool_free(); /* before the workers stop: a queued refill then builds nothing */
    referee_pool_free();
    workers_shutdown();
    loop_drain_posted(); /* results of jobs that finished while stopping */
    matchmaker_shutdown();
    relay_shutdown();     /* its proxies leave their rooms like closed sockets */
    directory_shutdown(); /* before the rooms go: their entries stay, for a peer to take over */
    rooms_shutdown();
    text_bridge_shutdown();
    failover_shutdown();
    tick_shutdown();
    scripts_shutdown();
    accounts_flush_seen(); /* last-seen times held back by --last-seen-interval */
    store_shutdown();
    members_shutdown(); /* before the bus: the lease goes at once, not when it lapses */
    bus_shutdown();
    accounts_shutdown();
    documents_shutdown();
    trusted_free();
    api_static_free();
    if (sig_term) event_free(sig_term);
    if (sig_int) event_free(sig_int);
    if (sig_hup) event_free(sig_hup);
    if (shutdown_timer) event_free(shutdown_timer);
    proto_free();
    player_rate_free();
    http_free_routes();
    session_shutdown();
    auth_free();
    loop_free();
    metrics_free();
}

/* `monkeytown migrate`, `monkeytown compact` and `monkeytown replay GAME_ID`: the subcommand and
 * its argument are taken off argv before the options are read. */
static int subcommand(int *argc, char **argv, const char **arg)
{
    if (*argc < 2 || argv[1][0] == '-') return 0;
    int which = strcmp(argv[1], "migrate") == 0   ? 1
                : strcmp(argv[1], "replay") == 0  ? 2
                : strcmp(argv[1], "compact") == 0 ? 3
                                                  : 0;
    if (!which) return 0;
    int take = which == 2 ? 2 : 1;
    if (which == 2 && (*argc < 3 || argv[2][0] == '-')) return -1;
    *arg = which == 2 ? argv[2] : NULL;
    memmove(argv + 1, argv + 1 + take, sizeof *argv * (size_t)(*argc - take));
    *argc -= take;
    return which;
}

static int run_subcommand(int which, const char *arg)
{
    enum log_level level = LOG_WARN;
    log_parse_level(cfg.log_level, &level);
    log_set_level(level < LOG_WARN ? level : LOG_WARN);
    if (which == 1) {
        char err[512];
        if (!*cfg.database_url) {
            fprintf(stderr, "monkeytown migrate: --database-url is required\n");
            return 2;
        }
        if (store_pg_migrate(cfg.database_url, cfg.sql_dir, err, sizeof err) < 0) {
            fprintf(stderr, "monkeytown migrate: %s\n", err);
            return 1;
        }
        printf("migrations applied\n");
        return 0;
    }
    if (which == 3) return store_compact_command(&cfg);
    return replay_command(&cfg, arg);
}

int main(int argc, char **argv)
{
    char err[512];
    const char *sub_arg = NULL;
    int sub = subcommand(&argc, argv, &sub_arg);
    if (sub < 0) {
        fprintf(stderr, "monkeytown: replay needs a GAME_ID\n");
        return 2;
    }
    switch (config_load(&cfg, argc, argv, err, sizeof err)) {
    case CONFIG_EXIT_OK:
        config_free(&cfg);
        return 0;
    case CONFIG_INVALID:
        fprintf(stderr, "monkeytown: %s\n", err);
        config_free(&cfg);
        return 2;
    case CONFIG_OK:
        break;
    }
    if (sub) {
        int rc = run_subcommand(sub, sub_arg);
        config_free(&cfg);
        return rc;
    }
    apply_log_level();
    /* Until the loop's SIGHUP event is in place (start-up validates every script first), a
     * hang-up must not kill the process: there is nothing to reload yet. */
    signal(SIGHUP, SIG_IGN);
    saved_argc = argc;
    saved_argv = argv;
    if (config_copy(&loaded, &cfg) < 0) {
        fprintf(stderr, "monkeytown: out of memory\n");
        config_free(&cfg);
        return 1;
    }

    int rc = 1, started = start();
    if (started == -2) rc = 2; /* a live instance holds our --instance-id */
    if (started == 0) {
        char url[300];
        snprintf(url, sizeof url, "http://%s:%d/", cfg.host, ws_port());
        /* stdout carries JSON log lines; the person at the terminal gets a plain line too. */
        fprintf(stderr, "Monkeytown %s is running: open %s\n", MT_VERSION, url);
        log_msg(LOG_INFO, "monkeytown listening: open the url in a browser", "{ss,ss,si,ss,ss}",
                "version", MT_VERSION, "host", cfg.host, "port", ws_port(), "url", url, "mode",
                cfg.mode);
        rc = loop_run() == 0 ? 0 : 1;
        log_msg(LOG_INFO, "stopped", NULL);
    }
    stop();
    config_free(&cfg);
    config_free(&loaded);
    return rc;
}
