/* relay.h - messages between a socket on one instance and a room owned by another (--cluster).
 *
 * Every instance subscribes to its own Redis channel, mt:relay:<instance id> (bus_sub.h).
 *
 * On the socket's instance: a game message naming a room not held here is forwarded. The
 * owner comes from the room directory (directory.h); the message goes to the owner's channel
 * with the socket's identity (player id, name, role, client address), as a request:
 *   "R\n" {"f": from instance, "c": conn id, "w": {"i","n","r"}, "p": peer, "m": message}
 * No live owner: NOT_FOUND (resume falls back to the stored log, as on one server); Redis or
 * the relay away: SERVER_BUSY at once, never a hang. When the socket closes, every owner it
 * reached is told ("Q\n" from "\n" conn), and so are its seats' rooms, as for a local socket.
 *
 * On the owner: each remote socket is a proxy session (session_new_remote) that the protocol
 * handlers serve exactly like a local one: same checks, same rate limits, same seq numbers and
 * per-seat views. What the rooms send to proxies is batched per destination instance and
 * published once per turn of the loop: one publish per event per instance with recipients,
 * whatever the number of recipients there, and a frame sent to several of them is carried
 * once:
 *   "O\n" from "\n" wall ms "\n" then entries "M conn[,conn...] len\n" <len bytes> and
 *   "X conn code\n" (close that socket)
 * The socket's instance hands each frame to its sockets' send queues as is. A proxy whose
 * instance leaves the cluster (its lease gone) is closed like a dropped socket.
 *
 * While Redis is away, rooms keep playing for their owner's own sockets; frames for remote
 * sockets are dropped (counted in redis_publish_dropped_total) and a client catches up with
 * resume (lastSeq), which is relayed like any request: the room's log loses nothing. The
 * channel trusts what it carries (Redis must be private to the cluster). Loop thread only. */
#ifndef MT_RELAY_H
#define MT_RELAY_H

#include <jansson.h>

#include "config.h"
#include "proto.h"
#include "session.h"

/* Subscribes to this instance's channel. on_message and on_closed are what a local socket's
 * messages and close go to (main.c's handlers). missing answers a request whose room has no
 * live owner (NOT_FOUND, or a stored resume). Does nothing without --cluster. Returns 0, or
 * -1 on failure. */
int relay_init(const struct config *cfg, void (*on_message)(struct session *, const char *, size_t),
               void (*on_closed)(struct session *), void (*missing)(struct proto_request *));

/* Forwards the request r about game_id to the room's owner when the cluster is on and r's
 * socket is local: returns 1 (answered or forwarded, maybe later), else 0 (the caller answers
 * NOT_FOUND itself). */
int relay_forward(struct proto_request *r, const char *game_id);

/* quick_match across the cluster: every quick_match for a game is served by the game's home
 * instance (members_home: rendezvous hashing over the live instances), so waiters on different
 * instances meet in one queue; the room opens there. Returns 1 when r went to the home, 0 to
 * match here (this is the home, or the relay is away: then this instance's waiters only). */
int relay_forward_match(struct proto_request *r, const char *game);

/* A local socket closed: its owners are told. */
void relay_session_closed(struct session *s);

/* Publishes "<kind>\n" body to every other live instance's channel, counted under
 * metric_kind in cluster_relay_messages_total (rate_share.c's batches go this way). */
void relay_broadcast(char kind, const char *body, size_t len, const char *metric_kind);

/* Proxies closed, subscription dropped. */
void relay_shutdown(void);

/* The relay's state for /health/ready: fills out (borrowed) with subscribed and proxies (remote
 * sockets served here). Returns 1 while the subscription is up: a socket here reaches rooms
 * elsewhere only through it. After relay_init, with --cluster. */
int relay_health(json_t *out);

#endif
