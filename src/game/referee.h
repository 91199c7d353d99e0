/* referee.h - the one owner of lua/referee.lua in a Lua state, as agent.c owns agent_host.lua.
 *
 * A room (room.c) and a replay (replay.c) drive a game through these calls and never touch the
 * Lua stack for it. Each call is one crossing into Lua under the caller's CPU budget, with its
 * arguments pushed and its results read here. An applied turn-based move takes one call
 * (referee_apply: verdict, events, outcome, next seat to move, state hash and log lines
 * together) and the views one more (referee_views).
 *
 * Results point into the state (strings the referee returned): they stay valid until the next
 * call on the same referee, which is why each result struct is filled, read and then left. */
#ifndef MT_REFEREE_H
#define MT_REFEREE_H

#include "scripts.h"
#include "vm.h"

#include <stddef.h>

#define REFEREE_MAX_EVENTS 256 /* ctx.emit's limit per call (lua/referee.lua) */
#define REFEREE_MAX_LOGS 20    /* ctx.log lines kept between two calls */
#define REFEREE_MAX_SAVES 16   /* ctx.save_doc's limit per call (lua/referee.lua) */
#define REFEREE_MAX_SEATS 16   /* game.players.max's limit (lua/referee.lua) */

struct referee {
    struct vm *vm;
    int budget_ms; /* the CPU budget of each call but setup */
    int nseats;
};

struct referee_event {
    const char *json; /* the event's JSON text */
    size_t len;
    int seat; /* 0: for everyone; else only this seat sees it */
};

enum referee_verdict {
    REFEREE_APPLIED,       /* applied (or, for a check, valid) */
    REFEREE_NOT_YOUR_TURN, /* turn-based, and not this seat's turn */
    REFEREE_ILLEGAL,       /* refused by the game (reason says why) */
    REFEREE_FAILED,        /* the script failed: status and err say how */
};

/* A document a call saved (ctx.save_doc): the seat whose player's document it is, its JSON text,
 * the note, and by, the seat whose player made the edit (0: the rules). */
struct referee_save {
    int seat;
    const char *json;
    size_t len;
    const char *note;
    int by;
};

/* What one call did. Strings point into the state until the next call. */
struct referee_result {
    enum referee_verdict verdict;
    enum vm_status status; /* VM_OK unless verdict is REFEREE_FAILED */
    char err[600];         /* the failure's message ("file:line: ...") */
    const char *reason;    /* REFEREE_ILLEGAL: the game's reason */
    struct referee_event events[REFEREE_MAX_EVENTS];
    int nevents;
    const char *outcome;                /* the result's JSON when the game ended, else NULL */
    int to_move;                        /* the seat to move next (turn-based; 0: nobody) */
    char hash[17];                      /* the state's replay hash after the call (referee_apply) */
    const char *logs[REFEREE_MAX_LOGS]; /* ctx.log lines the call made */
    int nlogs;
    struct referee_save saves[REFEREE_MAX_SAVES]; /* documents saved (apply, tick), in order */
    int nsaves;
};

/* One seat's view, from referee_views. */
struct referee_view {
    const char *json;  /* NULL when the seat was not asked for */
    const char *legal; /* the legal actions' JSON for the seat to move, else NULL */
};

/* Opens the referee for version v in vm (a state from trusted_new("referee") or trusted_open):
 * loads the game with config_json (may be NULL), the seed and nseats seats, under budget_ms of
 * CPU (setup's, --cpu-load-ms). Later calls get call_budget_ms each. Returns VM_OK with
 * *meta_json (malloc'd: name, title, min, max, tick_rate, ...; NULL if meta_json is NULL), or
 * the failure with err. */
enum vm_status referee_setup(struct referee *ref, struct vm *vm, const struct script_version *v,
                             const char *config_json, double seed, int nseats, int budget_ms,
                             int call_budget_ms, char **meta_json, char *err, size_t errlen);

/* referee_setup in two steps, for states prepared ahead of their room (referee_pool.h).
 * referee_load loads version v's game into vm (a state from trusted_open, module on the stack)
 * under budget_ms, with no room yet: any thread, the state being the caller's alone. *poolable
 * is 1 when the game's code drew no random numbers while it loaded (those must come from the
 * room's generator: such a version is set up with referee_setup). referee_start then starts it
 * as referee_setup would with the same arguments (loop thread). */
enum vm_status referee_load(struct vm *vm, const struct script_version *v, int budget_ms,
                            int *poolable, char *err, size_t errlen);
enum vm_status referee_start(struct referee *ref, struct vm *vm, const char *config_json,
                             double seed, int nseats, int budget_ms, int call_budget_ms,
                             char **meta_json, char *err, size_t errlen);

/* Checks seat's action (JSON text) without applying it: turn-based games check the turn, then
 * the game's validate. verdict is REFEREE_APPLIED when valid. */
void referee_check(struct referee *ref, int seat, const char *action, size_t len, int turn_based,
                   double now, struct referee_result *out);

/* Checks and applies a turn-based action at logical time now: verdict, and when applied the
 * events, the outcome, the next seat to move, the state's hash and the documents saved. The state
 * is unchanged unless applied. ctx.log lines are returned whatever the verdict. */
void referee_apply(struct referee *ref, int seat, const char *action, size_t len, double now,
                   struct referee_result *out);

/* An input of a real-time tick: seat and its action's JSON text. */
struct referee_input {
    int seat;
    const char *action;
    size_t len;
};

/* Advances a real-time game by one tick with its queued inputs: events, outcome and the
 * documents saved. With
 * want_hash, the state's hash after the tick too (checkpoints). */
void referee_tick(struct referee *ref, const struct referee_input *inputs, int n, double now,
                  int want_hash, struct referee_result *out);

/* The views of the seats in the mask wanted (1 << seat; 0 is the spectators'): out[0..nseats].
 * to_move (0: none) gets its legal actions too. Returns VM_OK, or the failure (out untouched)
 * with err. */
enum vm_status referee_views(struct referee *ref, int to_move, unsigned wanted,
                             struct referee_view *out, char *err, size_t errlen);

/* A legal action for seat, picked by the referee's own generator: *action (malloc'd JSON) or
 * NULL when the game has none. */
enum vm_status referee_random_legal(struct referee *ref, int seat, char **action, char *err,
                                    size_t errlen);

/* A line of text from seat (the `command` message) through the game's command: *action
 * (malloc'd JSON, to be checked and applied like any action) when it made one, else *answer
 * (malloc'd text for seat alone; the referee's own when the game takes no commands). Nothing
 * in the game changes. */
enum vm_status referee_command(struct referee *ref, int seat, const char *text, char **action,
                               char **answer, char *err, size_t errlen);

/* One event (its JSON text, as seat sees it; 0: a spectator) as one line of text, through the
 * game's describe (docs/scripting.md): *line (malloc'd, at most 4000 bytes) or NULL when the game
 * has no describe or gave no line. Nothing in the game changes, and settling the stack ends the
 * previous call's results: never call it while a referee_result is being read. */
enum vm_status referee_describe(struct referee *ref, int seat, const char *event_json, char **line,
                                char *err, size_t errlen);

/* The players' documents as the game starts (a room at its start, a replay or a rebuild before
 * the first input): docs_json is {"<seat>": {"doc": <document>} or {}} for every seat with a
 * player ({}: no document yet); seats it leaves out have none (agents). ctx.doc(seat) returns
 * the seat's document, ctx.save_doc replaces it for the rest of the game. */
enum vm_status referee_set_docs(struct referee *ref, const char *docs_json, char *err,
                                size_t errlen);

/* The game master's seat passes to seat (a handover, live or replayed; docs/protocol.md,
 * hand_gm): ctx.is_gm, who may act at any time and who gets view(state, "gm") follow. The state
 * is unchanged: hash (17 bytes) gets its replay hash. Fails when the game has no game master or
 * seat is not one of its seats. */
enum vm_status referee_set_gm(struct referee *ref, int seat, char hash[17], char *err,
                              size_t errlen);

/* The seat to move now (0: nobody), for a room that starts or resumes. */
enum vm_status referee_to_move(struct referee *ref, int *seat, char *err, size_t errlen);

#endif
