/* tick.h - the fixed-rate scheduler for real-time rooms: one libevent timer for all of them.
 *
 * Each registered room has a rate (1..60 Hz) and a start time; tick n is due at
 * start + n / rate on the monotonic clock, so error never accumulates. The rooms wait in a
 * min-heap ordered by their next deadline and the single timer is armed for the earliest
 * one; every room due within the same millisecond runs in the same wake-up, oldest deadline
 * first, one tick per room per turn. A room that falls behind (a busy machine) catches up by
 * at most TICK_MAX_CATCHUP ticks and then skips the rest of its backlog; a room whose tick
 * itself takes longer than its period skips straight to its next deadline still ahead, so it
 * cannot take the whole loop from the others. Skipped ticks count in ticks_dropped_total.
 * Loop thread only. */
#ifndef MT_TICK_H
#define MT_TICK_H

#include <stdint.h>

#define TICK_MAX_CATCHUP 3

/* Runs one tick of the room; tick_no counts from 1. Returns 0, or -1 when the room has ended
 * and must leave the schedule (the scheduler then forgets it without touching it again). */
typedef int (*tick_fn)(void *room, uint64_t tick_no);

struct tick_entry;

/* The bucket bounds, ms, of the histograms of time spent in a tick: the scheduler's
 * (tick_duration_ms, tick_lateness_ms) and the rooms' (tick_lua_ms, state_lua_ms). */
#define TICK_MS_NBUCKETS 12
extern const double tick_ms_buckets[TICK_MS_NBUCKETS];

/* Registers the scheduler's metrics and makes its timer. Returns 0, or -1 on OOM. */
int tick_init(void);
void tick_shutdown(void);

/* Schedules fn(room, n) at rate Hz from now. metric_label names the room's game in the tick
 * metrics (static or outliving the entry). Returns the entry, or NULL on OOM. */
struct tick_entry *tick_add(void *room, int rate, tick_fn fn, const char *metric_label);

/* Takes the room off the schedule. entry is no longer valid. Safe inside its own tick_fn only
 * by returning -1 instead. */
void tick_remove(struct tick_entry *entry);

/* Gives entry an idle task: after a batch of ticks, when the next deadline is more than
 * TICK_IDLE_MIN_US away, the scheduler calls idle(room) for entries in turn (round robin)
 * until TICK_IDLE_MARGIN_US before that deadline, and for at most TICK_IDLE_MAX_US. idle
 * returns 1 when it did some work. Real-time rooms collect their Lua garbage this way, out
 * of their ticks (room_realtime.c). */
void tick_set_idle(struct tick_entry *entry, int (*idle)(void *room));
#define TICK_IDLE_MIN_US 300
#define TICK_IDLE_MARGIN_US 100
#define TICK_IDLE_MAX_US 1000

/* Rooms on the schedule. */
int tick_count(void);

#endif
