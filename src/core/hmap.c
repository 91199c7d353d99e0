#include "hmap.h"

#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct entry {
    char *key;
    void *value;
    uint32_t hash;
    struct entry *next;
};

struct hmap {
    struct entry **buckets;
    size_t nbuckets, size;
    uint64_t seed;
};

static uint64_t process_seed;
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static void seed_init(void)
{
    if (util_random_bytes(&process_seed, sizeof process_seed) == 0) return;
    /* No kernel randomness (a seccomp filter, a very old kernel): a seed that at least differs
     * between runs and processes beats a fixed one. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    process_seed = ((uint64_t)ts.tv_sec << 32 ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 16) *
                   0x9e3779b97f4a7c15ull;
}

uint64_t hmap_process_seed(void)
{
    pthread_once(&seed_once, seed_init);
    return process_seed;
}

/* FNV-1a (64-bit) started from a seeded offset basis, then the murmur3 finaliser: the seed keeps
 * clients from choosing keys that share a bucket, and the finaliser makes the low bits (the
 * bucket index) depend on every byte of the key and of the seed. */
uint32_t hmap_hash(uint64_t seed, const char *key)
{
    uint64_t h = 14695981039346656037ull ^ seed;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (uint32_t)h;
}

struct hmap *hmap_new(void)
{
    return hmap_new_seeded(hmap_process_seed());
}

struct hmap *hmap_new_seeded(uint64_t seed)
{
    struct hmap *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->seed = seed;
    m->nbuckets = 16;
    m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
    if (!m->buckets) {
        free(m);
        return NULL;
    }
    return m;
}

void hmap_free(struct hmap *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct entry *e = m->buckets[i];
        while (e) {
            struct entry *next = e->next;
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    free(m);
}

void hmap_free_values(struct hmap *m, void (*free_value)(const char *key, void *value, void *arg))
{
    if (!m) return;
    hmap_each(m, free_value, NULL);
    hmap_free(m);
}

static struct entry *find(const struct hmap *m, const char *key, uint32_t h)
{
    for (struct entry *e = m->buckets[h & (m->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0) return e;
    return NULL;
}

void *hmap_get(const struct hmap *m, const char *key)
{
    struct entry *e = find(m, key, hmap_hash(m->seed, key));
    return e ? e->value : NULL;
}

static void grow(struct hmap *m)
{
    size_t n = m->nbuckets * 2;
    struct entry **b = calloc(n, sizeof *b);
    if (!b) return; /* a full map still works, only slower */
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct entry *e = m->buckets[i];
        while (e) {
            struct entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

int hmap_put(struct hmap *m, const char *key, void *value)
{
    uint32_t h = hmap_hash(m->seed, key);
    struct entry *e = find(m, key, h);
    if (e) {
        e->value = value;
        return 0;
    }
    e = malloc(sizeof *e);
    if (!e || !(e->key = strdup(key))) {
        free(e);
        return -1;
    }
    e->value = value;
    e->hash = h;
    e->next = m->buckets[h & (m->nbuckets - 1)];
    m->buckets[h & (m->nbuckets - 1)] = e;
    if (++m->size > m->nbuckets) grow(m);
    return 0;
}

void *hmap_del(struct hmap *m, const char *key)
{
    uint32_t h = hmap_hash(m->seed, key);
    for (struct entry **pp = &m->buckets[h & (m->nbuckets - 1)]; *pp; pp = &(*pp)->next) {
        struct entry *e = *pp;
        if (e->hash == h && strcmp(e->key, key) == 0) {
            void *v = e->value;
            *pp = e->next;
            free(e->key);
            free(e);
            m->size--;
            return v;
        }
    }
    return NULL;
}

size_t hmap_size(const struct hmap *m)
{
    return m->size;
}

void hmap_each(const struct hmap *m, void (*fn)(const char *, void *, void *), void *arg)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct entry *e = m->buckets[i]; e; e = e->next)
            fn(e->key, e->value, arg);
}

size_t hmap_values(const struct hmap *m, void **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nbuckets && n < max; i++)
        for (struct entry *e = m->buckets[i]; e && n < max; e = e->next)
            out[n++] = e->value;
    return n;
}
