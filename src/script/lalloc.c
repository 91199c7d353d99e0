#include "lalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A block's header, padded so that the objects after it stay 16-byte aligned. */
struct lalloc_block {
    struct lalloc_block *next;
    char pad[LALLOC_STEP - sizeof(struct lalloc_block *)];
};

_Static_assert(sizeof(struct lalloc_block) == LALLOC_STEP, "block header keeps alignment");

static size_t class_of(size_t size)
{
    return (size + LALLOC_STEP - 1) / LALLOC_STEP;
}

static void push_free(struct lalloc *a, void *p, size_t cls)
{
    *(void **)p = a->free_list[cls];
    a->free_list[cls] = p;
}

static void *pop_free(struct lalloc *a, size_t cls)
{
    void *p = a->free_list[cls];
    if (p) a->free_list[cls] = *(void **)p;
    return p;
}

void lalloc_init(struct lalloc *a)
{
    memset(a, 0, sizeof *a);
}

/* Starts a new block. The old block's tail is a whole number of classes: it goes on the free
 * list of its size rather than being lost. */
static int new_block(struct lalloc *a, size_t held_limit)
{
    if (a->held + LALLOC_BLOCK > held_limit) return -1;
    struct lalloc_block *b = malloc(LALLOC_BLOCK);
    if (!b) return -1;
    size_t tail = (size_t)(a->bump_end - a->bump);
    if (tail >= LALLOC_STEP) push_free(a, a->bump, tail / LALLOC_STEP);
    b->next = a->blocks;
    a->blocks = b;
    a->bump = (char *)(b + 1);
    a->bump_end = (char *)b + LALLOC_BLOCK;
    a->held += LALLOC_BLOCK;
    return 0;
}

/* At the limit, a free object of a larger class is split: the request gets its head, and the
 * rest goes on the free list of its own size. */
static void *split_larger(struct lalloc *a, size_t cls)
{
    for (size_t c = cls + 1; c <= LALLOC_CLASSES; c++) {
        char *p = pop_free(a, c);
        if (!p) continue;
        push_free(a, p + cls * LALLOC_STEP, c - cls);
        return p;
    }
    return NULL;
}

static void *small_alloc(struct lalloc *a, size_t cls, size_t held_limit)
{
    void *p = pop_free(a, cls);
    if (p) return p;
    size_t bytes = cls * LALLOC_STEP;
    if ((size_t)(a->bump_end - a->bump) < bytes && new_block(a, held_limit) < 0)
        return split_larger(a, cls);
    p = a->bump;
    a->bump += bytes;
    return p;
}

/* A large object's header: the object follows it. The list lets lalloc_release free what
 * the state still holds without the state's help. */
struct lalloc_large {
    struct lalloc_large *prev, *next;
};

_Static_assert(sizeof(struct lalloc_large) == LALLOC_STEP, "large header keeps alignment");

static void link_large(struct lalloc *a, struct lalloc_large *h)
{
    h->prev = NULL;
    h->next = a->large;
    if (h->next) h->next->prev = h;
    a->large = h;
}

static void unlink_large(struct lalloc *a, struct lalloc_large *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        a->large = h->next;
    if (h->next) h->next->prev = h->prev;
}

static void *large_alloc(struct lalloc *a, size_t size, size_t held_limit)
{
    if (a->held + size > held_limit) return NULL;
    struct lalloc_large *h = malloc(sizeof *h + size);
    if (!h) return NULL;
    a->held += size;
    link_large(a, h);
    return h + 1;
}

static void large_free(struct lalloc *a, void *p, size_t size)
{
    struct lalloc_large *h = (struct lalloc_large *)p - 1;
    unlink_large(a, h);
    free(h);
    a->held -= size;
}

static void *large_realloc(struct lalloc *a, void *p, size_t osize, size_t nsize)
{
    struct lalloc_large *h = (struct lalloc_large *)p - 1;
    unlink_large(a, h);
    struct lalloc_large *grown = realloc(h, sizeof *h + nsize);
    if (!grown) {
        link_large(a, h);
        return NULL;
    }
    link_large(a, grown);
    a->held = a->held - osize + nsize;
    return grown + 1;
}

static void *obj_alloc(struct lalloc *a, size_t size, size_t held_limit)
{
    if (size <= LALLOC_SMALL_MAX) return small_alloc(a, class_of(size), held_limit);
    return large_alloc(a, size, held_limit);
}

static void obj_free(struct lalloc *a, void *p, size_t size)
{
    if (size <= LALLOC_SMALL_MAX) {
        push_free(a, p, class_of(size));
        return;
    }
    large_free(a, p, size);
}

void *lalloc_realloc(struct lalloc *a, void *ptr, size_t osize, size_t nsize, size_t held_limit)
{
    if (nsize == 0) {
        if (ptr) obj_free(a, ptr, osize);
        return NULL;
    }
    if (!ptr) return obj_alloc(a, nsize, held_limit);
    int old_small = osize <= LALLOC_SMALL_MAX, new_small = nsize <= LALLOC_SMALL_MAX;
    if (old_small && new_small && class_of(osize) == class_of(nsize)) return ptr;
    /* Shrinking gives memory back: it must not fail, so the limit does not apply to it. */
    if (nsize < osize) held_limit = SIZE_MAX;
    if (!old_small && !new_small) {
        if (nsize > osize && a->held + (nsize - osize) > held_limit) return NULL;
        return large_realloc(a, ptr, osize, nsize);
    }
    void *p = obj_alloc(a, nsize, held_limit);
    if (!p) return NULL;
    memcpy(p, ptr, osize < nsize ? osize : nsize);
    obj_free(a, ptr, osize);
    return p;
}

void lalloc_release(struct lalloc *a)
{
    struct lalloc_large *h = a->large;
    while (h) {
        struct lalloc_large *next = h->next;
        free(h);
        h = next;
    }
    struct lalloc_block *b = a->blocks;
    while (b) {
        struct lalloc_block *next = b->next;
        free(b);
        b = next;
    }
    lalloc_init(a);
}
