/* Unit tests for text_bridge_cut: where the text bridge splits a long line (docs/protocol.md,
 * "Text bridge"): at the last space of the limit's second half, else between UTF-8 characters,
 * never over the limit. */
#include "tap.h"
#include "text_bridge.h"
#include "util.h"

#include <string.h>

/* Splits text the way tb_say does (spaces at a cut dropped) and checks every piece. */
static int split_ok(const char *text, size_t max, int *pieces)
{
    size_t left = strlen(text);
    const char *p = text;
    *pieces = 0;
    while (left > 0) {
        while (left > 0 && *p == ' ') {
            p++;
            left--;
        }
        if (!left) break;
        size_t n = text_bridge_cut(p, left, max);
        if (n == 0 || n > max || !util_utf8_valid(p, n)) return 0;
        p += n;
        left -= n;
        ++*pieces;
    }
    return 1;
}

int main(void)
{
    is_int(text_bridge_cut("short", 5, 200), 5, "a text that fits is one piece");
    is_int(text_bridge_cut("", 0, 200), 0, "nothing is nothing");
    const char *words = "aaaa bbbb cccc dddd";
    is_int(text_bridge_cut(words, strlen(words), 12), 9, "cut at the last space within the limit");
    is_int(text_bridge_cut(words, strlen(words), 10), 9, "a space right at the limit is taken");
    const char *early = "ab cdefghijklmnopqrstuvwxyz";
    is_int(text_bridge_cut(early, strlen(early), 10), 10,
           "a space in the first half is not taken: the line would be too short");
    const char *accents = "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"; /* 4 x U+00E9, 8 bytes */
    is_int(text_bridge_cut(accents, 8, 5), 4, "never inside a two-byte character");
    const char *euro = "\xE2\x82\xAC\xE2\x82\xAC"; /* 2 x U+20AC, 6 bytes */
    is_int(text_bridge_cut(euro, 6, 5), 3, "never inside a three-byte character");
    int pieces;
    char big[1200];
    size_t n = 0;
    while (n + 3 < sizeof big) {
        memcpy(big + n, n % 7 ? "\xC3\xA9" : "x ", 2);
        n += 2;
    }
    big[n] = '\0';
    ok(split_ok(big, 40, &pieces) && pieces >= 30,
       "a long mixed text splits into %d valid pieces of "
       "at most 40 bytes",
       pieces);
    ok(split_ok(big, 4000, &pieces) && pieces == 1, "and is one piece under a large limit");
    return done_testing();
}
