#include "game_proto.h"

#include "bus.h"
#include "frame.h"
#include "loop.h"
#include "matchmaker.h"
#include "player_rate.h"
#include "proto.h"
#include "room.h"
#include "scripts.h"
#include "session.h"
#include "store.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define MAX_CHAT_CHARS 500

static const struct config *cfg;
static game_proto_forward_fn forward, forward_match;
/* A request served again by game_proto_missing: it took its input token the first time. */
static int serving_again;

void game_proto_set_forward(game_proto_forward_fn fn)
{
    forward = fn;
}

void game_proto_set_match_forward(game_proto_forward_fn fn)
{
    forward_match = fn;
}

/* Whether the cluster took a request for a room not held here (see game_proto.h). */
static int forwarded(struct proto_request *r, const char *game_id)
{
    return forward && forward(r, game_id);
}

/* The room named by payload.gameId, or NULL after answering (BAD_MESSAGE or NOT_FOUND) or
 * when the request went to the room's owner elsewhere in the cluster. */
static struct room *target_room(struct proto_request *r)
{
    const char *id;
    if (proto_string(r, "gameId", 1, 64, &id) < 0) return NULL;
    struct room *room = room_find(id);
    if (!room && !forwarded(r, id)) proto_error(r, "NOT_FOUND", "no game %s", id);
    return room;
}

/* An external agent's connection (agent token) plays only through agent_move: the messages a
 * human plays with answer FORBIDDEN on it. Returns 1 for a human's socket. */
static int human(struct proto_request *r)
{
    if (strcmp(r->s->who.role, "agent") != 0) return 1;
    proto_error(r, "FORBIDDEN", "an agent connection plays only through agent_move");
    return 0;
}

/* A token of the sender's bucket of kind: the player's own, shared by all their sockets in the
 * cluster (player_rate.h); a request relayed from another instance was counted there, and
 * takes from its proxy session's bucket here (which then applies the room's own bound). */
static int take_token(struct proto_request *r, enum player_rate_kind kind, int per_min)
{
    if (!r->s->remote) return player_rate_take(kind, r->s->who.player_id, per_min);
    struct rate_limit *rl = kind == PLAYER_RATE_CHAT    ? &r->s->rl_chat
                            : kind == PLAYER_RATE_ROOMS ? &r->s->rl_rooms
                                                        : &r->s->rl_input;
    return rate_limit_take(rl, per_min, loop_now_ms());
}

/* Rooms cost memory (a Lua state each): one player may open only so many a minute. */
static int may_open_room(struct proto_request *r)
{
    if (take_token(r, PLAYER_RATE_ROOMS, cfg->rooms_rate_per_min)) return 1;
    proto_error(r, "RATE_LIMIT_EXCEEDED", "at most %d new games a minute", cfg->rooms_rate_per_min);
    return 0;
}

/* payload.agents of create_game: {"<seat>": "<agent>"}, seats 2 to 16, names of 1 to 63 bytes,
 * each an agent that plays game. Returns 0, or -1 with the error sent. */
static int check_seat_agents(struct proto_request *r, const char *game, json_t *agents,
                             const json_t *config)
{
    if (!agents) return 0;
    int nseats = room_seats_for(scripts_game(game), config);
    const char *key;
    json_t *name;
    if (!json_is_object(agents)) goto bad;
    json_object_foreach(agents, key, name)
    {
        char *end;
        long seat = strtol(key, &end, 10);
        size_t len = json_string_length(name);
        if (!*key || *end || key[0] == '0' || seat < 2 || seat > 16 || !json_is_string(name) ||
            len < 1 || len > 63)
            goto bad;
        if (seat > nseats) {
            proto_error(r, "BAD_MESSAGE", "payload.agents: this game has %d seats, not %ld", nseats,
                        seat);
            return -1;
        }
        if (!rooms_agent_available(game, json_string_value(name))) {
            proto_error(r, "NOT_FOUND", "no agent named %s plays %s", json_string_value(name),
                        game);
            return -1;
        }
    }
    return 0;
bad:
    proto_error(r, "BAD_MESSAGE",
                "payload.agents must map seat numbers (2 to 16) to agent names (1 to 63 bytes)");
    return -1;
}

/* Seats the agents payload.agents names, then vsAgent in the seats left. */
static int seat_agents(struct proto_request *r, struct room *room, json_t *agents,
                       const char *agent)
{
    const char *key, *code = NULL;
    json_t *name;
    char msg[300] = "";
    json_object_foreach(agents, key, name)
    {
        if (room_seat_agent(room, atoi(key), json_string_value(name), &code, msg, sizeof msg) < 0)
            goto failed;
    }
    if (agent && room_fill_with_agent(room, agent, &code, msg, sizeof msg) < 0) goto failed;
    return 0;
failed:
    proto_error(r, code, "%s", msg);
    return -1;
}

static void on_create_game(struct proto_request *r)
{
    const char *game, *agent;
    json_t *config = json_object_get(r->payload, "config");
    json_t *priv = json_object_get(r->payload, "private");
    if (proto_string(r, "game", 1, 63, &game) < 0 || proto_string(r, "vsAgent", 0, 63, &agent) < 0)
        return;
    if (config && !json_is_object(config)) {
        proto_error(r, "BAD_MESSAGE", "payload.config must be an object");
        return;
    }
    if (priv && !json_is_boolean(priv)) {
        proto_error(r, "BAD_MESSAGE", "payload.private must be a boolean");
        return;
    }
    if (!human(r) || !may_open_room(r)) return;
    if (!scripts_game(game)) {
        proto_error(r, "NOT_FOUND", "no game named %s", game);
        return;
    }
    if (agent && !rooms_agent_available(game, agent)) {
        proto_error(r, "NOT_FOUND", "no agent named %s plays %s", agent, game);
        return;
    }
    json_t *agents = json_object_get(r->payload, "agents");
    if (check_seat_agents(r, game, agents, config) < 0) return;
    const char *code = NULL;
    char msg[300] = "";
    struct room_owner owner = {r->s->who.player_id, r->s->peer};
    struct room *room = room_create(game, config, json_is_true(priv), agent ? NULL : &owner, &code,
                                    msg, sizeof msg);
    if (!room) {
        proto_error(r, code, "%s", msg);
        return;
    }
    proto_reply(r, "game_created", json_pack("{ss,ss}", "gameId", room_id(room), "game", game));
    room_seat_player(room, r->s->who.player_id, r->s->who.name, r->s, &code);
    if (seat_agents(r, room, agents, agent) < 0) return;
    room_send_state(room, r->s, r->id);
}

static void on_join_game(struct proto_request *r)
{
    const char *as;
    if (proto_string(r, "as", 0, 16, &as) < 0) return;
    if (as && strcmp(as, "player") != 0 && strcmp(as, "spectator") != 0) {
        proto_error(r, "BAD_MESSAGE", "payload.as must be \"player\" or \"spectator\"");
        return;
    }
    if (!human(r)) return;
    struct room *room = target_room(r);
    if (!room) return;
    if (as && strcmp(as, "spectator") == 0) {
        room_watch(room, r->s);
    } else {
        const char *code = NULL;
        if (!room_seat_player(room, r->s->who.player_id, r->s->who.name, r->s, &code)) {
            proto_error(r, code, "no free seat in this game");
            return;
        }
    }
    room_send_state(room, r->s, r->id);
}

static void on_quick_match(struct proto_request *r)
{
    const char *game;
    long wait_ms = 3000;
    if (proto_string(r, "game", 1, 63, &game) < 0 ||
        proto_integer(r, "waitMs", 0, 0, 60000, &wait_ms) < 0)
        return;
    json_t *agent = json_object_get(r->payload, "agent");
    const char *agent_name = "";
    if (json_is_false(agent))
        agent_name = NULL;
    else if (json_is_string(agent) && json_string_length(agent) < 64)
        agent_name = json_string_value(agent);
    else if (agent && !json_is_null(agent)) {
        proto_error(r, "BAD_MESSAGE", "payload.agent must be an agent name or false");
        return;
    }
    if (!human(r) || (forward_match && forward_match(r, game))) return;
    char msg[300] = "";
    const char *code =
        matchmaker_request(r->s, game, agent_name, (int)wait_ms, r->id, msg, sizeof msg);
    if (code) proto_error(r, code, "%s", msg);
}

/* The room an input (player_input, command) names, once the sender's input bucket gave a
 * token; NULL after answering, or when the request went to the room's owner elsewhere. Real-time
 * rooms take inputs every tick, turn-based ones a few a minute. A room held by another instance
 * gets the real-time bound here (its kind is not known here) and its own bound on its owner,
 * which serves the request like a local one. */
static struct room *input_room(struct proto_request *r, const char *id, int command)
{
    struct room *room = room_find(id);
    /* A command runs the game's Lua on the loop thread (a state copy and a parser) and its
     * failures never end the game: it gets the turn-based bound in every room. */
    int realtime = !command && (room ? room_is_realtime(room) : forward && !r->s->remote);
    int per_min = realtime ? cfg->realtime_input_rate_per_min : cfg->input_rate_per_min;
    if (!serving_again && !take_token(r, PLAYER_RATE_INPUT, per_min)) {
        proto_error(r, "RATE_LIMIT_EXCEEDED", "at most %d inputs a minute", per_min);
        return NULL;
    }
    if (!room && !forwarded(r, id)) proto_error(r, "NOT_FOUND", "no game %s", id);
    return room;
}

static void on_player_input(struct proto_request *r)
{
    json_t *action = json_object_get(r->payload, "action");
    const char *id;
    if (proto_string(r, "gameId", 1, 64, &id) < 0) return;
    if (!action || json_is_null(action)) {
        proto_error(r, "BAD_MESSAGE", "payload.action is required");
        return;
    }
    if (!human(r)) return;
    struct room *room = input_room(r, id, 0);
    if (!room) return;
    char msg[300] = ""; /* room_input gives INTERNAL without a message when out of memory */
    const char *code = room_input(room, r->s, action, r->id, msg, sizeof msg);
    if (code) proto_error(r, code, "%s", msg);
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static void on_chat_message(struct proto_request *r)
{
    const char *text;
    if (proto_string(r, "text", 1, MAX_CHAT_CHARS * 4, &text) < 0) return;
    if (!*text || utf8_chars(text) > MAX_CHAT_CHARS) {
        proto_error(r, "BAD_MESSAGE", "payload.text must be 1 to %d characters", MAX_CHAT_CHARS);
        return;
    }
    if (!human(r)) return;
    if (!take_token(r, PLAYER_RATE_CHAT, cfg->chat_rate_per_min)) {
        proto_error(r, "RATE_LIMIT_EXCEEDED", "at most %d chat messages a minute",
                    cfg->chat_rate_per_min);
        return;
    }
    struct room *room = target_room(r);
    if (!room) return;
    const char *code = room_chat(room, r->s, text, r->id);
    if (code) proto_error(r, code, "you are not in this game");
}

/* A line of text for the game (docs/protocol.md, `command`): rate-limited as an input, since
 * the action it makes is one. */
static void on_command(struct proto_request *r)
{
    const char *text;
    if (proto_string(r, "text", 1, MAX_CHAT_CHARS * 4, &text) < 0) return;
    if (!*text || utf8_chars(text) > MAX_CHAT_CHARS) {
        proto_error(r, "BAD_MESSAGE", "payload.text must be 1 to %d characters", MAX_CHAT_CHARS);
        return;
    }
    const char *id;
    if (proto_string(r, "gameId", 1, 64, &id) < 0 || !human(r)) return;
    struct room *room = input_room(r, id, 1);
    if (!room) return;
    char msg[300] = "";
    const char *code = room_command(room, r->s, text, r->id, msg, sizeof msg);
    if (code) proto_error(r, code, "%s", msg);
}

/* The game master's seat handed to another seat (docs/protocol.md, `hand_gm`): rate-limited as
 * a command (an input of the game, at the turn-based rate in every room). */
static void on_hand_gm(struct proto_request *r)
{
    const char *id;
    long seat = 0;
    if (proto_string(r, "gameId", 1, 64, &id) < 0 ||
        proto_integer(r, "seat", 1, 1, ROOM_MAX_SEATS, &seat) < 0 || !human(r))
        return;
    struct room *room = input_room(r, id, 1);
    if (!room) return;
    char msg[300] = "";
    const char *code = room_hand_gm(room, r->s, (int)seat, r->id, msg, sizeof msg);
    if (code) proto_error(r, code, "%s", msg);
}

/* An external agent's answer to agent_turn (docs/protocol.md, `agent_move`): from an agent
 * connection only, rate-limited with the real-time input bound, since one connection may serve
 * many games. */
static void on_agent_move(struct proto_request *r)
{
    json_t *action = json_object_get(r->payload, "action");
    const char *id, *reasoning;
    if (proto_string(r, "gameId", 1, 64, &id) < 0 ||
        proto_string(r, "reasoning", 0, 1 << 20, &reasoning) < 0)
        return;
    if (!action || json_is_null(action)) {
        proto_error(r, "BAD_MESSAGE", "payload.action is required");
        return;
    }
    if (strcmp(r->s->who.role, "agent") != 0) {
        proto_error(r, "FORBIDDEN", "agent_move needs a connection with an agent token");
        return;
    }
    if (!take_token(r, PLAYER_RATE_INPUT, cfg->realtime_input_rate_per_min)) {
        proto_error(r, "RATE_LIMIT_EXCEEDED", "at most %d agent moves a minute",
                    cfg->realtime_input_rate_per_min);
        return;
    }
    struct room *room = room_find(id);
    if (!room) {
        proto_error(r, "NOT_FOUND", "no game %s", id);
        return;
    }
    char msg[400] = "";
    const char *code = room_agent_move(room, r->s, action, reasoning, r->id, msg, sizeof msg);
    if (code) proto_error(r, code, "%s", msg);
}

static void on_leave_game(struct proto_request *r)
{
    struct room *room = target_room(r);
    if (!room) return;
    const char *code = room_leave(room, r->s, r->id);
    if (code) proto_error(r, code, "you are not in this game");
}

/* Resumes waiting for the store at once, server-wide: each is a read (a PostgreSQL statement),
 * and an anonymous client must not be able to queue them without bound. */
#define STORED_RESUMES_MAX 64
static int stored_resumes;

/* A resume of a game no room holds any more, waiting for the store. */
struct stored_resume {
    char player_id[80];
    uint64_t session; /* the socket's id: it may close before the store answers */
    uint64_t last_seq;
    json_t *re;
    char game_id[64];
};

/* The store's answer: a game that ended (before a restart, or long enough ago that its room
 * is gone) is resumed from its stored log: `replay` with the events after lastSeq, its
 * game_over included, as an omniscient observer sees them (the log of an ended game is public
 * through GET /api/games/:id/events too). A game the store does not have as ended is
 * NOT_FOUND. */
static void on_stored_resume(json_t *game, void *arg)
{
    struct stored_resume *sr = arg;
    struct session *s = session_find(sr->player_id, sr->session);
    const char *status = json_string_value(json_object_get(game, "status"));
    int ended = status && (strcmp(status, "completed") == 0 || strcmp(status, "aborted") == 0);
    if (s && !ended) {
        proto_error_to(s, sr->re, "NOT_FOUND", "no game with that id");
    } else if (s) {
        json_t *events = json_object_get(game, "events"), *e, *out = json_array();
        size_t i;
        json_int_t seq = 0;
        json_array_foreach(events, i, e)
        {
            json_int_t n = json_integer_value(json_object_get(e, "seq"));
            if (n > seq) seq = n;
            if (n > (json_int_t)sr->last_seq)
                json_array_append_new(out, json_pack("{sI,sO,sO}", "seq", n, "type",
                                                     json_object_get(e, "type"), "payload",
                                                     json_object_get(e, "payload")));
        }
        struct frame *f = frame_begin("replay");
        frame_game(f, sr->game_id, (uint64_t)seq);
        frame_key(f, "payload");
        json_t *p = json_pack("{so}", "events", out);
        frame_json(f, p);
        json_decref(p);
        struct wsbuf *b = frame_end(f, sr->re);
        if (b) {
            session_send(s, b);
            wsbuf_unref(b);
        }
    }
    json_decref(sr->re);
    free(sr);
    stored_resumes--;
}

/* A resume of a game that no room holds, here or (in a cluster) anywhere: from the store. */
static void resume_stored(struct proto_request *r, const char *id, long last_seq)
{
    if (util_is_uuid(id) && stored_resumes >= STORED_RESUMES_MAX) {
        proto_error(r, "SERVER_BUSY", "too many resumes are being looked up: try again shortly");
        return;
    }
    struct stored_resume *sr = util_is_uuid(id) ? calloc(1, sizeof *sr) : NULL;
    if (!sr) {
        proto_error(r, "NOT_FOUND", "no game %s", id);
        return;
    }
    stored_resumes++;
    util_strlcpy(sr->player_id, r->s->who.player_id, sizeof sr->player_id);
    util_strlcpy(sr->game_id, id, sizeof sr->game_id);
    sr->session = r->s->id;
    sr->last_seq = (uint64_t)last_seq;
    sr->re = r->id ? json_incref(r->id) : NULL;
    store_load_game(id, on_stored_resume, sr);
}

static void on_resume(struct proto_request *r)
{
    long last_seq = 0;
    const char *id;
    if (proto_string(r, "gameId", 1, 64, &id) < 0 ||
        proto_integer(r, "lastSeq", 1, 0, 1L << 52, &last_seq) < 0)
        return;
    struct room *room = room_find(id);
    if (room)
        room_resume(room, r->s, (uint64_t)last_seq, r->id);
    else if (!forwarded(r, id))
        resume_stored(r, id, last_seq);
}

static proto_handler handler_of(const char *type);

void game_proto_missing(struct proto_request *r)
{
    long last_seq = 0;
    const char *id;
    if (proto_string(r, "gameId", 1, 64, &id) < 0) return;
    /* The room was rebuilt here (taken over from a stopped owner) while the directory was asked
     * where it is: the answer names this instance, and the room serves the request after all.
     * Answering from the store instead would call a game in play NOT_FOUND. */
    proto_handler fn = room_find(id) ? handler_of(r->type) : NULL;
    if (fn) {
        serving_again = 1;
        fn(r);
        serving_again = 0;
        return;
    }
    if (strcmp(r->type, "resume") != 0) {
        proto_error(r, "NOT_FOUND", "no game %s", id);
        return;
    }
    if (proto_integer(r, "lastSeq", 1, 0, 1L << 52, &last_seq) == 0) resume_stored(r, id, last_seq);
}

static game_proto_rooms_fetch lobby_source;

void game_proto_set_lobby_source(game_proto_rooms_fetch fn)
{
    lobby_source = fn;
}

/* A lobby snapshot waiting for the cluster's list. */
struct lobby_wait {
    char player_id[80];
    uint64_t session; /* the socket may close before the list comes */
};

/* The cluster's list of public rooms, or NULL while it is unavailable: then this instance's
 * own rooms (the updates still come from every instance). */
static void send_lobby(json_t *rooms, void *arg)
{
    struct lobby_wait *w = arg;
    struct session *s = session_find(w->player_id, w->session);
    if (s) {
        json_t *p = rooms ? json_pack("{sO}", "rooms", rooms)
                          : json_pack("{so}", "rooms", rooms_lobby_json());
        frame_send(s, "lobby", p, NULL);
        json_decref(p);
    }
    free(w);
}

static void on_subscribe(struct proto_request *r)
{
    const char *topic;
    if (proto_string(r, "topic", 1, 32, &topic) < 0) return;
    if (strcmp(topic, "lobby") == 0)
        rooms_lobby_subscribe(r->s);
    else if (strcmp(topic, "evolution") == 0)
        r->s->sub_evolution = 1;
    else {
        proto_error(r, "BAD_MESSAGE", "payload.topic must be \"lobby\" or \"evolution\"");
        return;
    }
    proto_reply(r, "subscribed", json_pack("{ss}", "topic", topic));
    if (!r->s->sub_lobby || strcmp(topic, "lobby") != 0) return;
    struct lobby_wait *w = lobby_source ? calloc(1, sizeof *w) : NULL;
    if (w) {
        util_strlcpy(w->player_id, r->s->who.player_id, sizeof w->player_id);
        w->session = r->s->id;
        if (lobby_source(send_lobby, w) == 0) return;
        free(w);
    }
    json_t *p = json_pack("{so}", "rooms", rooms_lobby_json());
    frame_send(r->s, "lobby", p, NULL);
    json_decref(p);
}

static void send_evolved(struct session *s, void *arg)
{
    if (s->sub_evolution) session_send(s, arg);
}

static void on_agent_evolved(const struct script_version *v)
{
    json_t *p = json_pack("{ss,ss}", "agent", v->name, "version", v->id);
    if (*v->commit) json_object_set_new(p, "commit", json_string(v->commit));
    if (*v->subject) json_object_set_new(p, "summary", json_string(v->subject));
    struct wsbuf *b = frame_message("agent_evolved", p, NULL);
    json_decref(p);
    if (b) session_each(send_evolved, b);
    if (b) bus_publish("agents:evolved", (const char *)b->data, b->len);
    wsbuf_unref(b);
}

void game_proto_session_closed(struct session *s)
{
    matchmaker_session_closed(s);
    rooms_session_closed(s);
}

static const struct {
    const char *type;
    proto_handler fn;
} handlers[] = {{"create_game", on_create_game},
                {"join_game", on_join_game},
                {"quick_match", on_quick_match},
                {"player_input", on_player_input},
                {"chat_message", on_chat_message},
                {"command", on_command},
                {"leave_game", on_leave_game},
                {"resume", on_resume},
                {"subscribe", on_subscribe},
                {"agent_move", on_agent_move},
                {"hand_gm", on_hand_gm}};

static proto_handler handler_of(const char *type)
{
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        if (strcmp(handlers[i].type, type) == 0) return handlers[i].fn;
    return NULL;
}

int game_proto_init(const struct config *config)
{
    cfg = config;
    /* Twice the sockets: a table full of players active this minute forgets the least recent. */
    if (player_rate_init(cfg->max_connections * 2 + 1024) < 0) return -1;
    scripts_on_agent_evolved(on_agent_evolved);
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        if (proto_register(handlers[i].type, handlers[i].fn) < 0) return -1;
    return 0;
}
