/* hmap.h - a string-keyed hash map (chained, FNV-1a, grows at load 1).
 *
 * The map copies keys and stores values as opaque pointers: it never frees a value. Iteration
 * order is unspecified. Not thread-safe: one owner thread. */
#ifndef MT_HMAP_H
#define MT_HMAP_H

#include <stddef.h>

struct hmap;

/* Returns an empty map, or NULL on OOM. */
struct hmap *hmap_new(void);

/* Releases the map and its key copies (not the values). */
void hmap_free(struct hmap *m);

/* Returns the value for key, or NULL. */
void *hmap_get(const struct hmap *m, const char *key);

/* Sets key to value (replacing any). Returns 0, or -1 on OOM (the map is unchanged). */
int hmap_put(struct hmap *m, const char *key, void *value);

/* Removes key and returns its value, or NULL when absent. */
void *hmap_del(struct hmap *m, const char *key);

size_t hmap_size(const struct hmap *m);

/* Calls fn(key, value, arg) for each entry; fn must not change the map. */
void hmap_each(const struct hmap *m, void (*fn)(const char *key, void *value, void *arg),
               void *arg);

/* Copies up to max values into out (for callers that must change the map while walking it).
 * Returns how many were copied. */
size_t hmap_values(const struct hmap *m, void **out, size_t max);

#endif
