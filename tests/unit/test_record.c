/* Unit tests for record.c: a line written is read back, and a torn or altered one is not. */
#include "record.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

int main(void)
{
    const char *row = "{\"id\":\"a\",\"n\":1}";
    char buf[128];
    size_t n = record_write(buf, "games", row, strlen(row));
    is_int((int)n, (int)record_size("games", strlen(row)), "the line has the size announced");
    ok(buf[n - 1] == '\n' && buf[8] == ' ', "checksum, space, JSON, newline");
    json_t *rec = record_parse(buf, n - 1);
    ok(rec && strcmp(json_string_value(json_object_get(rec, "t")), "games") == 0 &&
           json_integer_value(json_object_get(json_object_get(rec, "r"), "n")) == 1,
       "read back: its table and its row");
    json_decref(rec);
    ok(!record_parse(buf, n - 3), "a torn line is refused");
    buf[20] ^= 1;
    ok(!record_parse(buf, n - 1), "an altered byte is refused");
    ok(!record_parse("0000000g {}", 11), "a checksum that is not hex is refused");
    char arr[64];
    size_t m = record_write(arr, "games", "[1]", 3);
    json_t *r2 = record_parse(arr, m - 1);
    ok(r2 == NULL, "a record whose row is not an object is refused");
    return done_testing();
}
