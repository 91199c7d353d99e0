/* lalloc.h - the memory of one Lua state: small objects from its own blocks.
 *
 * A room's state lives for one game: it is built on a worker thread, runs on the loop thread,
 * and is closed on a worker again. With glibc's malloc behind it, every Lua object was a heap
 * chunk of the arena of whichever thread made it, so the loop freed chunks of the workers'
 * arenas and the workers freed the loop's (taking the other arena's lock), and small frees
 * piled up in fastbins that large requests then had to consolidate: malloc was about a quarter
 * of the loop thread in the games benchmark (docs/benchmarks.md, issue 4).
 *
 * Here a state's objects up to LALLOC_SMALL_MAX bytes are carved from blocks the state owns,
 * in size classes 16 bytes apart; a freed object goes on its class's free list and is reused
 * by the same state only. Larger objects go to malloc, with a header that keeps them on a list.
 * lalloc_release() gives everything back in one pass over the blocks and large objects, so a
 * state that holds nothing outside its memory can be dropped without lua_close (vm.c).
 *
 * Every pointer returned is 16-byte aligned. Not thread-safe: a struct lalloc belongs to the
 * thread that uses its state at the time, like the state itself. */
#ifndef MT_LALLOC_H
#define MT_LALLOC_H

#include <stddef.h>

#define LALLOC_SMALL_MAX 1024 /* the largest object served from blocks */
#define LALLOC_STEP 16        /* size classes are multiples of this */
#define LALLOC_CLASSES (LALLOC_SMALL_MAX / LALLOC_STEP)
#define LALLOC_BLOCK (32 * 1024) /* bytes a block takes from malloc, header included */

struct lalloc_block;
struct lalloc_large;

struct lalloc {
    void *free_list[LALLOC_CLASSES + 1]; /* by class, 1-based: class c holds c*16 bytes */
    char *bump, *bump_end;               /* the unused tail of the newest block */
    struct lalloc_block *blocks;
    struct lalloc_large *large; /* the large objects, each with a list header */
    size_t held;                /* bytes taken from malloc: blocks plus large objects */
};

/* An empty allocator. Holds nothing until the first allocation. */
void lalloc_init(struct lalloc *a);

/* The lua_Alloc contract: ptr is NULL or an object of osize bytes from this allocator; returns
 * an object of nsize bytes with the first min(osize, nsize) bytes of ptr (ptr itself no longer
 * valid unless returned), or NULL when nsize is 0 (ptr freed). An allocation or growth that
 * would take a.held past held_limit returns NULL and leaves ptr as it was; shrinking never
 * fails. */
void *lalloc_realloc(struct lalloc *a, void *ptr, size_t osize, size_t nsize, size_t held_limit);

/* Frees everything: every block and every large object still held. Every object of the
 * allocator is no longer valid, and a is empty again. */
void lalloc_release(struct lalloc *a);

#endif
