/* room_internal.h - private to the room files (src/game/room*.c): struct room and what those
 * files call of one another. Nothing outside them includes it; the room's contract with the
 * rest of the server is room.h.
 *
 * The room is one module in several files, one concern each:
 *   room.c          the registry and the lifecycle: create, start, finish, free, linger, script
 *                   failures, the simple queries;
 *   room_waiting.c  rooms waiting for players: the per-owner limits, expiry, the idle release
 *                   of the Lua state and its rebuild at the start;
 *   room_seats.c    seats and membership: joining, leaving, seat holds, spectators, agents
 *                   filling seats, a socket closing;
 *   room_log.c      the event log and the inputs: appending and sending events (the per-seat
 *                   hidden encoding), resume's replay, chat, the log as JSON;
 *   room_state.c    game_state: the players list, the views, one frame per seat;
 *   room_turn.c     turn-based games: the mover, the turn clock, agents choosing, actions;
 *   room_realtime.c real-time games: the input queue, the tick, agents acting;
 *   room_external.c external agents: seats served over an agent connection, asked with
 *                   agent_turn, answered with agent_move, or played at random;
 *   room_store.c    the rows a room writes (games, participants, events, inputs) and the
 *                   players' results;
 *   room_restore.c  a room rebuilt after a restart;
 *   room_docs.c     per-player documents: handed to the game at the start, saved after a call;
 *   room_gm.c       the game master's seat handed to another player (hand_gm);
 *   room_lobby.c    summaries, the lobby's subscribers and updates.
 * Loop thread only, like the room itself. */
#ifndef MT_ROOM_INTERNAL_H
#define MT_ROOM_INTERNAL_H

#include "config.h"
#include "loop.h"
#include "referee.h"
#include "room.h"
#include "session.h"
#include "vm.h"

#include <jansson.h>
#include <stdint.h>

#define INPUT_QUEUE_MAX 128 /* real-time inputs waiting for the next tick, per room */

struct event;
struct agent;
struct tick_entry;

enum seat_kind { SEAT_EMPTY, SEAT_HUMAN, SEAT_AGENT };

struct seat {
    struct room *room;
    int index;
    enum seat_kind kind;
    char player_id[80]; /* a player's UUID, or "agent:<name>" */
    char name[40];
    struct session *session; /* NULL while disconnected */
    struct event *hold_timer;
    struct agent *agent;
    int external;      /* an agent seat served by an external agent's connection */
    char *view;        /* real-time agent: its latest view, for act */
    int since_rebuild; /* a socket was attached here since the room was rebuilt (room_resume) */
    /* The version of the player's document the game started from (0: none), once doc_loaded
     * (at the start: room_docs_start; rebuilt: from game_participants.doc_version). */
    int doc_loaded, doc_version;
};

struct queued_input {
    int seat;
    char *action;
    const char *source;
};

struct log_entry {
    uint64_t seq;
    const char *type;
    char *payload;
    int only_seat;
    uint64_t t;
    uint64_t order;
};

struct input_rec {
    int seat;
    char *action;
    const char *source;
    uint64_t t;
    uint64_t order;
};

struct room {
    char id[UUID_LEN + 1];
    struct script_version *game;
    struct vm *vm;
    struct referee ref; /* the game in vm (referee.h) */
    uint64_t lua_us;    /* wall time in Lua calls, summed per real-time tick (tick_lua_ms) and
                           per state sent (state_lua_ms) */
    enum room_status status;
    int is_private;
    int nseats, realtime, turn_time_ms, timeout_random;
    struct seat seats[ROOM_MAX_SEATS + 1]; /* 1-based */
    struct session **spectators;
    int disowned; /* another instance owns it now: its end is not ours to write */
    size_t nspect, capspect;
    uint32_t seed;
    char *config_json;
    uint64_t seq, order;
    /* A rebuilt room (restart, takeover): the seq its stored log ended at. A client may hold
     * later seqs the last process sent and never stored: room_resume withdraws them. */
    int rebuilt;
    uint64_t rebuilt_seq;
    struct log_entry *log;
    size_t nlog, caplog;
    struct input_rec *inputs;
    size_t ninputs, capinputs;
    uint64_t started_mono;
    double created_wall, started_wall, ended_wall;
    int to_move;
    int gm; /* the game master's seat: 1 at the start, then as hand_gm moved it; 0: none */
    double deadline_wall;
    struct event *turn_timer, *linger_timer;
    char *result_json;
    int script_failures;
    char *agent_view, *agent_legal; /* the view and legal list of the agent to move */
    uint64_t ext_asked; /* the external agent's connection (session id) asked to move, or 0 */
    /* Real-time rooms: the scheduler entry, and inputs validated on arrival that wait for the
     * next tick, in arrival order. */
    struct tick_entry *ticker;
    int rate, send_every;
    uint64_t tick_no;
    struct queued_input *queue; /* INPUT_QUEUE_MAX entries, real-time rooms only */
    int nqueue;
    /* A finished room lets go of its Lua states soon after the end (reap_ev) and answers
     * from the final views it kept: seat 0 is the spectators'. */
    char *final_views[ROOM_MAX_SEATS + 1];
    struct event *reap_ev;
    /* The players array of game_state, rebuilt only when a seat changes (who, kind,
     * connected): a real-time room sends states 20 times a second. */
    char *players_cache;
    char players_sig[ROOM_MAX_SEATS * 10 + 1];
    /* Who the room was created for, while its waiting counts against them (waiting_*). */
    char owner_key[80], owner_addr_key[60];
    struct event *expire_timer; /* --waiting-room-ttl: closes a room that never started */
    struct event *idle_timer;   /* --waiting-room-idle: the waiting room drops its Lua state */
};

/* The answer to a request that a move's first message carries ("re"): whichever message goes
 * out first to the requester (its first event, else the game_state) takes it, once. */
struct reply {
    struct session *to;
    json_t *re;
};

/* Wall time in Lua, summed per real-time tick (tick_lua_ms) and per state sent. */
#define TIMED(r, call)                                                                             \
    do {                                                                                           \
        uint64_t t0_ = loop_now_us();                                                              \
        call;                                                                                      \
        (r)->lua_us += loop_now_us() - t0_;                                                        \
    } while (0)

/* The output gate (rooms_set_output_gate): when it says hold, what rooms send is dropped and
 * room_output_held records it. */
extern int (*room_output_gate)(void);
extern int room_output_held;

/* Queues b to s when both are there; b stays the caller's (a frame shared by many). */
static inline void room_send(struct session *s, struct wsbuf *b)
{
    if (!s || !b) return;
    if (room_output_gate && room_output_gate()) {
        room_output_held = 1;
        return;
    }
    session_send(s, b);
}

/* room_send of a buffer made for s alone, which is let go of after. */
static inline void room_send_once(struct session *s, struct wsbuf *b)
{
    room_send(s, b);
    if (b) wsbuf_unref(b);
}

/* ---------- room.c: registry and lifecycle ---------- */

extern const struct config *room_cfg; /* set by rooms_init, borrowed */

/* "waiting", "active" or "completed" (static). */
const char *room_status_name(enum room_status st);

/* Milliseconds since the game started (0 before): the logical time of events and inputs. */
uint64_t room_logical_now(const struct room *r);

/* Makes room for one more element in *arr (n used of *cap, doubling from 16). Without memory
 * the array stays as it is: the caller checks n < *cap. */
void room_grow(void **arr, size_t *cap, size_t n, size_t size);

/* The requester and its re for the next message, then nothing more (rp may be NULL). */
struct session *room_reply_take(struct reply *rp, json_t **re);

/* Adds r to the registry (room_find). Returns 0, or -1 without memory. */
int room_register(struct room *r);

/* Counts a room opened (+1) or closed (-1) for rooms_count and the active-games gauge. */
void room_count_open(int delta);

/* Counts a failed script call (a game's or an agent's) in script_failures_total by its kind. */
void room_count_script_failure(enum vm_status st);

/* What the room takes from its version's meta (tick rate, send rate, turn clock), and its
 * empty seats (r->nseats set). Returns 0, or -1 without memory. */
int room_configure(struct room *r);

/* A new Lua state for r running its version's referee (setup under --cpu-load-ms, calls under
 * apply_ms). meta, when non-NULL, receives the version's meta text (malloc'd). Returns the
 * setup's status, VM_MEMORY when no state could be made (r->vm NULL, err set by trusted_new);
 * on failure r->vm may hold the state, which the caller frees. */
enum vm_status room_vm_setup(struct room *r, int apply_ms, char **meta, char *err, size_t len);

/* Logs and counts a failed script call, without counting it toward ending the room (which
 * room_referee_failed does). */
void room_script_failure_report(const struct room *r, enum vm_status st, const char *what,
                                const char *err);

/* A referee call's status: 0 on success (the failure count is reset), else -1 after the failure
 * is counted and logged; after MAX_SCRIPT_FAILURES in a row the game ends with script_error. */
int room_referee_failed(struct room *r, const char *what, enum vm_status st, const char *err);

/* The ctx.log lines a call returned go to the server log with the room's ids. */
void room_script_lines(const struct room *r, const struct referee_result *res);

/* Starts a waiting room whose seats are all taken. */
void room_start_if_full(struct room *r);

/* Ends the game with result_json (copied): final state, game_over, stored rows, lobby update;
 * the Lua states go right after, the room itself after the linger time. rp's requester gets
 * re on its final state. Does nothing to a room already completed. */
void room_finish(struct room *r, const char *result_json, struct reply *rp);

/* Seat gave up (forfeit or timeout): in a two-seat game the other seat wins. */
void room_forfeit(struct room *r, int seat, const char *reason);

/* Takes r out of the registry and frees it; a room that has not ended (and the server is not
 * stopping) is stored as aborted first. r is gone after. */
void room_free(struct room *r);

/* ---------- room_waiting.c: rooms waiting for players ---------- */

/* Makes the index of waiting rooms by owner. Returns 0, or -1 on OOM. */
int room_waiting_init(void);

/* Frees that index (the rooms are the caller's to free). At shutdown, from rooms_shutdown. */
void room_waiting_shutdown(void);

/* Whether owner may have one more room waiting; msg says why not. */
int room_waiting_allowed(const struct room_owner *owner, char *msg, size_t msglen);

/* Counts the new room against its owner (may be NULL) and arms its expiry and idle timers. */
void room_waiting_start(struct room *r, const struct room_owner *owner);

/* The room no longer waits (it started or closed): its owner may open another. */
void room_waiting_done(struct room *r);

/* A room that let go of its Lua state gets it back as it starts. Returns 0, or -1 when the game
 * cannot be set up again (its views stay, so the room can still be finished and shown). */
int room_waiting_wake(struct room *r);

/* ---------- room_seats.c: seats and membership ---------- */

/* Where s is attached to r, or NULL. */
struct membership *room_membership(struct session *s, const struct room *r);

/* Why s may not act in r now, or NULL with *m its membership: NOT_IN_GAME without a seat,
 * NOT_YOUR_TURN while the game has not started or is over (a room that is not active may have
 * let its Lua state go), with msg. For the messages a seated player sends (command, hand_gm). */
const char *room_seated_active(const struct room *r, struct session *s, struct membership **m,
                               char *msg, size_t msglen);

/* Holds st's seat for --seat-hold seconds; then its player has left. */
void room_seats_hold(struct seat *st);

/* The payload of player_joined and player_left for st (malloc'd; NULL without memory). */
char *room_seats_payload(const struct seat *st);

/* Seats agent a in st (its own Lua state). Returns 0, or -1 with msg. */
int room_seats_agent(struct room *r, struct seat *st, struct script_version *a, char *msg,
                     size_t msglen);

/* room_free's part for seats and spectators: sockets detached, holds, agents and views freed. */
void room_seats_free(struct room *r);

/* ---------- room_log.c: the event log and the inputs ---------- */

/* Appends an event (takes payload, which may be NULL without memory: nothing is logged), stores
 * it and sends it to everyone attached; reply_to gets re. */
void room_log_event(struct room *r, const char *type, char *payload, int only_seat,
                    struct session *reply_to, json_t *re);

/* Records an input that changed the game (action copied) and stores it with the state hash. */
void room_log_input(struct room *r, int seat, const char *action, const char *source,
                    const char *hash);

/* {"event":<the event's JSON>}, malloc'd (NULL without memory): the payload room_log_event
 * takes. */
char *room_log_event_payload(const struct referee_event *e);

/* room_free's part for the log and the inputs. */
void room_log_free(struct room *r);

/* ---------- room_state.c: game_state ---------- */

/* Sends a fresh game_state: to only (when non-NULL) or to everyone attached. reply_to gets re.
 * Keeps the view of an agent to move for its next decision, and a finished room's final
 * views. */
void room_state_sync(struct room *r, struct session *only, struct session *reply_to, json_t *re);

/* The players array of game_state as JSON text (malloc'd; NULL without memory). */
char *room_state_players_json(const struct room *r);

/* ---------- room_turn.c: turn-based games ---------- */

/* The game starts: the seat to move, then room_turn_advance. */
void room_turn_start(struct room *r);

/* After anything that may change whose turn it is: deadline, game_state to all (rp's requester
 * gets re), then either the agent to move starts thinking or the turn clock starts. */
void room_turn_advance(struct room *r, struct reply *rp);

/* Applies a turn-based action of seat (source: "player", "agent", "external", "timeout"): one
 * referee call checks it, applies it and says what follows. rp (may be NULL) is the
 * requester's answer. Returns NULL when applied, else the error code with msg. */
const char *room_turn_apply(struct room *r, int seat, const char *action, const char *source,
                            struct reply *rp, char *msg, size_t msglen);

/* A random legal move for seat applied as source. Returns 0 when applied, 1 when the seat has
 * no legal move or it did not apply, -1 when the referee call failed. */
int room_turn_random(struct room *r, int seat, const char *source);

/* (Re)arms the turn clock to fire in ms. */
void room_turn_arm(struct room *r, int ms);

/* A rebuilt room carries on: the seat to move (to_move, or the referee's when negative), and
 * its turn clock with the deadline it had. */
void room_turn_resume(struct room *r, int to_move);

/* ---------- room_realtime.c: real-time games ---------- */

/* Registers the real-time rooms' metrics (rooms_init). Returns 0, or -1 on OOM. */
int room_realtime_init(void);

/* The room joins the tick scheduler (its ticks continue from r->tick_no) and sends its first
 * state. */
void room_realtime_start(struct room *r);

/* The room leaves the scheduler (finish). */
void room_realtime_stop(struct room *r);

/* A player's input (JSON text, borrowed) checked now and queued for the next tick; re, when
 * non-NULL, is answered with input_ack. Returns NULL, or ILLEGAL_MOVE/INTERNAL with msg. */
const char *room_realtime_input(struct room *r, struct session *s, int seat, const char *text,
                                json_t *re, char *msg, size_t msglen);

/* room_free's part for the scheduler entry and the queue. */
void room_realtime_free(struct room *r);

/* ---------- room_external.c: external agents ---------- */

/* Registers the external agents' metrics (rooms_init). Returns 0, or -1 on OOM. */
int room_external_init(void);

/* Whether external agent name can serve a seat of r: the game is turn-based and a connection
 * of that agent is open here. */
int room_external_available(const struct room *r, const char *name);

/* Makes the free seat st external agent name's (the caller stores and announces it). */
void room_external_seat(struct seat *st, const char *name);

/* The external seat st is to move (its deadline set): agent_turn to the agent's connection and
 * the turn clock armed for --agent-turn-ms; with no connection open, the clock fires at once. */
void room_external_ask(struct room *r, const struct seat *st);

/* The turn clock fired for external seat: a random legal move (late, or offline). */
void room_external_timeout(struct room *r, int seat);

/* ---------- room_store.c: the rows a room writes ---------- */

/* The games row as the room is now. */
void room_store_game(const struct room *r);

/* A game_participants row for seat (score borrowed, may be NULL). */
void room_store_participant(const struct room *r, int seat, json_t *score);

/* The final rows of a finished room, and the players' statistics and ratings. */
void room_store_settle(struct room *r);

/* The game_events row of e. */
void room_store_event(const struct room *r, const struct log_entry *e);

/* The game_inputs row of a turn-based input: action is its text (in->action is a copy, NULL
 * when there was no memory for it), hash the state's after it. */
void room_store_input(const struct room *r, const struct input_rec *in, const char *action,
                      const char *hash);

/* The game_inputs row of a real-time input (or a checkpoint, with its hash) at tick. */
void room_store_tick_input(struct room *r, const struct queued_input *in, uint64_t tick,
                           const char *hash);

/* The games row of a room closed before it ended (status and reason aborted). */
void room_store_aborted(const struct room *r);

/* ---------- room_docs.c: per-player documents (documents.h) ---------- */

/* The game starts: each human seat's newest document for the game goes to the referee, and the
 * version it starts from into the seat's game_participants row. Returns 0, or -1 when the
 * referee call failed (counted by room_referee_failed). */
int room_docs_start(struct room *r);

/* The documents a referee call saved (res->saves) become new versions in the store, authored
 * by the rules, the seat's player or a game master's seat. */
void room_docs_saved(struct room *r, const struct referee_result *res);

/* ---------- room_lobby.c: summaries and the lobby ---------- */

/* Takes s off the lobby's subscribers (its socket closed). */
void room_lobby_unsubscribe(struct session *s);

/* Frees the subscribers' list (shutdown). */
void room_lobby_shutdown(void);

#endif
