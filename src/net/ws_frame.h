/* ws_frame.h - RFC 6455 checks on a client's raw bytes that libwebsockets 4.1 does not make.
 *
 * lws 4.1 parses client frames itself and has no option or hook for these rules: it processes
 * unmasked frames (section 5.1 says the server must close with 1002), and it drops the
 * connection without a close frame on a control frame longer than 125 bytes or a 64-bit length
 * with its top bit set (section 5.2). ws_frame_scan follows the frame headers of the bytes read
 * from a socket, so such a frame is refused before lws parses it (rx_guard.c feeds it);
 * ws_frame_head_* finds where an HTTP request's header block ends, which is where the WebSocket
 * stream of an upgrade begins. ws_frame_close_check judges the payload of a client's close
 * frame (sections 5.5.1, 7.4 and 8.1).
 *
 * Pure functions on caller-owned state; any thread. */
#ifndef MT_WS_FRAME_H
#define MT_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* Where the scanner is in the client's frame stream. Zeroed: before the first frame. */
struct ws_frame_scan {
    uint8_t hdr[10];       /* header bytes so far, up to the extended length (no mask key) */
    uint8_t have;          /* how many of them */
    uint8_t need;          /* header bytes before the mask key: 2, 4 or 10 (0: not known yet) */
    uint8_t key_left;      /* mask key bytes still to come */
    uint64_t payload_left; /* payload bytes of the current frame still to come */
};

/* Follows n more bytes of a client's stream. Returns n when no frame header in them breaks the
 * rules above. Otherwise returns the offset in p where the offending frame starts (0 when it
 * started in an earlier call), with *why set to a short static reason; RFC 6455 answers every
 * such frame with close 1002. The scanner must not be fed again after a refusal. */
size_t ws_frame_scan(struct ws_frame_scan *fs, const uint8_t *p, size_t n, const char **why);

/* The last two bytes of an HTTP request stream, to find the end of a header block. */
struct ws_frame_head {
    uint8_t prev2, prev;
};

/* A stream before its first byte: the start of a request counts as the start of a line. */
void ws_frame_head_init(struct ws_frame_head *h);

/* How many of the n bytes at p to take so that a header block that ends in them ends exactly
 * at the last byte taken: up to and including the first LF that ends an empty line (LF LF or
 * LF CR LF, across calls), else n. lws's parser ends a header block only at such an LF, so a
 * read cut there never holds the first bytes after an upgrade. Does not change h. */
size_t ws_frame_head_cut(const struct ws_frame_head *h, const uint8_t *p, size_t n);

/* Records that the n bytes at p were consumed. */
void ws_frame_head_feed(struct ws_frame_head *h, const uint8_t *p, size_t n);

/* Judges the payload of a client's close frame. Returns 0 when it is acceptable: empty, or a
 * valid status code (1000-1003, 1007-1014, 3000-4999) with an optional UTF-8 reason. Otherwise
 * returns the code to close with, with *why set: 1002 for a 1-byte payload or an invalid code,
 * 1007 for a reason that is not UTF-8. */
int ws_frame_close_check(const uint8_t *p, size_t len, const char **why);

#endif
