/* room_turn.c - turn-based games and player input: whose turn it is, the turn clock and its
 * timeout policy, an agent to move choosing on a worker, and an action applied by one referee
 * call. A real-time room's input goes to its queue instead (room_realtime.c). */
#include "agent.h"
#include "frame.h"
#include "json_text.h"
#include "log.h"
#include "loop.h"
#include "replay.h"
#include "room_internal.h"

#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_agent_done(const char *room_id, int seat, const struct agent_result *res);

/* rp's answer is carried by the first message its requester gets; the caller answers an error
 * code. */
const char *room_turn_apply(struct room *r, int seat, const char *action, const char *source,
                            struct reply *rp, char *msg, size_t msglen)
{
    static struct referee_result res; /* large; the loop thread's alone */
    TIMED(r,
          referee_apply(&r->ref, seat, action, strlen(action), (double)room_logical_now(r), &res));
    room_script_lines(r, &res);
    if (res.verdict == REFEREE_FAILED) {
        room_referee_failed(r, "apply", res.status, res.err);
        snprintf(msg, msglen, "the game script failed (%s)", vm_status_name(res.status));
        return "INTERNAL";
    }
    r->script_failures = 0;
    if (res.verdict == REFEREE_NOT_YOUR_TURN) {
        snprintf(msg, msglen, "it is not your turn");
        return "NOT_YOUR_TURN";
    }
    if (res.verdict == REFEREE_ILLEGAL) {
        snprintf(msg, msglen, "%s", res.reason ? res.reason : "illegal action");
        return "ILLEGAL_MOVE";
    }
    room_log_input(r, seat, action, source, res.hash);
    room_docs_saved(r, &res);
    for (int i = 0; i < res.nevents; i++) {
        json_t *re;
        struct session *to = room_reply_take(rp, &re);
        room_log_event(r, "game_event", room_log_event_payload(&res.events[i]), res.events[i].seat,
                       to, re);
    }
    /* Another seat than the one to move acted (the game master, or a seat to_move listed
     * beside it) and the turn did not pass: the seat to move keeps its deadline, and an agent
     * to move is not asked again. */
    int same_turn = seat != r->to_move && res.to_move == r->to_move;
    r->to_move = res.to_move;
    if (res.outcome) {
        char *over = strdup(res.outcome);
        room_finish(r, over, rp);
        free(over);
    } else if (same_turn) {
        json_t *re;
        struct session *to = room_reply_take(rp, &re);
        room_state_sync(r, NULL, to, re);
    } else {
        room_turn_advance(r, rp);
    }
    return NULL;
}

/* The referee's generator, never the game's; a failed referee call is counted by
 * room_referee_failed. */
int room_turn_random(struct room *r, int seat, const char *source)
{
    char *action = NULL, err[600], msg[300];
    enum vm_status st = referee_random_legal(&r->ref, seat, &action, err, sizeof err);
    if (room_referee_failed(r, "legal", st, err) < 0) return -1;
    int rc = action && !room_turn_apply(r, seat, action, source, NULL, msg, sizeof msg) ? 0 : 1;
    free(action);
    return rc;
}

static void on_turn_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct room *r = arg;
    int seat = r->to_move;
    if (r->status != ROOM_ACTIVE || !seat) return;
    if (r->seats[seat].external) {
        room_external_timeout(r, seat);
        return;
    }
    log_msg(LOG_INFO, "turn clock expired", "{ss,si,ss}", "game", r->id, "seat", seat, "policy",
            r->timeout_random ? "random" : "forfeit");
    char *ev = NULL;
    if (asprintf(&ev, "{\"event\":{\"kind\":\"timeout\",\"seat\":%d}}", seat) < 0) ev = NULL;
    room_log_event(r, "game_event", ev, 0, NULL, NULL);
    if (r->timeout_random && room_turn_random(r, seat, "timeout") == 0) return;
    room_forfeit(r, seat, "timeout");
}

/* The agent to move starts choosing on a worker, from the view and legal list the last state
 * kept. */
static void agent_choose_now(struct room *r, const struct seat *st)
{
    if (agent_choose(st->agent, r->id, r->agent_view, r->agent_legal ? r->agent_legal : "[]",
                     room_logical_now(r), room_cfg->cpu_choose_ms, on_agent_done) < 0)
        log_msg(LOG_WARN, "agent busy or not queued", "{ss,si}", "game", r->id, "seat", r->to_move);
}

void room_turn_arm(struct room *r, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (!r->turn_timer) r->turn_timer = evtimer_new(loop_base(), on_turn_timeout, r);
    if (r->turn_timer) event_add(r->turn_timer, &tv);
}

void room_turn_advance(struct room *r, struct reply *rp)
{
    if (r->turn_timer) event_del(r->turn_timer);
    r->deadline_wall = 0;
    r->ext_asked = 0;
    const struct seat *st = r->to_move ? &r->seats[r->to_move] : NULL;
    if (st && st->kind == SEAT_HUMAN && r->turn_time_ms > 0)
        r->deadline_wall = loop_wall_ms() + r->turn_time_ms;
    if (st && st->external) r->deadline_wall = loop_wall_ms() + room_cfg->agent_turn_ms;
    json_t *re;
    struct session *to = room_reply_take(rp, &re);
    room_state_sync(r, NULL, to, re);
    if (r->status != ROOM_ACTIVE || !st) return;
    if (st->external)
        room_external_ask(r, st);
    else if (st->kind == SEAT_AGENT && st->agent && r->agent_view)
        agent_choose_now(r, st);
    else if (r->deadline_wall > 0)
        room_turn_arm(r, r->turn_time_ms);
}

static void on_agent_done(const char *room_id, int seat, const struct agent_result *res)
{
    struct room *r = room_find(room_id);
    if (!r || r->status != ROOM_ACTIVE || r->to_move != seat || r->seats[seat].kind != SEAT_AGENT)
        return;
    char msg[300];
    if (res->status != VM_OK) {
        room_count_script_failure(res->status);
        log_msg(LOG_WARN, "agent failed: playing a random legal move", "{ss,ss,si,ss,ss}", "game",
                r->id, "agent", agent_version(r->seats[seat].agent)->name, "seat", seat, "kind",
                vm_status_name(res->status), "error", res->error);
    }
    if (res->reasoning && *res->reasoning) {
        json_t *ev = json_pack("{s{ss,si,ss}}", "event", "kind", "agent_reasoning", "seat", seat,
                               "text", res->reasoning);
        room_log_event(r, "game_event", json_text_dump(ev), 0, NULL, NULL);
        json_decref(ev);
    }
    if (res->action_json &&
        !room_turn_apply(r, seat, res->action_json, "agent", NULL, msg, sizeof msg))
        return;
    if (res->action_json)
        log_msg(LOG_WARN, "agent chose an illegal move: playing a random legal move", "{ss,si,ss}",
                "game", r->id, "seat", seat, "reason", msg);
    if (room_turn_random(r, seat, "agent") > 0) /* no move, or one that failed: it cannot go on */
        room_finish(r, "{\"reason\":\"script_error\"}", NULL);
}

void room_turn_start(struct room *r)
{
    char err[600];
    if (room_referee_failed(r, "to_move", referee_to_move(&r->ref, &r->to_move, err, sizeof err),
                            err) < 0 ||
        r->status != ROOM_ACTIVE)
        return; /* a script failure may have ended it */
    room_turn_advance(r, NULL);
}

void room_turn_resume(struct room *r, int to_move)
{
    char err[600];
    if (to_move >= 0)
        r->to_move = to_move;
    else if (room_referee_failed(r, "to_move",
                                 referee_to_move(&r->ref, &r->to_move, err, sizeof err), err) < 0)
        return;
    /* The turn began at the last input; a deadline that passed while the server was down runs
     * the timeout policy now. */
    uint64_t began = 0;
    for (size_t i = r->ninputs; i-- > 0 && !began;) /* a handover left the turn clock alone */
        if (strcmp(r->inputs[i].source, REPLAY_HANDOVER) != 0) began = r->inputs[i].t;
    double deadline = r->started_wall + (double)began + r->turn_time_ms;
    room_turn_advance(r, NULL); /* a new deadline, the agent to move asked, views kept */
    if (r->status != ROOM_ACTIVE || r->deadline_wall <= 0) return;
    r->deadline_wall = deadline;
    double left = deadline - loop_wall_ms();
    struct timeval tv = {0, 0};
    if (left > 0)
        tv = (struct timeval){(time_t)(left / 1000), (suseconds_t)fmod(left, 1000) * 1000};
    event_add(r->turn_timer, &tv);
}

const char *room_input(struct room *r, struct session *s, json_t *action, json_t *re, char *msg,
                       size_t msglen)
{
    struct membership *m = room_membership(s, r);
    if (!m || m->seat == 0) {
        snprintf(msg, msglen, "you do not hold a seat in this game");
        return "NOT_IN_GAME";
    }
    if (r->status != ROOM_ACTIVE) {
        snprintf(msg, msglen,
                 r->status == ROOM_WAITING ? "the game has not started" : "the game is over");
        return "NOT_YOUR_TURN";
    }
    char *text = json_text_dump(action);
    if (!text) return "INTERNAL";
    const char *code;
    if (r->realtime) {
        code = room_realtime_input(r, s, m->seat, text, re, msg, msglen);
    } else {
        struct reply rp = {s, re};
        code = room_turn_apply(r, m->seat, text, "player", &rp, msg, msglen);
    }
    free(text);
    return code;
}

const char *room_command(struct room *r, struct session *s, const char *text, json_t *re, char *msg,
                         size_t msglen)
{
    struct membership *m;
    const char *refused = room_seated_active(r, s, &m, msg, msglen);
    if (refused) return refused;
    char *action = NULL, *answer = NULL, err[600];
    enum vm_status st;
    TIMED(r, st = referee_command(&r->ref, m->seat, text, &action, &answer, err, sizeof err));
    const char *code = NULL;
    if (st != VM_OK) {
        room_script_failure_report(r, st, "command", err);
        snprintf(msg, msglen, "the game's command failed (%s)", vm_status_name(st));
        code = "INTERNAL";
    } else if (action) {
        json_t *a = json_loads(action, JSON_DECODE_ANY, NULL);
        code = a ? room_input(r, s, a, re, msg, msglen) : "INTERNAL";
        json_decref(a);
    } else {
        /* json_pack refuses text that is not UTF-8: the game's answer is checked here. */
        json_t *p = json_pack("{ss}", "text", answer ? answer : "");
        struct wsbuf *b = NULL;
        if (p) {
            struct frame *f = frame_begin("command_answer");
            frame_game(f, r->id, 0);
            frame_key(f, "payload");
            frame_json(f, p);
            b = frame_end(f, re);
            json_decref(p);
        }
        if (!b) {
            snprintf(msg, msglen, "the game's answer is not UTF-8 text");
            code = "INTERNAL";
        }
        room_send_once(s, b);
    }
    free(action);
    free(answer);
    return code;
}
