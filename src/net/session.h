/* session.h - one WebSocket connection: who it is, what it is owed, and its send queue.
 *
 * A session is created when a socket finishes its upgrade and freed when lws reports it
 * closed. Outgoing messages are reference-counted buffers (struct wsbuf, wsbuf.h) so that one
 * encoded view can be queued to many sockets without a copy. Each session's queue is capped in
 * bytes: a client that does not read is disconnected (close 1008) rather than allowed to grow the
 * server's memory; its queue is dropped and its socket released at once.
 *
 * Closing: a close frame is the last frame written, and only one is. session_close ends a
 * socket after its queue (shutdown); session_fail ends one whose peer broke the rules, within
 * CLOSE_GRACE_S even if the peer reads nothing; session_close_now is for lws callbacks of the
 * socket itself. Loop thread only. */
#ifndef MT_SESSION_H
#define MT_SESSION_H

#include "identity.h"
#include "rate_limit.h"
#include "wsbuf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct lws;

struct outmsg;
struct membership; /* owned by the room module */
struct session;

/* How a session without a socket of its own reaches its client: a cluster relay's proxy for
 * a socket on another instance (relay.h). send takes what session_send got (adding its own
 * reference when it keeps b) and returns 0 or -1; close passes session_close on. */
struct session_transport {
    int (*send)(struct session *s, struct wsbuf *b);
    void (*close)(struct session *s, int code, const char *reason);
};

struct session {
    uint64_t id;
    char session_id[24];
    struct lws *wsi; /* NULL once the socket is gone */
    struct identity who;
    char peer[48];

    /* Reassembly of a fragmented message. */
    char *rx;
    size_t rx_len, rx_cap;
    int rx_discard; /* skipping the rest of a binary message */

    /* Send queue. */
    struct outmsg *head, *tail;
    size_t queued_bytes;
    int close_code; /* non-zero: close with this code once the queue is written */
    char close_reason[64];
    uint8_t close_sent;           /* the close frame is written: nothing more may be */
    uint8_t input_closed;         /* the peer broke the rules: what it sends is ignored */
    const char *rx_refused;       /* ws.c: the frame check refused the stream, why */
    struct session *refused_next; /* ws.c: its list of refusals not acted on yet */

    /* Keepalive: every open session sits in one of two lists ordered by when it was last
     * heard from (see session_heard). */
    struct session *ka_prev, *ka_next;
    uint64_t heard_ms;
    uint8_t ka_state; /* KA_FRESH, KA_PINGED, or KA_GONE once hung up */
    uint8_t ping_due; /* a ping waits for the next WRITEABLE callback */

    struct rate_limit rl_input, rl_chat, rl_rooms;
    int sub_lobby, sub_evolution;
    struct membership *rooms;
    struct session *next_of_player; /* the player's other sockets */

    const struct session_transport *remote; /* NULL for a socket of this process */
    void *remote_arg;                       /* the transport's, for remote sessions */

    /* A line-oriented socket (upgraded on /text, the text bridge): what session_send gets goes
     * to render, set by the layer above, which queues lines of its own with session_queue;
     * text_state is that layer's. */
    uint8_t text;
    int (*render)(struct session *s, struct wsbuf *b);
    void *text_state;
};

/* Creates the session registry. Sessions silent for ping_interval_s seconds are pinged; those
 * silent for ping_timeout_s are hung up (the caller checked timeout > interval). One libevent
 * timer serves all of them, firing at most once a second and only while a deadline is due, so
 * the cost per received frame is O(1) and an idle server does not wake up without sessions.
 * Returns 0, or -1 on OOM. */
int session_init(size_t send_queue_cap, int ping_interval_s, int ping_timeout_s);

/* fn runs before a socket's queued messages are written (store_barrier: what a client is sent
 * is durable first). NULL: nothing. */
void session_set_before_write(void (*fn)(void));
void session_shutdown(void);

/* Creates a session for wsi acting as who. Returns NULL on OOM. */
struct session *session_new(struct lws *wsi, const struct identity *who, const char *peer);

/* Creates a session for a client whose socket is elsewhere, reached through t (session_send
 * and session_close go to it). It is in no keepalive list, counts in no gauge, and is not
 * among session_of_player's: the process that holds the socket keeps those. Free it with
 * session_free. Returns NULL on OOM. */
struct session *session_new_remote(const struct identity *who, const char *peer,
                                   const struct session_transport *t, void *arg);

/* Records that the peer sent something (a message, a fragment or a pong): the keepalive
 * deadlines of s start again. O(1). */
void session_heard(struct session *s);

/* Called when the socket is gone: cancels the queue and frees s. s is no longer valid. */
void session_free(struct session *s);

/* Queues b (adding a reference). When the queue would exceed its cap, the queue is dropped
 * and the session closed with 1008 instead, and -1 is returned: the close frame follows at
 * once if the socket can take it, and the socket is released within CLOSE_GRACE_S, at once
 * when it cannot (the peer is not reading). The caller keeps its own reference either way. */
int session_send(struct session *s, struct wsbuf *b);

/* session_send without render: queues b as it is on s's own socket (for the renderer's lines). */
int session_queue(struct session *s, struct wsbuf *b);

/* Arranges for the socket to close with code (1001 at shutdown) after the queued messages
 * are written. The first code set wins. */
void session_close(struct session *s, int code, const char *reason);

/* Seconds a socket closed by session_fail (or for its queue) may stay open before it is
 * dropped without waiting for its close frame to be written. */
enum { CLOSE_GRACE_S = 2 };

/* The peer broke the rules (1002, 1009): what it sends from now on is ignored; the
 * messages already queued go out, then a close frame with code, and the socket is released
 * within CLOSE_GRACE_S even if the peer reads nothing. Overrides a close decided before whose
 * frame has not gone yet; the first failure wins. Callable anywhere on the loop thread. */
void session_fail(struct session *s, int code, const char *reason);

/* For an lws callback of s's own socket that must end it at once (an invalid close frame):
 * drops the queue and writes the close frame now. The callback then returns -1, and lws closes
 * the socket once the frame has left. */
void session_close_now(struct session *s, int code, const char *reason);

/* Writes queued messages while the socket can take them. Called from the WRITEABLE callback.
 * Returns 0 to keep the socket, -1 when lws must close it now (the close reason is set). */
int session_write_some(struct session *s);

/* The first open session of a player, or NULL; walk ->next_of_player for the rest. */
struct session *session_of_player(const char *player_id);

/* The session numbered id (s->id) acting as player_id, whether its socket is here or it is a
 * relay's proxy for a socket elsewhere (session_new_remote), or NULL once it is gone: for a
 * reply that arrives after the request's callback returned (a store read), which must not keep
 * a pointer to a session that may have been freed meanwhile. */
struct session *session_find(const char *player_id, uint64_t id);

/* How many sessions and distinct players are open. */
size_t session_count(void);
size_t session_player_count(void);

/* Calls fn for every open session. fn may queue messages and close sessions but not free. */
void session_each(void (*fn)(struct session *s, void *arg), void *arg);

#endif
