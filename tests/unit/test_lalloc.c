/* Unit tests for lalloc.c: alignment, reuse within a class, contents kept across
 * reallocation, the held limit (and shrinking past it), and a random workload checked against
 * a model of what every live object must still contain. */
#include "lalloc.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 2000

struct slot {
    unsigned char *p;
    size_t size;
    unsigned char fill;
};

static int intact(const struct slot *s)
{
    for (size_t i = 0; i < s->size; i++)
        if (s->p[i] != s->fill) return 0;
    return 1;
}

/* Random allocations, reallocations and frees of sizes 1..3000 (both sides of the small
 * limit); every live object keeps its fill byte. Returns the number of corrupted objects. */
static int random_workload(struct lalloc *a, unsigned seed, int steps)
{
    static struct slot slots[SLOTS];
    memset(slots, 0, sizeof slots);
    srand(seed);
    int bad = 0;
    for (int step = 0; step < steps; step++) {
        struct slot *s = &slots[rand() % SLOTS];
        size_t nsize = (rand() % 4 == 0) ? 0 : 1 + (size_t)(rand() % 3000);
        if (s->p && !intact(s)) bad++;
        unsigned char *p = lalloc_realloc(a, s->p, s->p ? s->size : 0, nsize, SIZE_MAX);
        if (nsize == 0) {
            s->p = NULL;
            continue;
        }
        if (!p || ((uintptr_t)p & 15)) {
            bad++;
            continue;
        }
        size_t kept = s->p && s->size < nsize ? s->size : (s->p ? nsize : 0);
        for (size_t i = 0; i < kept; i++)
            if (p[i] != s->fill) {
                bad++;
                break;
            }
        s->p = p;
        s->size = nsize;
        s->fill = (unsigned char)(step & 0xff);
        memset(p, s->fill, nsize);
    }
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p) {
            if (!intact(&slots[i])) bad++;
            lalloc_realloc(a, slots[i].p, slots[i].size, 0, SIZE_MAX);
        }
    return bad;
}

int main(void)
{
    struct lalloc a;
    lalloc_init(&a);
    is_int(a.held, 0, "an empty allocator holds nothing");

    void *p = lalloc_realloc(&a, NULL, 0, 24, SIZE_MAX);
    ok(p && ((uintptr_t)p & 15) == 0, "a small object is 16-byte aligned");
    is_int(a.held, LALLOC_BLOCK, "the first small object takes one block");
    ok(lalloc_realloc(&a, p, 24, 30, SIZE_MAX) == p, "growing within a class keeps the object");
    ok(lalloc_realloc(&a, p, 30, 0, SIZE_MAX) == NULL, "freeing returns NULL");
    ok(lalloc_realloc(&a, NULL, 0, 17, SIZE_MAX) == p, "a freed object is reused by its class");

    char *s = lalloc_realloc(&a, NULL, 0, 100, SIZE_MAX);
    memcpy(s, "monkeytown", 11);
    char *big = lalloc_realloc(&a, s, 100, 5000, SIZE_MAX);
    ok(big && strcmp(big, "monkeytown") == 0, "growing past the small limit keeps the contents");
    is_int(a.held, LALLOC_BLOCK + 5000, "a large object is counted in held");
    char *back = lalloc_realloc(&a, big, 5000, 64, 0);
    ok(back && strcmp(back, "monkeytown") == 0, "shrinking ignores the limit and keeps contents");
    is_int(a.held, LALLOC_BLOCK, "the large object is given back");

    size_t limit = a.held;
    ok(lalloc_realloc(&a, NULL, 0, 2000, limit) == NULL, "a large object past the limit fails");
    void *objs[4096];
    int n = 0;
    while (n < 4096 && (objs[n] = lalloc_realloc(&a, NULL, 0, 512, limit)))
        n++;
    ok(n > 0 && n < 4096, "small objects fail once the block is full and the limit is reached");
    is_int(a.held, limit, "nothing was taken past the limit");
    int crumbs = 0; /* the block's tail and the free lists, used up in 16-byte objects */
    while (crumbs < 10000 && lalloc_realloc(&a, NULL, 0, 16, limit))
        crumbs++;
    ok(crumbs > 0 && crumbs < 10000, "the rest is used up by small objects (%d)", crumbs);
    lalloc_realloc(&a, objs[0], 512, 0, limit);
    void *half = lalloc_realloc(&a, NULL, 0, 256, limit);
    ok(half == objs[0], "at the limit a larger free object is split");
    ok(lalloc_realloc(&a, NULL, 0, 256, limit) == (char *)objs[0] + 256,
       "and the rest of it serves the next request of its size");
    ok(lalloc_realloc(&a, NULL, 0, 512, SIZE_MAX) != NULL, "below a higher limit it grows again");
    lalloc_release(&a);
    is_int(a.held, 0, "release gives every block back");

    lalloc_init(&a);
    is_int(random_workload(&a, 7, 200000), 0, "a random workload keeps every object intact");
    ok(a.held < 64u * LALLOC_BLOCK, "and holds a bounded number of blocks (%zu bytes)", a.held);
    lalloc_release(&a);
    return done_testing();
}
