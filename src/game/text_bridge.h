/* text_bridge.h - the text bridge: a line-oriented WebSocket (/text) for low-bandwidth channels
 * (a chat relay, a radio gateway). docs/protocol.md, "Text bridge".
 *
 * Each text frame the client sends is one line. A line the bridge understands itself (/help,
 * /games, /new, /join, /watch, /leave, /say) becomes the JSON message the /ws protocol has for it
 * and goes through the same handlers (proto.h), with the same checks, rate limits and errors;
 * any other line goes to the joined game's `command`. What the server sends the socket, the
 * JSON messages every socket gets, is rendered as lines of at most --text-max-bytes bytes: game
 * events through the game's describe (room_describe), turn prompts, chat, answers, and errors as
 * `! CODE message`. Rendering runs after the handler or broadcast that sent the message, from
 * one loop event, because it may call into the room's Lua state, which the sender may still be
 * reading. Loop thread only. */
#ifndef MT_TEXT_BRIDGE_H
#define MT_TEXT_BRIDGE_H

#include "config.h"
#include "session.h"

#include <stddef.h>

/* The longest line a client may send, in bytes (a command's or a chat's text, 500 characters,
 * fits): a longer one is answered `! TOO_LARGE ...` and the socket stays open. */
#define TEXT_LINE_MAX 2000

/* Sets the module up with cfg (borrowed for the server's life). Returns 0, or -1 on OOM. */
int text_bridge_init(const struct config *cfg);
void text_bridge_shutdown(void);

/* s was upgraded on /text: from now on what is sent to it is rendered as lines. Call before
 * the welcome is sent. Returns 0, or -1 on OOM (the caller closes the socket). */
int text_bridge_open(struct session *s);

/* One line (a whole text frame of len bytes, not NUL-terminated) from s. */
void text_bridge_line(struct session *s, const char *data, size_t len);

/* The socket layer refused a frame of s before it was read (ws_handlers.on_refused): code is
 * "TOO_LARGE" (the socket then closes with 1009) or "BAD_MESSAGE" (a binary frame). Answered
 * at once, as a line, ahead of the close. */
void text_bridge_refused(struct session *s, const char *code);

/* s is closing: its pending messages and state are dropped. */
void text_bridge_closed(struct session *s);

/* The length of the next piece of text (len bytes) that fits a line of max bytes: all of it
 * when it fits; else up to the last space in its second half, else the longest run that ends
 * between UTF-8 characters. Never 0 when len > 0 and max >= 4. */
size_t text_bridge_cut(const char *text, size_t len, size_t max);

#endif
