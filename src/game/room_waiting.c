/* room_waiting.c - rooms waiting for players: how many one owner may hold open, the expiry of a
 * room that never starts (--waiting-room-ttl), and the release of an idle waiting room's Lua
 * state (--waiting-room-idle), set up again when it starts. */
#include "hmap.h"
#include "log.h"
#include "loop.h"
#include "room_internal.h"
#include "vm.h"

#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rooms waiting for players, counted per owner ("p:" player id) and per owner's address
 * ("a:" address): an anonymous client cannot hold thousands of empty rooms open. The value is
 * the count itself. */
static struct hmap *waiting;

int room_waiting_init(void)
{
    waiting = hmap_new();
    return waiting ? 0 : -1;
}

void room_waiting_shutdown(void)
{
    hmap_free(waiting);
    waiting = NULL;
}

static long waiting_count(const char *key)
{
    return *key ? (long)(intptr_t)hmap_get(waiting, key) : 0;
}

static void waiting_add(const char *key, long delta)
{
    if (!*key) return;
    long n = waiting_count(key) + delta;
    if (n > 0)
        hmap_put(waiting, key, (void *)(intptr_t)n);
    else
        hmap_del(waiting, key);
}

void room_waiting_done(struct room *r)
{
    waiting_add(r->owner_key, -1);
    waiting_add(r->owner_addr_key, -1);
    r->owner_key[0] = r->owner_addr_key[0] = '\0';
    if (r->expire_timer) event_del(r->expire_timer);
    if (r->idle_timer) event_del(r->idle_timer);
}

int room_waiting_allowed(const struct room_owner *owner, char *msg, size_t msglen)
{
    char key[80];
    snprintf(key, sizeof key, "p:%s", owner->player_id);
    if (waiting_count(key) >= room_cfg->waiting_rooms_per_player) {
        snprintf(msg, msglen, "you already have %d rooms waiting for players",
                 room_cfg->waiting_rooms_per_player);
        return 0;
    }
    snprintf(key, sizeof key, "a:%s", owner->address ? owner->address : "");
    if (owner->address && *owner->address &&
        waiting_count(key) >= room_cfg->waiting_rooms_per_address) {
        snprintf(msg, msglen, "%d rooms from your address are waiting for players",
                 room_cfg->waiting_rooms_per_address);
        return 0;
    }
    return 1;
}

/* --waiting-room-ttl passed and the room never started: its players are told, and it closes
 * (stored as aborted, like any room that never started). */
static void on_waiting_expired(evutil_socket_t fd, short what, void *arg)
{
    struct room *r = arg;
    if (r->status != ROOM_WAITING) return;
    log_msg(LOG_INFO, "waiting room expired", "{ss,ss}", "game", r->id, "script", r->game->name);
    room_log_event(r, "game_over", strdup("{\"result\":{\"reason\":\"expired\"}}"), 0, NULL, NULL);
    room_free(r);
}

/* --waiting-room-idle passed and the room still waits: it lets go of its Lua state (most of a
 * waiting room's memory: 123 KiB of 125), keeping the views its players are sent in
 * final_views, which room_state_sync then sends as it does a finished room's.
 * room_waiting_wake sets the game up again when the room starts: the same version, seed,
 * config and seats give the same state. */
static void on_waiting_idle(evutil_socket_t fd, short what, void *arg)
{
    struct room *r = arg;
    if (r->status != ROOM_WAITING || !r->vm) return;
    struct referee_view views[ROOM_MAX_SEATS + 1];
    char err[600];
    unsigned all = (2u << r->nseats) - 1;
    if (referee_views(&r->ref, 0, all, views, err, sizeof err) != VM_OK) return; /* keep it */
    for (int seat = 0; seat <= r->nseats; seat++) {
        free(r->final_views[seat]);
        r->final_views[seat] = strdup(views[seat].json ? views[seat].json : "{}");
    }
    vm_free_later(r->vm);
    r->vm = NULL;
    r->ref.vm = NULL; /* nothing may call the referee of a freed state */
    log_msg(LOG_INFO, "waiting room idle: Lua state released", "{ss}", "game", r->id);
}

int room_waiting_wake(struct room *r)
{
    if (r->vm) return 0;
    char err[600] = "cannot create a Lua state";
    enum vm_status st = room_vm_setup(r, room_cfg->cpu_apply_ms, NULL, err, sizeof err);
    if (st != VM_OK) {
        room_count_script_failure(st);
        log_msg(LOG_WARN, "room setup failed at start", "{ss,ss}", "game", r->id, "error", err);
        vm_free_later(r->vm);
        r->vm = NULL;
        return -1;
    }
    for (int seat = 0; seat <= r->nseats; seat++) {
        free(r->final_views[seat]);
        r->final_views[seat] = NULL;
    }
    return 0;
}

void room_waiting_start(struct room *r, const struct room_owner *owner)
{
    if (owner) {
        snprintf(r->owner_key, sizeof r->owner_key, "p:%s", owner->player_id);
        waiting_add(r->owner_key, 1);
        if (owner->address && *owner->address) {
            snprintf(r->owner_addr_key, sizeof r->owner_addr_key, "a:%s", owner->address);
            waiting_add(r->owner_addr_key, 1);
        }
    }
    if (room_cfg->waiting_room_idle_s > 0 &&
        (r->idle_timer = evtimer_new(loop_base(), on_waiting_idle, r))) {
        struct timeval idle = {room_cfg->waiting_room_idle_s, 0};
        event_add(r->idle_timer, &idle);
    }
    if (room_cfg->waiting_room_ttl_s <= 0) return;
    r->expire_timer = evtimer_new(loop_base(), on_waiting_expired, r);
    struct timeval tv = {room_cfg->waiting_room_ttl_s, 0};
    if (r->expire_timer) event_add(r->expire_timer, &tv);
}
