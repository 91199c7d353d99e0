#include "referee_pool.h"

#include "referee.h"
#include "trusted.h"
#include "workers.h"

#include <pthread.h>
#include <stdlib.h>

#define SLOTS 8     /* versions stocked at once */
#define SLOT_CAP 32 /* states per version at most */
#define SLOT_TARGET_MIN 4

struct slot {
    struct script_version *v; /* referenced while stocked; NULL: a free slot */
    unsigned gen;             /* changes when the slot is given to another version */
    size_t mem_limit;
    int load_budget_ms;
    struct vm *ready[SLOT_CAP];
    int n, target;
    int refilling;  /* a refill job is queued or running */
    int unpoolable; /* the game draws random numbers while it loads */
    unsigned long last_used;
};

/* What a refill job works for: a slot as it was given to one version. */
struct refill {
    int slot;
    unsigned gen;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot slots[SLOTS];
static unsigned long uses;
static int closing;

/* Worker: a state with v's game loaded and collected, or NULL (*poolable says why not). */
static struct vm *build_loaded(struct script_version *v, size_t limit, int budget_ms, int *poolable)
{
    char err[256];
    *poolable = 0;
    struct vm *vm = trusted_build("referee", limit, err, sizeof err);
    if (!vm) return NULL;
    if (referee_load(vm, v, budget_ms, poolable, err, sizeof err) != VM_OK || !*poolable) {
        vm_free(vm);
        return NULL;
    }
    vm_gc_settle(vm);
    return vm;
}

/* Worker: builds states until the slot's stock reaches its target, or the slot changes hands. */
static void refill_work(void *arg)
{
    struct refill *job = arg;
    struct slot *s = &slots[job->slot];
    for (;;) {
        pthread_mutex_lock(&lock);
        int mine = s->gen == job->gen;
        if (closing || !mine || s->n >= s->target) {
            if (mine) s->refilling = 0;
            pthread_mutex_unlock(&lock);
            break;
        }
        struct script_version *v = s->v;
        script_version_ref(v);
        size_t limit = s->mem_limit;
        int budget = s->load_budget_ms;
        pthread_mutex_unlock(&lock);
        int poolable;
        struct vm *vm = build_loaded(v, limit, budget, &poolable);
        script_version_unref(v);
        pthread_mutex_lock(&lock);
        mine = s->gen == job->gen && !closing && s->mem_limit == limit;
        if (vm && mine && s->n < SLOT_CAP) {
            s->ready[s->n++] = vm;
            vm = NULL;
        }
        if (mine && !poolable) s->unpoolable = 1;
        int stop = vm != NULL || !mine || !poolable;
        if (stop && s->gen == job->gen) s->refilling = 0;
        pthread_mutex_unlock(&lock);
        if (vm) vm_free(vm);
        if (stop) break;
    }
    free(job);
}

/* Moves the slot's stock into out (freed by the caller, outside the lock); returns how many. */
static int take_stock(struct slot *s, struct vm **out)
{
    int n = s->n;
    for (int i = 0; i < n; i++)
        out[i] = s->ready[i];
    s->n = 0;
    return n;
}

/* The slot stocking v, or the free or least recently used one given to v (its old version and
 * stock go to *old and stale). Under the lock. */
static struct slot *slot_for(struct script_version *v, struct script_version **old,
                             struct vm **stale, int *nstale)
{
    struct slot *lru = &slots[0];
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].v == v) return &slots[i];
        if (!slots[i].v || (lru->v && slots[i].last_used < lru->last_used)) lru = &slots[i];
    }
    *old = lru->v;
    *nstale = take_stock(lru, stale);
    script_version_ref(v);
    lru->v = v;
    lru->gen++;
    lru->target = SLOT_TARGET_MIN;
    lru->refilling = 0; /* a job for the old version stops at its next look */
    lru->unpoolable = 0;
    return lru;
}

/* Frees what a take pushed out, outside the lock. */
static void drop(struct script_version *old, struct vm **stale, int n)
{
    for (int i = 0; i < n; i++)
        vm_free(stale[i]);
    script_version_unref(old);
}

static void ask_refill(struct slot *s)
{
    struct refill *job = malloc(sizeof *job);
    if (job) *job = (struct refill){(int)(s - slots), s->gen};
    if (job && workers_submit_first(refill_work, NULL, job) == 0) return;
    free(job);
    pthread_mutex_lock(&lock);
    s->refilling = 0;
    pthread_mutex_unlock(&lock);
}

struct vm *referee_pool_take(struct script_version *v, size_t mem_limit, int load_budget_ms)
{
    struct vm *stale[SLOT_CAP * 2], *vm = NULL;
    struct script_version *old = NULL;
    int nstale = 0;
    pthread_mutex_lock(&lock);
    struct slot *s = slot_for(v, &old, stale, &nstale);
    if (s->mem_limit != mem_limit) { /* the cap changed (SIGHUP): the stock is for the old one */
        nstale += take_stock(s, stale + nstale);
        s->mem_limit = mem_limit;
    }
    s->load_budget_ms = load_budget_ms;
    s->last_used = ++uses;
    int unpoolable = s->unpoolable;
    if (s->n)
        vm = s->ready[--s->n];
    else if (!unpoolable && s->target < SLOT_CAP)
        s->target *= 2;
    int submit = !unpoolable && !closing && !s->refilling && s->n < s->target / 2;
    if (submit) s->refilling = 1;
    pthread_mutex_unlock(&lock);
    drop(old, stale, nstale);
    if (submit) ask_refill(s);
    if (!vm && !unpoolable) trusted_pool_missed("referee_game");
    return vm;
}

void referee_pool_free(void)
{
    pthread_mutex_lock(&lock);
    closing = 1;
    struct vm *stale[SLOT_CAP];
    for (int i = 0; i < SLOTS; i++) {
        int n = take_stock(&slots[i], stale);
        struct script_version *v = slots[i].v;
        slots[i].v = NULL;
        slots[i].gen++;
        pthread_mutex_unlock(&lock);
        drop(v, stale, n);
        pthread_mutex_lock(&lock);
    }
    pthread_mutex_unlock(&lock);
}
