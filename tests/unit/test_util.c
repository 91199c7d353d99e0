/* Unit tests for util.c: UTF-8 validation (what store_put_json refuses) and scrubbing (error
 * messages), and the integer formatter. */
#include "tap.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

static int valid(const char *s)
{
    return util_utf8_valid(s, strlen(s));
}

int main(void)
{
    ok(valid("") && valid("plain ascii {\"a\":1}"), "ASCII is valid");
    ok(valid("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"), "2, 3 and 4 byte sequences are valid");
    ok(valid("\xED\x9F\xBF") && valid("\xEE\x80\x80") && valid("\xF4\x8F\xBF\xBF"),
       "U+D7FF, U+E000 and U+10FFFF are valid");
    static const char *const bad[] = {
        "\xFF",
        "\x80",
        "\xC0\xAF",
        "\xC1\xBF",
        "\xE0\x80\xAF",
        "\xF0\x80\x80\xAF",
        "\xED\xA0\x80",
        "\xF4\x90\x80\x80",
        "\xF5\x80\x80\x80",
        "\xC3",
        "\xE2\x82",
        "a\xC3(",
        "\xE2\x28\xA1",
    };
    int refused = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused += !valid(bad[i]);
    is_int(refused, (int)(sizeof bad / sizeof bad[0]),
           "stray continuation bytes, overlong forms, surrogates, past U+10FFFF and cut-off "
           "sequences are refused");
    ok(util_utf8_valid("a\0b", 3), "a NUL is a character like any other");

    char scrub[32] = "caf\xC3\xA9 \xFF ok \xE2\x82";
    util_utf8_scrub(scrub);
    is_str(scrub, "caf\xC3\xA9 ? ok ??", "util_utf8_scrub: stray and cut-off bytes become '?'");
    ok(valid(scrub), "util_utf8_scrub: the result is valid UTF-8");
    char intact[] = "\xF0\x9F\x98\x80 plain";
    util_utf8_scrub(intact);
    is_str(intact, "\xF0\x9F\x98\x80 plain", "util_utf8_scrub: valid text is unchanged");

    char out[24];
    int n = util_format_int(out, -9223372036854775807LL - 1);
    out[n] = '\0';
    is_str(out, "-9223372036854775808", "util_format_int: the smallest int64");
    n = util_format_int(out, 0);
    out[n] = '\0';
    is_str(out, "0", "util_format_int: zero");
    return done_testing();
}
