/* util.h - small helpers shared by every module: random ids, bounded string copies, digits. */
#ifndef MT_UTIL_H
#define MT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define UUID_LEN 36 /* characters, without the NUL */

/* Writes a random (version 4) UUID and its NUL into out[UUID_LEN + 1]. */
void util_uuid(char out[UUID_LEN + 1]);

/* Fills buf with len cryptographically random bytes. Returns 0, or -1 when the kernel fails. */
int util_random_bytes(void *buf, size_t len);

/* Copies src into dst[size] truncating as needed; always NUL-terminates (size > 0). */
void util_strlcpy(char *dst, const char *src, size_t size);

/* Writes the decimal digits of v (with '-' when negative) into out, which needs 21 bytes; no
 * NUL. Returns the length. For JSON and hashes on hot paths, where snprintf cost too much. */
int util_format_int(char *out, int64_t v);

/* Returns 1 when s[0..len) is well-formed UTF-8 (no overlong forms, surrogates or code points
 * past U+10FFFF), else 0. */
int util_utf8_valid(const char *s, size_t len);

/* Replaces, in place, each byte of the NUL-terminated s that does not belong to a well-formed
 * UTF-8 sequence with '?'. For text that must go into JSON but may come from elsewhere (a
 * script's message) or have been cut mid-character by a bounded copy: jansson refuses to
 * build a string from invalid UTF-8. */
void util_utf8_scrub(char *s);

/* Returns 1 when s is a canonical lower-case UUID string. */
int util_is_uuid(const char *s);

#endif
