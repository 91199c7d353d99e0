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

/* Registers the fallback for web_dir. Returns 0 (a missing directory only logs a warning). */
int api_static_init(const char *web_dir);
void api_static_free(void);

#endif
