/* Unit tests for hmap.c: put, get, replace, delete, growth; freeing owned values; the
 * per-process random seed. */
#include "hmap.h"
#include "tap.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void basics(struct hmap *m, const char *which)
{
    char key[32];
    for (intptr_t i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%ld", (long)i);
        hmap_put(m, key, (void *)(i + 1));
    }
    is_int(hmap_size(m), 5000, "%s: 5000 entries after growth", which);
    int all = 1;
    for (intptr_t i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%ld", (long)i);
        all &= (intptr_t)hmap_get(m, key) == i + 1;
    }
    ok(all, "%s: every key finds its value", which);
    ok(hmap_get(m, "nope") == NULL, "%s: absent key is NULL", which);
    hmap_put(m, "k1", (void *)99);
    is_int((intptr_t)hmap_get(m, "k1"), 99, "%s: put replaces", which);
    is_int(hmap_size(m), 5000, "%s: replace keeps the size", which);
    is_int((intptr_t)hmap_del(m, "k1"), 99, "%s: del returns the value", which);
    ok(hmap_get(m, "k1") == NULL, "%s: deleted key is gone", which);
    is_int(hmap_size(m), 4999, "%s: size drops", which);
    void *vals[10];
    is_int(hmap_values(m, vals, 10), 10, "%s: values copies at most max", which);
}

static void count_freed(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    int *freed = value;
    (*freed)++;
}

/* hmap_free_values hands every value to the callback once, and takes NULL. */
static void free_values(void)
{
    int freed[3] = {0, 0, 0};
    struct hmap *m = hmap_new();
    hmap_put(m, "a", &freed[0]);
    hmap_put(m, "b", &freed[1]);
    hmap_put(m, "c", &freed[2]);
    hmap_free_values(m, count_freed);
    ok(freed[0] == 1 && freed[1] == 1 && freed[2] == 1, "free_values: each value freed once");
    hmap_free_values(NULL, count_freed);
    ok(1, "free_values: a NULL map does nothing");
}

/* The seed another process of this binary draws (it prints it when run with "seed"). */
static uint64_t other_process_seed(void)
{
    char exe[4096], cmd[4200];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return 0;
    exe[n] = '\0';
    snprintf(cmd, sizeof cmd, "'%s' seed", exe);
    FILE *p = popen(cmd, "r");
    if (!p) return 0;
    uint64_t seed = 0;
    if (fscanf(p, "%" SCNu64, &seed) != 1) seed = 0;
    pclose(p);
    return seed;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "seed") == 0) {
        printf("%" PRIu64 "\n", hmap_process_seed());
        return 0;
    }
    struct hmap *m = hmap_new();
    ok(m != NULL, "created");
    basics(m, "process seed");
    hmap_free(m);
    free_values();

    /* The seed changes the hash of every key, so a set of colliding keys found for one seed
     * says nothing about another. */
    int differ = 0;
    char key[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "Guest-%04x", i);
        differ += hmap_hash(1, key) != hmap_hash(2, key);
    }
    is_int(differ, 100, "seeds 1 and 2 hash each of 100 keys differently");
    ok(hmap_hash(7, "127.0.0.1") == hmap_hash(7, "127.0.0.1"), "one seed hashes a key one way");
    uint64_t seed = hmap_process_seed();
    ok(seed == hmap_process_seed(), "the process seed is drawn once");
    uint64_t other = other_process_seed();
    ok(other != 0 && other != seed, "another process draws another seed (%" PRIu64 ", %" PRIu64 ")",
       seed, other);

    /* Maps under different seeds lay the same keys out differently and still find them all. */
    struct hmap *a = hmap_new_seeded(1), *b = hmap_new_seeded(2);
    basics(a, "seed 1");
    basics(b, "seed 2");
    void *va[64], *vb[64];
    size_t na = hmap_values(a, va, 64), nb = hmap_values(b, vb, 64);
    ok(na == nb && memcmp(va, vb, sizeof va) != 0, "the two seeds order the buckets differently");
    hmap_free(a);
    hmap_free(b);
    return done_testing();
}
