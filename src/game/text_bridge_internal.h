/* text_bridge_internal.h - private to text_bridge.c (sessions, lines in) and text_render.c
 * (messages out as lines). */
#ifndef MT_TEXT_BRIDGE_INTERNAL_H
#define MT_TEXT_BRIDGE_INTERNAL_H

#include "session.h"

#include <jansson.h>
#include <stdint.h>

#define TB_MAX_SEATS 16

/* A message sent to the socket, waiting to be rendered. */
struct tb_pending {
    struct wsbuf *b;
    struct tb_pending *next;
};

/* One /text socket's state: the game it follows and what it has told the client about it. */
struct tb {
    struct session *s;
    char game_id[65];      /* the joined (or watched) game; "" when none */
    char game[64];         /* its game's name */
    int seat;              /* the client's seat in it; 0 watching */
    char status[12];       /* the last status rendered */
    uint64_t prompted_seq; /* the game_state seq of the last "your turn" line (+1: 0 is none) */
    char names[TB_MAX_SEATS + 1][40];
    struct tb_pending *head, *tail;
    struct tb *next_dirty; /* in the list of sockets with messages to render */
    int dirty;
};

/* The longest outgoing line (--text-max-bytes). */
extern size_t tb_max_bytes;

/* Sends text as lines of at most tb_max_bytes: control characters become spaces, long text is
 * split (text_bridge_cut). */
void tb_say(struct tb *t, const char *text);

/* tb_say of a formatted text (at most 4000 bytes). */
void tb_sayf(struct tb *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Renders one message the server sent the socket (a /ws JSON message) as lines. */
void tb_render(struct tb *t, const json_t *msg);

/* The first 8 characters of a game id: how lines name a game (/join takes it back). */
const char *tb_short(const char *game_id, char out[9]);

#endif
