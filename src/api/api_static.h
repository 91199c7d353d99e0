/* api_static.h - the web client's files from --web-dir, for GET and HEAD on any path no route
 * claimed.
 *
 * Paths are resolved under the web directory only: ".." segments (raw or percent-encoded),
 * dotfiles, backslashes and NULs are refused with 404, and the resolved real path must still
 * lie inside the directory (no escape through symlinks). "/" serves index.html. Answers carry a
 * content type by extension, an ETag (304 on If-None-Match), gzip when the client accepts it
 * (text types, compressed once and cached), no-sniff, and the page security headers on HTML. */
#ifndef MT_API_STATIC_H
#define MT_API_STATIC_H

struct http_exchange;

/* Registers the fallback for web_dir. Returns 0 (a missing directory only logs a warning). */
int api_static_init(const char *web_dir);
void api_static_free(void);

/* Answers x (200 or 304, with the headers above) with the file at dir + rel, where dir is a
 * resolved directory (realpath, no trailing '/') and rel starts with '/'. Returns -1, having sent
 * nothing, when rel is unsafe, has no known content type, is not a regular file inside dir
 * (after symlinks), or is larger than max_size bytes: the caller answers then. api_gamefiles
 * serves game folders through it. Needs api_static_init first (the cache). */
int api_static_send(struct http_exchange *x, const char *dir, const char *rel, long max_size);

#endif
