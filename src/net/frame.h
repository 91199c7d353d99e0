/* frame.h - the one way an outgoing v1 message is built.
 *
 * Every message the server sends is a JSON object {"type":..., "gameId":..., "seq":...,
 * "payload":..., "re":...} (protocol.md). It is written here as text, piece by piece, into one
 * buffer kept across messages (the loop thread's: one frame at a time), and copied once into
 * the reference-counted buffer the sockets queue (struct wsbuf), so a message for many
 * recipients is built once. A failed append (no memory) is remembered and frame_end returns
 * NULL: nothing half-built is ever sent. The answer to a request takes the request's id as
 * "re", given explicitly to frame_end. Loop thread only. */
#ifndef MT_FRAME_H
#define MT_FRAME_H

#include "session.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct frame;

/* Starts {"type":"<type>" (type needs no escaping: the server's own names). */
struct frame *frame_begin(const char *type);

/* ,"gameId":"<id>","seq":<seq>: the fields of a message of a game's log (seq 0: no seq). */
void frame_game(struct frame *f, const char *game_id, uint64_t seq);

/* ,"<key>": (key needs no escaping), before the value written next. */
void frame_key(struct frame *f, const char *key);

/* Appends text as it is: JSON the server wrote (a view, an event) or punctuation. */
void frame_put(struct frame *f, const char *text);
void frame_putn(struct frame *f, const char *text, size_t len);

/* Appends a number, or the compact text of v (jansson's json_dumps output, json_text.h). */
void frame_int(struct frame *f, int64_t v);
void frame_json(struct frame *f, const json_t *v);

/* Appends ,"re":re when re is set, closes the object and copies it into a new buffer with one
 * reference (the caller unrefs it). NULL when any append failed. */
struct wsbuf *frame_end(struct frame *f, const json_t *re);

/* {"type":type,"payload":payload,"re":re}: payload (NULL: {}) and re are not taken. */
struct wsbuf *frame_message(const char *type, const json_t *payload, const json_t *re);

/* frame_message sent to s (NULL: nobody). Returns 0, or -1 when it could not be queued. */
int frame_send(struct session *s, const char *type, const json_t *payload, const json_t *re);

#endif
