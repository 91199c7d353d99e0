#include "hmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    char *key;
    void *value;
    uint32_t hash;
    struct entry *next;
};

struct hmap {
    struct entry **buckets;
    size_t nbuckets, size;
};

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

struct hmap *hmap_new(void)
{
    struct hmap *m = calloc(1, sizeof *m);
    if (!m) return NULL;
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

static struct entry *find(const struct hmap *m, const char *key, uint32_t h)
{
    for (struct entry *e = m->buckets[h & (m->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0) return e;
    return NULL;
}

void *hmap_get(const struct hmap *m, const char *key)
{
    struct entry *e = find(m, key, fnv1a(key));
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
    uint32_t h = fnv1a(key);
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
    uint32_t h = fnv1a(key);
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
