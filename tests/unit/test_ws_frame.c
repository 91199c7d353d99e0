/* Unit tests for ws_frame.c: the frame header scan that runs before lws parses a client's
 * bytes (fed whole, split at every byte, and at every offset), where an HTTP header block
 * ends, and the judgement of close frame payloads. */
#include "tap.h"
#include "ws_frame.h"

#include <stdint.h>
#include <string.h>

/* Builds a client frame into out; ext forces the 16- (2) or 64-bit (8) length form. Returns
 * its size. The mask key is fixed: the scan never looks at the payload. */
static size_t build(uint8_t *out, int opcode, int masked, uint64_t len, int ext, size_t body)
{
    size_t n = 0;
    out[n++] = (uint8_t)(0x80 | opcode);
    uint8_t m = masked ? 0x80 : 0;
    if (ext == 8) {
        out[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)(len >> (8 * i));
    } else if (ext == 2) {
        out[n++] = m | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = (uint8_t)(m | len);
    }
    if (masked) {
        memcpy(out + n, "\x01\x02\x03\x04", 4);
        n += 4;
    }
    memset(out + n, 'x', body);
    return n + body;
}

/* Scans p whole; returns the accepted prefix, why set on a refusal. */
static size_t scan_whole(const uint8_t *p, size_t n, const char **why)
{
    struct ws_frame_scan fs = {0};
    *why = NULL;
    return ws_frame_scan(&fs, p, n, why);
}

/* Scans p one byte at a time; returns the index of the byte whose call refused, or n. */
static size_t scan_bytes(const uint8_t *p, size_t n)
{
    struct ws_frame_scan fs = {0};
    const char *why = NULL;
    for (size_t i = 0; i < n; i++)
        if (ws_frame_scan(&fs, p + i, 1, &why) != 1) return i;
    return n;
}

static void test_scan(void)
{
    uint8_t buf[4096];
    const char *why;
    size_t n = build(buf, 1, 1, 5, 0, 5);
    n += build(buf + n, 1, 1, 300, 2, 300);
    n += build(buf + n, 2, 1, 70000, 8, 0); /* only its header: the payload is not sent */
    is_int(scan_whole(buf, n, &why), n, "masked frames with 7-, 16- and 64-bit lengths pass");
    is_int(scan_bytes(buf, n), n, "and pass split at every byte");

    size_t first = build(buf, 1, 1, 3, 0, 3);
    size_t bad = first + build(buf + first, 1, 0, 3, 0, 3);
    is_int(scan_whole(buf, bad, &why), first, "an unmasked frame is refused where it starts");
    is_str(why, "unmasked frame", "with its reason");
    is_int(scan_bytes(buf, bad), first + 1, "split: refused at its second byte");

    n = build(buf, 9, 1, 125, 0, 125);
    is_int(scan_whole(buf, n, &why), n, "a ping of 125 bytes passes");
    n = build(buf, 9, 1, 126, 2, 126);
    is_int(scan_whole(buf, n, &why), 0, "a ping of 126 bytes is refused");
    is_str(why, "control frame over 125 bytes", "with its reason");
    n = build(buf, 8, 1, 4, 8, 4);
    is_int(scan_whole(buf, n, &why), 0, "a close with a 64-bit length is refused");

    first = build(buf, 1, 1, 2, 0, 2);
    n = first + build(buf + first, 1, 1, (uint64_t)1 << 63, 8, 0);
    is_int(scan_whole(buf, n, &why), first, "a 64-bit length with its top bit set is refused");
    is_str(why, "frame length over 2^63", "with its reason");
    n = build(buf, 1, 1, ((uint64_t)1 << 63) - 1, 8, 0);
    is_int(scan_whole(buf, n, &why), n, "the largest 63-bit length passes");

    /* A header cut across two reads: the refusal points at the start of the second read. */
    struct ws_frame_scan fs = {0};
    n = build(buf, 1, 0, 3, 0, 3);
    is_int(ws_frame_scan(&fs, buf, 1, &why), 1, "the first header byte alone passes");
    is_int(ws_frame_scan(&fs, buf + 1, n - 1, &why), 0,
           "a frame started in an earlier read is refused at offset 0");

    /* Empty frames, then a payload split at every offset, then another frame. */
    n = build(buf, 1, 1, 0, 0, 0);
    n += build(buf + n, 10, 1, 0, 0, 0);
    n += build(buf + n, 1, 1, 40, 0, 40);
    size_t last = n;
    n += build(buf + n, 1, 0, 1, 0, 1);
    int all = 1;
    for (size_t cut = 0; cut <= n; cut++) {
        struct ws_frame_scan s2 = {0};
        size_t a = ws_frame_scan(&s2, buf, cut, &why);
        size_t refused_at = a < cut ? a : cut + ws_frame_scan(&s2, buf + cut, n - cut, &why);
        /* Cut inside its header, the second read is refused from its first byte. */
        all &= refused_at == (cut == last + 1 ? cut : last);
    }
    ok(all, "split at any offset: the unmasked frame after empty ones is found");
}

static void test_head(void)
{
    struct ws_frame_head h;
    ws_frame_head_init(&h);
    const char *req = "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n\x81\x85";
    size_t len = strlen(req);
    is_int(ws_frame_head_cut(&h, (const uint8_t *)req, len), len - 2,
           "a read is cut after the CRLFCRLF that ends the headers");
    const char *lf = "GET / HTTP/1.1\nHost: x\n\nrest";
    is_int(ws_frame_head_cut(&h, (const uint8_t *)lf, strlen(lf)), strlen(lf) - 4,
           "and after an LF LF");
    const char *none = "GET / HTTP/1.1\r\nHost: x\r\n";
    is_int(ws_frame_head_cut(&h, (const uint8_t *)none, strlen(none)), strlen(none),
           "a read without the end of the headers is not cut");
    ws_frame_head_feed(&h, (const uint8_t *)none, strlen(none));
    is_int(ws_frame_head_cut(&h, (const uint8_t *)"\r\nX", 3), 2,
           "an end split across reads is found");
    ws_frame_head_feed(&h, (const uint8_t *)"\r", 1);
    is_int(ws_frame_head_cut(&h, (const uint8_t *)"\nX", 2), 1, "even split after its CR");
    struct ws_frame_head fresh;
    ws_frame_head_init(&fresh);
    is_int(ws_frame_head_cut(&fresh, (const uint8_t *)"\r\nGET", 5), 2,
           "an empty line at the start of a stream ends a (empty) header block, as for lws");
}

static int close_code(const char *p, size_t len, const char **why)
{
    *why = NULL;
    return ws_frame_close_check((const uint8_t *)p, len, why);
}

static void test_close(void)
{
    const char *why;
    is_int(close_code("", 0, &why), 0, "an empty close payload is fine");
    is_int(close_code("\x03", 1, &why), 1002, "a 1-byte payload gets 1002");
    static const unsigned valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                     1010, 1011, 1012, 1013, 1014, 3000, 4999};
    static const unsigned invalid[] = {0,    999,  1004, 1005, 1006, 1015,
                                       1016, 2000, 2999, 5000, 5001, 65535};
    int good = 1;
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        char p[2] = {(char)(valid[i] >> 8), (char)valid[i]};
        good &= close_code(p, 2, &why) == 0;
    }
    ok(good, "codes 1000-1003, 1007-1014, 3000 and 4999 are accepted");
    good = 1;
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        char p[2] = {(char)(invalid[i] >> 8), (char)invalid[i]};
        good &= close_code(p, 2, &why) == 1002;
    }
    ok(good, "codes below 1000, 1004-1006, 1015-2999 and 5000 and up get 1002");
    is_int(close_code("\x03\xe8"
                      "bye \xc3\xa9",
                      8, &why),
           0, "a UTF-8 reason is fine");
    is_int(close_code("\x03\xe8ok\xff", 5, &why), 1007, "a reason that is not UTF-8 gets 1007");
    is_str(why, "close reason not UTF-8", "with its reason");
}

int main(void)
{
    test_scan();
    test_head();
    test_close();
    return done_testing();
}
