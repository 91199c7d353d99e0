/* wsproto: shared WebSocket and measurement helpers of the bench tools (see wsproto.h). */
#define _GNU_SOURCE
#include "wsproto.h"

#include <math.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- SHA-1 and base64 */

static uint32_t rol32(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

void wsp_sha1(const uint8_t *msg, size_t len, uint8_t out[20])
{
    uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    size_t nblocks = (len + 9 + 63) / 64;
    uint64_t bits = (uint64_t)len * 8;
    for (size_t b = 0; b < nblocks; b++) {
        uint8_t blk[64];
        for (size_t i = 0; i < 64; i++) {
            size_t pos = b * 64 + i;
            if (pos < len)
                blk[i] = msg[pos];
            else if (pos == len)
                blk[i] = 0x80;
            else if (pos >= nblocks * 64 - 8)
                blk[i] = (uint8_t)(bits >> (8 * (nblocks * 64 - 1 - pos)));
            else
                blk[i] = 0;
        }
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 |
                   (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
        for (int i = 16; i < 80; i++)
            w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) {
                f = (bb & c) | (~bb & d);
                k = 0x5A827999u;
            } else if (i < 40) {
                f = bb ^ c ^ d;
                k = 0x6ED9EBA1u;
            } else if (i < 60) {
                f = (bb & c) | (bb & d) | (c & d);
                k = 0x8F1BBCDCu;
            } else {
                f = bb ^ c ^ d;
                k = 0xCA62C1D6u;
            }
            uint32_t t = rol32(a, 5) + f + e + k + w[i];
            e = d;
            d = c;
            c = rol32(bb, 30);
            bb = a;
            a = t;
        }
        h[0] += a;
        h[1] += bb;
        h[2] += c;
        h[3] += d;
        h[4] += e;
    }
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}

void wsp_base64(const uint8_t *in, size_t n, char *out)
{
    static const char tb[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = tb[(v >> 18) & 63];
        out[o++] = tb[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tb[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tb[v & 63] : '=';
    }
    out[o] = 0;
}

uint64_t wsp_splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* ---------------------------------------------------------------------- handshake */

void wsp_client_key(uint64_t seed, uint32_t idx, char out[25])
{
    uint64_t a = wsp_splitmix64(seed ^ ((uint64_t)idx * 2)),
             b = wsp_splitmix64(seed ^ ((uint64_t)idx * 2 + 1));
    uint8_t raw[16];
    memcpy(raw, &a, 8);
    memcpy(raw + 8, &b, 8);
    wsp_base64(raw, 16, out);
}

void wsp_accept(const char *key, size_t keylen, char out[29])
{
    char buf[64 + 36];
    if (keylen > 64) {
        out[0] = 0;
        return;
    }
    memcpy(buf, key, keylen);
    memcpy(buf + keylen, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
    uint8_t d[20];
    wsp_sha1((const uint8_t *)buf, keylen + 36, d);
    wsp_base64(d, 20, out);
}

/* ------------------------------------------------------------------------- frames */

size_t wsp_client_frame(uint8_t *out, int opcode, const void *payload, size_t n, uint32_t mask)
{
    size_t h = 0;
    out[h++] = (uint8_t)(0x80 | opcode);
    if (n < 126)
        out[h++] = (uint8_t)(0x80 | n);
    else {
        out[h++] = 0x80 | 126;
        out[h++] = (uint8_t)(n >> 8);
        out[h++] = (uint8_t)n;
    }
    uint8_t mk[4] = {(uint8_t)mask, (uint8_t)(mask >> 8), (uint8_t)(mask >> 16),
                     (uint8_t)(mask >> 24)};
    memcpy(out + h, mk, 4);
    h += 4;
    const uint8_t *p = payload;
    for (size_t i = 0; i < n; i++)
        out[h + i] = p[i] ^ mk[i & 3];
    return h + n;
}

int wsp_frame_header(const uint8_t *f, size_t avail, struct wsp_frame *fr)
{
    if (avail < 2) return 0;
    size_t hdr = 2;
    uint64_t plen = f[1] & 0x7f;
    if (plen == 126) {
        if (avail < 4) return 0;
        plen = (uint64_t)f[2] << 8 | f[3];
        hdr = 4;
    } else if (plen == 127) {
        if (avail < 10) return 0;
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = plen << 8 | f[2 + i];
        hdr = 10;
    }
    fr->fin = f[0] & 0x80;
    fr->opcode = f[0] & 0x0f;
    fr->len = plen;
    fr->mask = NULL;
    if (f[1] & 0x80) {
        fr->mask = f + hdr;
        hdr += 4;
    }
    fr->hdr = hdr;
    return 1;
}

void wsp_unmask(uint8_t *p, uint64_t n, const uint8_t mk[4])
{
    for (uint64_t i = 0; i < n; i++)
        p[i] ^= mk[i & 3];
}

/* ---------------------------------------------------------------------- histogram */

static unsigned h_index(uint64_t v)
{
    if (v < 2 * WSP_HIST_SUB) return (unsigned)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - 7;
    if (shift > WSP_HIST_MAXSHIFT) return WSP_HIST_BUCKETS - 1;
    return (unsigned)(2 * WSP_HIST_SUB + (shift - 1) * WSP_HIST_SUB +
                      (int)((v >> shift) - WSP_HIST_SUB));
}

double wsp_hist_value(unsigned i)
{
    if (i < 2 * WSP_HIST_SUB) return (double)i;
    unsigned shift = (i - 2 * WSP_HIST_SUB) / WSP_HIST_SUB + 1;
    uint64_t sub = (i - 2 * WSP_HIST_SUB) % WSP_HIST_SUB + WSP_HIST_SUB;
    uint64_t lo = sub << shift;
    return (double)lo + (double)((1ull << shift) - 1) / 2.0;
}

void wsp_hist_add(struct wsp_hist *h, uint64_t v)
{
    h->b[h_index(v)]++;
    if (h->count == 0 || v < h->min) h->min = v;
    if (v > h->max) h->max = v;
    h->count++;
    h->sum += (double)v;
}

double wsp_hist_pct(const struct wsp_hist *h, double p)
{
    if (h->count == 0) return NAN;
    uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
    if (rank < 1) rank = 1;
    uint64_t cum = 0;
    for (unsigned i = 0; i < WSP_HIST_BUCKETS; i++) {
        cum += h->b[i];
        if (cum >= rank) {
            double v = wsp_hist_value(i);
            if (v > (double)h->max) v = (double)h->max;
            if (v < (double)h->min) v = (double)h->min;
            return v;
        }
    }
    return (double)h->max;
}

/* -------------------------------------------------------------------------- clock */

uint64_t wsp_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000u;
}
