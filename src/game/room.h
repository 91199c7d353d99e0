/* room.h - one game being played: seats, spectators, the referee's Lua state, the event log.
 *
 * A room owns a Lua state in which lua/referee.lua runs the game version the room started
 * with. Everything that happens in the room is an event of its log, numbered by seq (1, 2, 3,
 * ... with no gaps): game events the script emits, players joining and leaving, chat, the end.
 * Each event is sent to every attached socket in that socket's view (a seat-only event shows
 * as {"kind":"hidden"} to the others) and kept, so resume can replay exactly what was missed.
 * Every input that changed the game (player, agent or turn-clock action) is recorded with its
 * seat and logical time, which with the seed and version is enough to replay the game.
 *
 * Errors are returned as protocol codes ("NOT_FOUND", "GAME_FULL", ...) with a message in the
 * caller's buffer; a room never sends an error itself. Loop thread only.
 *
 * The module is room.c (registry, lifecycle) and the room_*.c files, one concern each; the
 * list, and struct room, are in room_internal.h, private to them. */
#ifndef MT_ROOM_H
#define MT_ROOM_H

#include "config.h"
#include "scripts.h"
#include "session.h"

#include <jansson.h>
#include <stdint.h>

#define ROOM_MAX_SEATS 16

enum room_status { ROOM_WAITING, ROOM_ACTIVE, ROOM_COMPLETED };

struct room;

/* Where a session is attached: a seat (1..n) or 0 for a spectator. Owned by the room module;
 * session->rooms is the head of the list. */
struct membership {
    struct room *room;
    int seat;
    struct membership *next;
};

/* Sets the module up with cfg (borrowed for the server's life). Returns 0, or -1 without
 * memory. */
int rooms_init(const struct config *cfg);

/* Frees every room. A room that has not ended stays in the store as it is (waiting or
 * active), not aborted: the next start rebuilds it (room_restore). */
void rooms_shutdown(void);

/* Who a room was created for: its waiting time counts against this player and address
 * (--waiting-rooms-per-player, --waiting-rooms-per-address) until it starts or closes. */
struct room_owner {
    const char *player_id;
    const char *address;
};

/* Creates a room for the current version of game. config may be NULL (borrowed); owner may be
 * NULL (a room the matchmaker fills at once). Returns NULL with code/message set: NOT_FOUND (no
 * such game), SERVER_BUSY (room limit), RATE_LIMIT_EXCEEDED (the owner has too many rooms
 * waiting), INTERNAL (the script failed in setup). A created room that has not started
 * --waiting-room-ttl seconds later closes: its players get game_over {"reason":"expired"}. */
struct room *room_create(const char *game, json_t *config, int is_private,
                         const struct room_owner *owner, const char **code, char *msg,
                         size_t msglen);

/* Rebuilds a room that had not ended when the server stopped, from its stored row (as
 * store_load_game delivers it): the version it started with, its seats (humans held for
 * --seat-hold as after a disconnect, agents set up again), its log, and its state by replaying
 * its inputs through the same code as `monkeytown replay` (replay.h), checked event by event.
 * A turn clock keeps its deadline (one that passed runs the timeout policy now); a real-time
 * room ticks on from its last durable tick. Returns 0 (rebuilt), 1 (its log holds its
 * game_over: the row is closed as it ended), or -1 with why (the caller closes it as
 * aborted). */
int room_restore(json_t *game, char *why, size_t len);

/* Looks a room up by id. NULL when there is none. */
struct room *room_find(const char *id);

/* The room's id, its game's name (both owned by the room) and its status. */
const char *room_id(const struct room *r);
const char *room_game(const struct room *r);
enum room_status room_status(const struct room *r);

/* Seats a human (player_id, name) in the first free seat. s may be NULL (seated over HTTP, to
 * attach later). Returns the seat, or 0 with code GAME_FULL. Re-seating a player who is
 * already seated returns that seat. */
int room_seat_player(struct room *r, const char *player_id, const char *name, struct session *s,
                     const char **code);

/* Fills every free seat (up to the room's target size) with the agent. agent NULL: the
 * default agent for the game. A name no Lua agent has is an external agent's, when one of its
 * connections is open here and the game is turn-based (room_external.c). Returns 0, or -1
 * with code NOT_FOUND when no such agent can play this game. */
int room_fill_with_agent(struct room *r, const char *agent, const char **code, char *msg,
                         size_t msglen);

/* Puts agent (a Lua agent, or an external one as room_fill_with_agent says) in seat, one of the
 * room's free seats other than the creator's. Returns 0, or -1 with code BAD_MESSAGE (no such
 * free seat), NOT_FOUND (no such agent for this game) or INTERNAL (it failed to start). */
/* How many seats a room of game gets with config: config.seats when it is a whole number from
 * the game's players.min to players.max, else players.max (at most ROOM_MAX_SEATS). */
int room_seats_for(const struct script_version *game, const json_t *config);

int room_seat_agent(struct room *r, int seat, const char *agent, const char **code, char *msg,
                    size_t msglen);

/* Whether agent (NULL: the default) can fill a seat of game: a Lua agent that plays it, or an
 * external agent of that name with a connection open here, for a turn-based game. */
int rooms_agent_available(const char *game, const char *agent);

/* An external agent's answer (agent_move) from its connection s: the action (and reasoning, a
 * string or NULL, cut to 500 bytes, logged as an agent_reasoning event) for the turn asked of s.
 * Answers s with agent_move_ack (re) when applied. Returns NULL, or NOT_IN_GAME (the agent
 * holds no seat here), NOT_YOUR_TURN (no turn asked of s: late, or another connection's),
 * ILLEGAL_MOVE or INTERNAL (then a random legal move was played) with msg. */
const char *room_agent_move(struct room *r, struct session *s, json_t *action,
                            const char *reasoning, json_t *re, char *msg, size_t msglen);

/* Attaches s as a spectator. */
int room_watch(struct room *r, struct session *s);

/* Sends s its game_state (re added when non-NULL), after attaching it to its seat or as a
 * spectator. Starts the game when every seat is taken. */
void room_send_state(struct room *r, struct session *s, json_t *re);

/* Whether the room runs on the tick scheduler (its game has a tick_rate). */
int room_is_realtime(const struct room *r);

/* The seat the player holds in r, or 0. */
int room_seat_of(const struct room *r, const char *player_id);

/* A player's action. Returns NULL when applied (events and states are sent; the first message
 * the sender gets because of it carries re), or an error code: NOT_IN_GAME, NOT_YOUR_TURN,
 * ILLEGAL_MOVE (reason in msg), INTERNAL. */
const char *room_input(struct room *r, struct session *s, json_t *action, json_t *re, char *msg,
                       size_t msglen);

/* A line of text from s (the `command` message, text checked by the caller): the game's
 * command makes it an action, applied as room_input applies one (same codes), or answers s
 * alone with `command_answer {text}` carrying re. A failing command answers INTERNAL and, unlike
 * a failing move, never ends the game: any player can type anything. NOT_IN_GAME for a socket
 * without a seat. */
const char *room_command(struct room *r, struct session *s, const char *text, json_t *re, char *msg,
                         size_t msglen);

/* The game master's seat handed by s, its holder, to seat (docs/protocol.md, hand_gm): the
 * handover is recorded as an input (so a replay and a rebuild make it too), gm_changed {from, to}
 * is logged for everyone (s's copy carries re), and everyone gets a fresh game_state (the
 * omniscient view moves). Turn-based games only. Returns NULL, or the error code with msg. */
const char *room_hand_gm(struct room *r, struct session *s, int seat, json_t *re, char *msg,
                         size_t msglen);

/* One event as seat (0: a spectator) sees it, event_json its JSON text, rendered as one line
 * by the game's describe (docs/scripting.md) for the text bridge: returns 0 with *line
 * (malloc'd) or NULL when the game gave none, or -1 when it cannot be asked (no Lua state now)
 * or failed (logged; never counts toward ending the game). Not while the room is sending. */
int room_describe(struct room *r, int seat, const char *event_json, char **line);

/* Chat from s (text checked by the caller). Returns NULL or NOT_IN_GAME. The broadcast carries
 * re for the sender when re is non-NULL. */
const char *room_chat(struct room *r, struct session *s, const char *text, json_t *re);

/* s leaves: a seat is freed (a running game is forfeited), a spectator detached. The answer
 * (player_left, with re) is sent by the room. Returns NULL or NOT_IN_GAME. */
const char *room_leave(struct room *r, struct session *s, json_t *re);

/* Re-attaches s after a reconnect and sends replay (events after last_seq) then game_state,
 * or only game_state when the gap is older than the replay buffer. */
void room_resume(struct room *r, struct session *s, uint64_t last_seq, json_t *re);

/* The socket is gone: its seats are held for seat-hold seconds, its spectating ends. */
void rooms_session_closed(struct session *s);

/* Ends the room now with result_json (an admin's "aborted"); its players get the final state
 * and game_over. */
void room_end(struct room *r, const char *result_json);

/* Every room, private and finished ones too (admin view). New reference. */
json_t *rooms_all_json(void);

/* Lobby and catalog views (new references). */
json_t *room_summary_json(const struct room *r);
json_t *rooms_lobby_json(void);
json_t *room_log_json(const struct room *r);

/* Counts for /metrics and /health. */
size_t rooms_count(void);

/* Adds s to the lobby's subscribers (until its socket closes). */
void rooms_lobby_subscribe(struct session *s);

/* Sends a lobby_update {event, room} to every lobby subscriber. */
void rooms_lobby_broadcast(const char *event, const struct room *r);

/* Called with every public room's lobby event ("opened", "changed", "closed"), its id and its
 * summary (borrowed), before the subscribers get it: the cluster keeps its shared lobby so. */
typedef void (*rooms_lobby_hook)(const char *event, const char *room_id, json_t *summary);
void rooms_set_lobby_hook(rooms_lobby_hook fn);

/* Called with every lobby_update frame this instance sends its own subscribers (the cluster
 * relay passes them to the other instances), and the other way round: rooms_lobby_deliver
 * sends a frame that came from another instance to this one's subscribers. */
void rooms_set_lobby_frame_hook(void (*fn)(const struct wsbuf *b));
void rooms_lobby_deliver(const char *frame, size_t len);

/* The cluster's stale-owner guard: while held() says so (this instance's lease lapsed, and it
 * does not yet know whether its rooms are still its own), what rooms send to sockets is
 * dropped instead, and rooms_output_held_back() then returns 1 once (and clears it): the
 * sockets attached are told to reconnect (room_restart_sockets: close 1012) and resume, which
 * gives them exactly what they missed from whoever owns the room. */
void rooms_set_output_gate(int (*held)(void));
int rooms_output_held_back(void);
void room_restart_sockets(struct room *r);

/* Calls fn(id, room, arg) for every room (fn must not free rooms). */
void room_each(void (*fn)(const char *key, void *value, void *arg), void *arg);

/* Another instance took the room over: its sockets are told to reconnect (1012) and it is
 * freed without a word to the store (the new owner writes its row). */
void room_disown(struct room *r);

/* Called with held 1 when a room starts being served here (created or restored) and 0 when
 * its room is freed: the cluster's room directory records the owner so. */
typedef void (*rooms_owner_hook)(const char *room_id, int held);
void rooms_set_owner_hook(rooms_owner_hook fn);

#endif
