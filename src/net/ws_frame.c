#include "ws_frame.h"

#include "util.h"

/* Checks the first two header bytes; returns a reason, or NULL. */
static const char *check_start(const uint8_t *hdr)
{
    unsigned len7 = hdr[1] & 0x7f;
    if (!(hdr[1] & 0x80)) return "unmasked frame";
    if ((hdr[0] & 0x08) && len7 > 125) return "control frame over 125 bytes";
    return NULL;
}

/* The payload length of a complete header (need bytes in hdr). */
static uint64_t header_length(const struct ws_frame_scan *fs)
{
    unsigned len7 = fs->hdr[1] & 0x7f;
    if (len7 < 126) return len7;
    uint64_t n = 0;
    for (int i = 2; i < fs->need; i++)
        n = n << 8 | fs->hdr[i];
    return n;
}

/* Takes one header byte. Returns a reason when the frame must be refused, else NULL. */
static const char *header_byte(struct ws_frame_scan *fs, uint8_t b)
{
    fs->hdr[fs->have++] = b;
    if (fs->have == 2) {
        const char *why = check_start(fs->hdr);
        if (why) return why;
        unsigned len7 = fs->hdr[1] & 0x7f;
        fs->need = len7 == 126 ? 4 : len7 == 127 ? 10 : 2;
    }
    if (fs->have == 3 && fs->need == 10 && (b & 0x80)) return "frame length over 2^63";
    if (fs->have >= 2 && fs->have == fs->need) {
        fs->payload_left = header_length(fs);
        fs->key_left = 4; /* every client frame is masked: check_start made sure */
        fs->have = fs->need = 0;
    }
    return NULL;
}

size_t ws_frame_scan(struct ws_frame_scan *fs, const uint8_t *p, size_t n, const char **why)
{
    size_t i = 0, start = 0;
    while (i < n) {
        if (fs->key_left) {
            size_t k = n - i < fs->key_left ? n - i : fs->key_left;
            fs->key_left -= (uint8_t)k;
            i += k;
        } else if (fs->payload_left) {
            /* The payload is lws's business: skip it whole. */
            uint64_t k = n - i < fs->payload_left ? n - i : fs->payload_left;
            fs->payload_left -= k;
            i += (size_t)k;
        } else {
            if (fs->have == 0) start = i;
            const char *bad = header_byte(fs, p[i++]);
            if (bad) {
                *why = bad;
                return start;
            }
        }
    }
    return n;
}

void ws_frame_head_init(struct ws_frame_head *h)
{
    h->prev2 = '\n';
    h->prev = '\n';
}

static int ends_empty_line(uint8_t prev2, uint8_t prev, uint8_t c)
{
    return c == '\n' && (prev == '\n' || (prev == '\r' && prev2 == '\n'));
}

size_t ws_frame_head_cut(const struct ws_frame_head *h, const uint8_t *p, size_t n)
{
    uint8_t prev2 = h->prev2, prev = h->prev;
    for (size_t i = 0; i < n; i++) {
        if (ends_empty_line(prev2, prev, p[i])) return i + 1;
        prev2 = prev;
        prev = p[i];
    }
    return n;
}

void ws_frame_head_feed(struct ws_frame_head *h, const uint8_t *p, size_t n)
{
    if (n >= 2) {
        h->prev2 = p[n - 2];
        h->prev = p[n - 1];
    } else if (n == 1) {
        h->prev2 = h->prev;
        h->prev = p[0];
    }
}

static int close_code_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

int ws_frame_close_check(const uint8_t *p, size_t len, const char **why)
{
    if (len == 0) return 0;
    if (len == 1) {
        *why = "close payload of 1 byte";
        return 1002;
    }
    if (!close_code_valid((unsigned)p[0] << 8 | p[1])) {
        *why = "invalid close code";
        return 1002;
    }
    if (!util_utf8_valid((const char *)p + 2, len - 2)) {
        *why = "close reason not UTF-8";
        return 1007;
    }
    return 0;
}
