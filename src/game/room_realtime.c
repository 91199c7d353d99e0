/* room_realtime.c - real-time games on the tick scheduler (tick.h): inputs validated as they
 * arrive and queued for the next tick, agents acting on their latest view, the tick itself
 * (events out, a checkpoint hash every second, a state every send_every ticks), and the Lua
 * garbage collection put off to the scheduler's idle time. */
#include "agent.h"
#include "frame.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "room_internal.h"
#include "tick.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECKPOINT_S 1 /* real-time: a state hash is recorded every second */

static struct metric *m_inputs_dropped, *m_tick_lua, *m_state_lua, *m_idle_gc;

int room_realtime_init(void)
{
    m_inputs_dropped = metrics_counter("inputs_dropped_total",
                                       "Inputs dropped from full room queues, by game", "game");
    m_tick_lua = metrics_histogram(
        "tick_lua_ms", "Time one room tick spends in Lua (agents acting and the game's tick), ms",
        "game", tick_ms_buckets, TICK_MS_NBUCKETS);
    m_state_lua = metrics_histogram(
        "state_lua_ms",
        "Time one state sent by a real-time room spends in Lua (views and their encoding), ms",
        "game", tick_ms_buckets, TICK_MS_NBUCKETS);
    m_idle_gc = metrics_counter("tick_idle_gc_ms_total",
                                "Lua garbage collection of real-time rooms run in the tick "
                                "scheduler's idle time instead of in their ticks, ms",
                                "game");
    return m_inputs_dropped && m_tick_lua && m_state_lua && m_idle_gc ? 0 : -1;
}

/* Queues a validated input for the next tick. When the queue is full the sender's oldest
 * queued input makes room (or, when it has none there, this one is dropped); both count. */
static void enqueue(struct room *r, int seat, const char *action, const char *source)
{
    if (r->nqueue == INPUT_QUEUE_MAX) {
        int victim = -1;
        for (int i = 0; i < r->nqueue && victim < 0; i++)
            if (r->queue[i].seat == seat) victim = i;
        metric_add(m_inputs_dropped, r->game->name, 1);
        if (victim < 0) return;
        free(r->queue[victim].action);
        memmove(&r->queue[victim], &r->queue[victim + 1],
                sizeof r->queue[0] * (size_t)(r->nqueue - victim - 1));
        r->nqueue--;
    }
    r->queue[r->nqueue++] = (struct queued_input){seat, strdup(action), source};
}

/* Checks an input with the game's validate as it arrives. NULL or ILLEGAL_MOVE/INTERNAL. */
static const char *validate_now(struct room *r, int seat, const char *action, char *msg,
                                size_t msglen)
{
    static struct referee_result res;
    referee_check(&r->ref, seat, action, strlen(action), 0, 0, &res);
    if (room_referee_failed(r, "validate", res.status, res.err) < 0) {
        snprintf(msg, msglen, "the game script failed");
        return "INTERNAL";
    }
    if (res.verdict == REFEREE_APPLIED) return NULL;
    snprintf(msg, msglen, "%s", res.reason ? res.reason : "illegal action");
    return "ILLEGAL_MOVE";
}

const char *room_realtime_input(struct room *r, struct session *s, int seat, const char *text,
                                json_t *re, char *msg, size_t msglen)
{
    const char *code = validate_now(r, seat, text, msg, msglen);
    if (code) return code;
    enqueue(r, seat, text, "player");
    if (!re) return NULL;
    /* An accepted real-time input is acknowledged with the tick it joins. */
    struct frame *f = frame_begin("input_ack");
    frame_game(f, r->id, 0);
    frame_put(f, ",\"payload\":{\"gameId\":\"");
    frame_put(f, r->id);
    frame_put(f, "\",\"tick\":");
    frame_int(f, (int64_t)r->tick_no + 1);
    frame_put(f, "}");
    room_send_once(s, frame_end(f, re));
    return NULL;
}

/* Agents act on their latest view; what they return is validated like a player's input. */
static void agents_act(struct room *r, uint64_t now)
{
    for (int i = 1; i <= r->nseats; i++) {
        struct seat *st = &r->seats[i];
        if (st->kind != SEAT_AGENT || !st->agent || !st->view) continue;
        enum vm_status status;
        char err[300], msg[200];
        uint64_t t0 = loop_now_us();
        char *action =
            agent_act(st->agent, st->view, now, room_cfg->cpu_apply_ms, &status, err, sizeof err);
        r->lua_us += loop_now_us() - t0;
        if (status != VM_OK) {
            room_count_script_failure(status);
            log_msg(LOG_WARN, "agent act failed", "{ss,si,ss}", "game", r->id, "seat", i, "error",
                    err);
        }
        if (action && !validate_now(r, i, action, msg, sizeof msg)) enqueue(r, i, action, "agent");
        free(action);
    }
}

/* The scheduler's idle task for a real-time room: the Lua garbage collection its ticks and
 * states put off (vm_defer_gc), so that the collector's steps do not land in ticks. */
static int room_collect(void *arg)
{
    struct room *r = arg;
    uint64_t t0 = loop_now_us();
    if (!vm_gc_step(r->vm)) return 0;
    metric_add(m_idle_gc, r->game->name, (double)(loop_now_us() - t0) / 1000.0);
    return 1;
}

/* The referee's tick n (logical time now) over the queued inputs, which are recorded and
 * emptied; its events are logged. Returns the outcome (malloc'd) when the game ended, else
 * NULL (a failed call is counted by room_referee_failed). */
static char *tick_referee(struct room *r, uint64_t n, uint64_t now)
{
    struct referee_input inputs[INPUT_QUEUE_MAX];
    for (int i = 0; i < r->nqueue; i++)
        inputs[i] = (struct referee_input){r->queue[i].seat, r->queue[i].action,
                                           strlen(r->queue[i].action)};
    int checkpoint = n % (uint64_t)(r->rate * CHECKPOINT_S) == 0;
    static struct referee_result res;
    TIMED(r, referee_tick(&r->ref, inputs, r->nqueue, (double)now, checkpoint, &res));
    int ok = room_referee_failed(r, "tick", res.status, res.err) == 0;
    if (ok) {
        for (int i = 0; i < r->nqueue; i++)
            room_store_tick_input(r, &r->queue[i], n, NULL);
        room_docs_saved(r, &res);
        for (int i = 0; i < res.nevents; i++)
            room_log_event(r, "game_event", room_log_event_payload(&res.events[i]),
                           res.events[i].seat, NULL, NULL);
        room_script_lines(r, &res);
    }
    for (int i = 0; i < r->nqueue; i++)
        free(r->queue[i].action);
    r->nqueue = 0;
    char *over = ok && res.outcome ? strdup(res.outcome) : NULL;
    if (ok && checkpoint) {
        struct queued_input mark = {0, NULL, "checkpoint"};
        room_store_tick_input(r, &mark, n, res.hash[0] ? res.hash : NULL);
    }
    return over;
}

/* One tick: agents act, the queued inputs go to the game's tick, events go out, a state goes
 * out every send_every ticks. Returns -1 when the game ended. */
static int room_tick(void *arg, uint64_t scheduled)
{
    struct room *r = arg;
    /* The game counts the ticks it ran, not the scheduler's grid: after skipped ticks its
     * clock lags the wall clock, and the log replays tick for tick. */
    uint64_t n = ++r->tick_no;
    uint64_t now = n * 1000u / (uint64_t)r->rate;
    (void)scheduled;
    r->lua_us = 0;
    agents_act(r, now);
    char *over = tick_referee(r, n, now);
    if (over) {
        room_finish(r, over, NULL);
        free(over);
        return -1;
    }
    if (r->status != ROOM_ACTIVE) return -1; /* a script failure ended it */
    metric_observe(m_tick_lua, r->game->name, (double)r->lua_us / 1000.0);
    if (n % (uint64_t)r->send_every == 0) {
        r->lua_us = 0;
        room_state_sync(r, NULL, NULL, NULL);
        metric_observe(m_state_lua, r->game->name, (double)r->lua_us / 1000.0);
    }
    return 0;
}

void room_realtime_start(struct room *r)
{
    r->ticker = tick_add(r, r->rate, room_tick, r->game->name);
    if (r->ticker) {
        vm_defer_gc(r->vm);
        tick_set_idle(r->ticker, room_collect);
    }
    room_state_sync(r, NULL, NULL, NULL);
}

void room_realtime_stop(struct room *r)
{
    tick_remove(r->ticker);
    r->ticker = NULL;
}

void room_realtime_free(struct room *r)
{
    tick_remove(r->ticker);
    for (int i = 0; i < r->nqueue; i++)
        free(r->queue[i].action);
    free(r->queue);
}
