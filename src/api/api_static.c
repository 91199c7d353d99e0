#include "api_static.h"

#include "hmap.h"
#include "http.h"
#include "log.h"
#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <zlib.h>

#define MAX_FILE (4 * 1024 * 1024)

/* One file in both encodings. Each encoding is its own representation with its own ETag
 * (RFC 9110 8.8.3): a cache that stored the gzip bytes under the identity ETag would hand them
 * to a client that cannot read them after a 304. */
struct cached {
    char etag[64];    /* identity: "inode-size-mtime" */
    char gz_etag[64]; /* gzip: "inode-size-mtime-gz" */
    char *raw, *gz;
    size_t raw_len, gz_len;
};

static char root[PATH_MAX];
static struct hmap *cache; /* real path -> struct cached, shared by every directory served */

static const struct {
    const char *ext, *type;
    int text;
} types[] = {
    {".html", "text/html; charset=utf-8", 1},
    {".js", "text/javascript; charset=utf-8", 1},
    {".mjs", "text/javascript; charset=utf-8", 1},
    {".css", "text/css; charset=utf-8", 1},
    {".json", "application/json", 1},
    {".svg", "image/svg+xml", 1},
    {".txt", "text/plain; charset=utf-8", 1},
    {".md", "text/markdown; charset=utf-8", 1},
    {".png", "image/png", 0},
    {".ico", "image/x-icon", 0},
    {".webp", "image/webp", 0},
    {".woff2", "font/woff2", 0},
};

static int type_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0) return (int)i;
    return -1;
}

/* Refuses anything that could climb out of the web directory, before touching the disk. */
static int safe_path(const char *p)
{
    if (p[0] != '/' || strstr(p, "\\") || strstr(p, "%") || strstr(p, "//")) return 0;
    return !strstr(p, "/."); /* /.. and /./ and dotfiles (tests/fuzz/corpus/http/dotfile) */
}

static void free_cached(const char *key, void *v, void *arg)
{
    struct cached *c = v;
    free(c->raw);
    free(c->gz);
    free(c);
}

static char *gzip(const char *in, size_t len, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
    size_t cap = deflateBound(&zs, len);
    char *out = malloc(cap);
    zs.next_in = (unsigned char *)in;
    zs.avail_in = (unsigned)len;
    zs.next_out = (unsigned char *)out;
    zs.avail_out = (unsigned)cap;
    if (!out || deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        free(out);
        deflateEnd(&zs);
        return NULL;
    }
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

/* The file's bytes (and gzip form for text), cached by path until the ETag changes. */
static struct cached *load(const char *real, const struct stat *st, int text)
{
    char etag[64];
    snprintf(etag, sizeof etag, "\"%lx-%lx-%lx\"", (unsigned long)st->st_ino,
             (unsigned long)st->st_size, (unsigned long)st->st_mtime);
    struct cached *c = hmap_get(cache, real);
    if (c && strcmp(c->etag, etag) == 0) return c;
    if (c) {
        hmap_del(cache, real);
        free_cached(NULL, c, NULL);
    }
    FILE *f = fopen(real, "rb");
    if (!f) return NULL;
    c = calloc(1, sizeof *c);
    c->raw = malloc((size_t)st->st_size + 1);
    c->raw_len = c->raw ? fread(c->raw, 1, (size_t)st->st_size, f) : 0;
    fclose(f);
    util_strlcpy(c->etag, etag, sizeof c->etag);
    snprintf(c->gz_etag, sizeof c->gz_etag, "%.*s-gz\"", (int)strlen(etag) - 1, etag);
    if (text && c->raw_len > 256) c->gz = gzip(c->raw, c->raw_len, &c->gz_len);
    hmap_put(cache, real, c);
    return c;
}

/* The length of the token at s, up to a ',' or ';', with the spaces around it trimmed; *start
 * is set past the leading spaces. */
static size_t list_token(const char *s, const char **start)
{
    while (*s == ' ' || *s == '\t')
        s++;
    *start = s;
    size_t n = strcspn(s, ",;");
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return n;
}

/* Whether Accept-Encoding lists gzip (or x-gzip) without refusing it with q=0. */
static int accepts_gzip(const char *ae)
{
    for (const char *p = ae; *p; p += *p == ',') {
        const char *tok;
        size_t n = list_token(p, &tok);
        p = tok + strcspn(tok, ",");
        if (!((n == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
              (n == 6 && strncasecmp(tok, "x-gzip", 6) == 0)))
            continue;
        const char *q = strstr(tok, "q=");
        if (!q || q > p || strtod(q + 2, NULL) > 0) return 1;
    }
    return 0;
}

/* Whether If-None-Match lists etag, or is "*". The comparison is weak (RFC 9110 13.1.2): a
 * "W/" prefix is ignored. */
static int none_match(const char *inm, const char *etag)
{
    size_t len = strlen(etag);
    for (const char *p = inm; *p; p += *p == ',') {
        const char *tok;
        size_t n = list_token(p, &tok);
        p = tok + strcspn(tok, ",");
        if (n >= 2 && strncmp(tok, "W/", 2) == 0) tok += 2, n -= 2;
        if ((n == 1 && *tok == '*') || (n == len && strncmp(tok, etag, len) == 0)) return 1;
    }
    return 0;
}

int api_static_send(struct http_exchange *x, const char *dir, const char *rel, long max_size)
{
    int t = type_of(rel);
    char full[PATH_MAX + 700], real[PATH_MAX];
    struct stat st;
    size_t dl = strlen(dir);
    snprintf(full, sizeof full, "%s%s", dir, rel);
    if (!*dir || !safe_path(rel) || t < 0 || !realpath(full, real) || strncmp(real, dir, dl) != 0 ||
        real[dl] != '/' || stat(real, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > max_size)
        return -1;
    struct cached *c = load(real, &st, types[t].text);
    if (!c) return -1;
    int gz = c->gz && accepts_gzip(x->accept_encoding);
    util_strlcpy(x->etag, gz ? c->gz_etag : c->etag, sizeof x->etag);
    util_strlcpy(x->cache_control, "no-cache", sizeof x->cache_control);
    /* Only a file that has a gzip form varies; the 304 says so as well as the 200. */
    if (c->gz) util_strlcpy(x->vary, "Accept-Encoding", sizeof x->vary);
    x->html = strcmp(types[t].ext, ".html") == 0;
    if (*x->if_none_match && none_match(x->if_none_match, x->etag)) {
        http_respond(x, 304, types[t].type, "", 0);
        return 0;
    }
    if (gz) util_strlcpy(x->content_encoding, "gzip", sizeof x->content_encoding);
    http_respond(x, 200, types[t].type, gz ? c->gz : c->raw, gz ? c->gz_len : c->raw_len);
    return 0;
}

static void serve(struct http_exchange *x)
{
    const char *rel = strcmp(x->path, "/") == 0 ? "/index.html" : x->path;
    if (api_static_send(x, root, rel, MAX_FILE) < 0)
        http_respond_error(x, 404, "NOT_FOUND", "no such path");
}

int api_static_init(const char *web_dir)
{
    cache = hmap_new();
    if (!realpath(web_dir, root)) {
        root[0] = '\0';
        log_msg(LOG_WARN, "web directory not found: the web client is not served", "{ss}", "dir",
                web_dir);
    }
    http_set_fallback(serve);
    return cache ? 0 : -1;
}

void api_static_free(void)
{
    hmap_free_values(cache, free_cached);
    cache = NULL;
}
