/*
 * wsproto: the small pieces of RFC 6455 and of measurement that the bench tools share
 * (mt-loadgen, mt-gamegen, mt-echo-ref): SHA-1, base64, the Sec-WebSocket-Key/-Accept pair,
 * masked client frame encoding, frame header parsing, a log-bucket latency histogram and a
 * monotonic clock. No I/O, no allocation, no global state; only libc and libm.
 */
#ifndef MT_BENCH_WSPROTO_H
#define MT_BENCH_WSPROTO_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ hashing */

/* Computes the SHA-1 digest of the len bytes at msg into out. msg may be NULL when len is 0. */
void wsp_sha1(const uint8_t *msg, size_t len, uint8_t out[20]);

/* Writes the standard (RFC 4648, '+' '/', '=' padded) base64 encoding of the n bytes at in to
 * out, followed by a NUL: out must hold 4 * ((n + 2) / 3) + 1 bytes. */
void wsp_base64(const uint8_t *in, size_t n, char *out);

/* SplitMix64 finaliser of x + golden gamma: a well-mixed 64-bit value, deterministic in x. */
uint64_t wsp_splitmix64(uint64_t x);

/* ---------------------------------------------------------------- handshake */

/* Writes the 24-character Sec-WebSocket-Key (base64 of 16 bytes, NUL-terminated) that a client
 * derives from a run-wide seed and a connection index, so that no per-connection key needs to
 * be stored: the same (seed, idx) always gives the same key. */
void wsp_client_key(uint64_t seed, uint32_t idx, char out[25]);

/* Writes the 28-character Sec-WebSocket-Accept value (NUL-terminated) for the keylen bytes at
 * key: base64(SHA-1(key + RFC 6455 GUID)). keylen must be at most 64; longer keys are not
 * accepted by any caller and give out = "" instead. */
void wsp_accept(const char *key, size_t keylen, char out[29]);

/* ------------------------------------------------------------------- frames */

/* Largest header wsp_client_frame writes (2 bytes, 16-bit length, 4-byte mask). */
#define WSP_CLIENT_HDR_MAX 8

/* Encodes one final (FIN set) masked client frame with the given opcode and the n bytes at
 * payload (n <= 65535), masked with the 4 bytes of mask in little-endian order, into out, which
 * must hold n + WSP_CLIENT_HDR_MAX bytes. Returns the number of bytes written. */
size_t wsp_client_frame(uint8_t *out, int opcode, const void *payload, size_t n, uint32_t mask);

/* A parsed frame header. mask points at the 4 mask bytes inside the parsed buffer (NULL when the
 * frame is not masked); they may lie beyond the bytes available when wsp_frame_header ran. */
struct wsp_frame {
    int fin;             /* non-zero on the final fragment */
    int opcode;          /* 0x0 continuation, 0x1 text, 0x2 binary, 0x8 close, 0x9/0xA ping/pong */
    uint64_t len;        /* payload length */
    size_t hdr;          /* header length, mask key included */
    const uint8_t *mask; /* the mask key, or NULL */
};

/* Parses the frame header at f, of which avail bytes are present. Returns 0 when avail is too
 * short for the base header and its extended length field (read more, then call again), else
 * fills *fr and returns 1. Whether the mask key and payload are present (avail >= fr->hdr +
 * fr->len) and whether the length is acceptable is left to the caller. */
int wsp_frame_header(const uint8_t *f, size_t avail, struct wsp_frame *fr);

/* XORs the n bytes at p in place with the 4-byte mask key mk (RFC 6455 5.3); mk must not overlap
 * p. Applying it twice restores the data. */
void wsp_unmask(uint8_t *p, uint64_t n, const uint8_t mk[4]);

/* ---------------------------------------------------------------- histogram */

/* HDR-like log-bucket histogram of µs values: exact below 256, then 128 sub-buckets per power of
 * two (bucket width <= 1/128 of its value, the reported midpoint is within 0.4%); values of 2^36
 * and more land in the last bucket. Zero-initialise before use. */
#define WSP_HIST_SUB 128
#define WSP_HIST_MAXSHIFT 28
#define WSP_HIST_BUCKETS (2 * WSP_HIST_SUB + WSP_HIST_MAXSHIFT * WSP_HIST_SUB)

struct wsp_hist {
    uint32_t b[WSP_HIST_BUCKETS];
    uint64_t count;
    uint64_t min, max; /* exact, valid when count > 0 */
    double sum;
};

/* Records one value v (µs) in h. */
void wsp_hist_add(struct wsp_hist *h, uint64_t v);

/* Returns the representative value (µs) of bucket i < WSP_HIST_BUCKETS: the value itself in the
 * exact range, else the bucket's midpoint. */
double wsp_hist_value(unsigned i);

/* Returns the p-th percentile (0 < p <= 100) of h in µs, clamped to the exact min/max, or NAN
 * when h is empty. */
double wsp_hist_pct(const struct wsp_hist *h, double p);

/* -------------------------------------------------------------------- clock */

/* Returns CLOCK_MONOTONIC in whole microseconds. */
uint64_t wsp_now_us(void);

#endif
