/* Unit tests for hmap.c: put, get, replace, delete, growth. */
#include "hmap.h"
#include "tap.h"

#include <stdint.h>
#include <stdio.h>

int main(void)
{
    struct hmap *m = hmap_new();
    ok(m != NULL, "created");
    char key[32];
    for (intptr_t i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%ld", (long)i);
        hmap_put(m, key, (void *)(i + 1));
    }
    is_int(hmap_size(m), 5000, "5000 entries after growth");
    is_int((intptr_t)hmap_get(m, "k4242"), 4243, "get finds a value");
    ok(hmap_get(m, "nope") == NULL, "absent key is NULL");
    hmap_put(m, "k1", (void *)99);
    is_int((intptr_t)hmap_get(m, "k1"), 99, "put replaces");
    is_int(hmap_size(m), 5000, "replace keeps the size");
    is_int((intptr_t)hmap_del(m, "k1"), 99, "del returns the value");
    ok(hmap_get(m, "k1") == NULL, "deleted key is gone");
    is_int(hmap_size(m), 4999, "size drops");
    void *vals[10];
    is_int(hmap_values(m, vals, 10), 10, "values copies at most max");
    hmap_free(m);
    return done_testing();
}
