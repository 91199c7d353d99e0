/* hmap.h - a string-keyed hash map (chained, seeded FNV-1a, grows at load 1).
 *
 * The map copies keys and stores values as opaque pointers: it never frees a value. Keys come
 * from clients (names, addresses, ids), so the hash is seeded once per process from getrandom():
 * a client cannot choose keys that all land in one bucket. Iteration order is unspecified and
 * differs between runs. Not thread-safe: one owner thread per map. */
#ifndef MT_HMAP_H
#define MT_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap;

/* Returns an empty map hashing with the process's seed, or NULL on OOM. */
struct hmap *hmap_new(void);

/* Like hmap_new with a given seed (for tests: the seed changes where keys land, never what the
 * map holds). */
struct hmap *hmap_new_seeded(uint64_t seed);

/* The process's seed: random (getrandom), drawn at the first call, the same for every map of
 * the process. Any thread. */
uint64_t hmap_process_seed(void);

/* The 32-bit hash of key under seed, as the map uses it. */
uint32_t hmap_hash(uint64_t seed, const char *key);

/* Releases the map and its key copies (not the values). */
void hmap_free(struct hmap *m);

/* Releases a map that owns its values: free_value(key, value, NULL) for each entry, then
 * hmap_free. A NULL m does nothing. */
void hmap_free_values(struct hmap *m, void (*free_value)(const char *key, void *value, void *arg));

/* Returns the value for key, or NULL. */
void *hmap_get(const struct hmap *m, const char *key);

/* Sets key to value (replacing any). Returns 0, or -1 on OOM (the map is unchanged). */
int hmap_put(struct hmap *m, const char *key, void *value);

/* Removes key and returns its value, or NULL when absent. */
void *hmap_del(struct hmap *m, const char *key);

/* The number of entries in m. */
size_t hmap_size(const struct hmap *m);

/* Calls fn(key, value, arg) for each entry; fn must not change the map. */
void hmap_each(const struct hmap *m, void (*fn)(const char *key, void *value, void *arg),
               void *arg);

/* Copies up to max values into out (for callers that must change the map while walking it).
 * Returns how many were copied. */
size_t hmap_values(const struct hmap *m, void **out, size_t max);

#endif
