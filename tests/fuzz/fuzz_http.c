/* fuzz_http.c - HTTP routing (src/net/http.c) and the static files (src/api/api_static.c). One
 * fuzz input is one request: a byte for the method and flags, then the path as lws hands it
 * over (decoded of nothing, without the query, at most 511 bytes, no NUL).
 *
 * The route table is the server's (the patterns of the http_route calls in src/, in start-up
 * order), with handlers that only note which route ran; the fallback is the real api_static
 * over a web directory made here, with traps: a file beside the directory, a sibling directory
 * whose name starts with the web directory's, symlinks out of it and within it, dotfiles, and
 * a directory with a served extension. http_respond is the real one; lws_callback_on_writable
 * is replaced (below) because there is no socket.
 *
 * The answer is checked against a model written from docs/architecture.md ("The HTTP path",
 * api_static): a route matches when every segment matches, ":name" taking one non-empty
 * segment under 128 bytes; the first match with the method (HEAD for GET) runs; a path that
 * only matched with other methods gets 405 with those in Allow; other GET and HEAD requests are
 * static files, anything else 404. A static path with "..", "/.", "%", "\" or "//", an unknown
 * extension, or that is not a regular file inside the directory answers 404; the others are
 * exactly the files listed in `served` below, with their bytes (gzip when accepted, for text
 * over 256 bytes) and a 304 for their ETag. */
#include "api_static.h"
#include "fuzz.h"
#include "http.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* There is no socket: http_respond asks for a writable callback on a placeholder. */
int lws_callback_on_writable(struct lws *wsi)
{
    return 0;
}

static const struct {
    enum http_method method;
    const char *pattern;
} table[] = {
    {HTTP_GET, "/health/live"},
    {HTTP_GET, "/health/ready"},
    {HTTP_GET, "/metrics"},
    {HTTP_POST, "/api/auth/guest"},
    {HTTP_POST, "/api/auth/register"},
    {HTTP_POST, "/api/auth/login"},
    {HTTP_GET, "/api/players/:id"},
    {HTTP_GET, "/api/me"},
    {HTTP_GET, "/api/games"},
    {HTTP_GET, "/api/agents"},
    {HTTP_GET, "/api/rooms"},
    {HTTP_POST, "/api/games/create"},
    {HTTP_POST, "/api/games/:id/join"},
    {HTTP_GET, "/api/games/:id"},
    {HTTP_GET, "/api/games/:id/events"},
    {HTTP_GET, "/api/admin/rooms"},
    {HTTP_POST, "/api/admin/rooms/:id/end"},
    {HTTP_POST, "/api/admin/reload"},
};
#define N_ROUTES (int)(sizeof table / sizeof table[0])
static const char *const method_names[] = {"GET",    "HEAD",  "POST",    "PUT",
                                           "DELETE", "PATCH", "OPTIONS", "OTHER"};

static int ran; /* the route whose handler ran, or -1 */

/* One handler per route, so that the harness knows which one ran. */
#define ROUTE(n)                                                                                   \
    static void route##n(struct http_exchange *x)                                                  \
    {                                                                                              \
        ran = n;                                                                                   \
        http_respond(x, 200, "text/plain", "route", 5);                                            \
    }
ROUTE(0)
ROUTE(1)
ROUTE(2)
ROUTE(3)
ROUTE(4)
ROUTE(5)
ROUTE(6)
ROUTE(7)
ROUTE(8)
ROUTE(9)
ROUTE(10)
ROUTE(11)
ROUTE(12)
ROUTE(13)
ROUTE(14)
ROUTE(15)
ROUTE(16)
ROUTE(17)
static const http_handler handlers[N_ROUTES] = {
    route0, route1,  route2,  route3,  route4,  route5,  route6,  route7,  route8,
    route9, route10, route11, route12, route13, route14, route15, route16, route17,
};

/* ---- the web directory ---- */

static char dir[256], web[300];

static void cleanup(void)
{
    fuzz_rmtree(dir);
}
static const struct {
    const char *path; /* as requested */
    const char *body;
} served[] = {
    {"/index.html", "<!doctype html><title>t</title>"},
    {"/app.js", "export const x = 1;\n"},
    {"/style.css", "body{margin:0}"},
    {"/sub/page.html", "<p>page</p>"},
    {"/sub/data.json", "{\"a\":1}"},
    {"/notes.md", "# notes\n"},
    {"/inside.html", "<!doctype html><title>t</title>"}, /* a symlink to index.html */
    {"/big.txt", NULL},                                  /* 2000 bytes: gzip when accepted */
};
#define N_SERVED (int)(sizeof served / sizeof served[0])
static char big[2001];

static void put_file(const char *rel, const char *body)
{
    char p[600];
    snprintf(p, sizeof p, "%s%s", dir, rel);
    FILE *f = fopen(p, "w");
    if (!f || fputs(body, f) < 0 || fclose(f) != 0) abort();
}

static void make_dirs(const char *rel)
{
    char p[600];
    snprintf(p, sizeof p, "%s%s", dir, rel);
    if (mkdir(p, 0700) < 0) abort();
}

static void make_link(const char *target, const char *rel)
{
    char p[600];
    snprintf(p, sizeof p, "%s%s", dir, rel);
    if (symlink(target, p) < 0) abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/mt-fuzz-http-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) abort();
    atexit(cleanup);
    snprintf(web, sizeof web, "%s/web", dir);
    memset(big, 'x', 2000);
    make_dirs("/web");
    make_dirs("/web/sub");
    make_dirs("/web/dir.html");
    make_dirs("/web-evil");
    for (int i = 0; i < N_SERVED - 2; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "/web%s", served[i].path);
        put_file(rel, served[i].body);
    }
    put_file("/web/big.txt", big);
    put_file("/web/.secret.html", "dotfile");
    put_file("/web/sub/.hidden.json", "{\"dotfile\":1}");
    put_file("/web/run.php", "unknown extension");
    put_file("/outside.html", "outside");
    put_file("/web-evil/x.html", "sibling");
    make_link("index.html", "/web/inside.html");
    char target[400];
    snprintf(target, sizeof target, "%s/outside.html", dir);
    make_link(target, "/web/leak.html");
    make_link("../outside.html", "/web/up.html");
    make_link("/etc/passwd", "/web/passwd.txt");

    if (http_init() < 0) abort();
    for (int i = 0; i < N_ROUTES; i++)
        if (http_route(table[i].method, table[i].pattern, handlers[i]) < 0) abort();
    if (api_static_init(web) < 0) abort();
    return 0;
}

/* ---- the model ---- */

/* Whether path matches pattern; the value of ":id" in id (when the pattern has one). */
static int model_match(const char *pattern, const char *path, char *id)
{
    for (;;) {
        if (*pattern == '\0' || *path == '\0') return *pattern == '\0' && *path == '\0';
        if (*pattern != '/' || *path != '/') return 0;
        pattern++, path++;
        size_t pl = strcspn(pattern, "/"), sl = strcspn(path, "/");
        if (*pattern == ':') {
            if (sl == 0 || sl >= 128) return 0;
            memcpy(id, path, sl);
            id[sl] = '\0';
        } else if (pl != sl || memcmp(pattern, path, pl) != 0) {
            return 0;
        }
        pattern += pl, path += sl;
    }
}

/* Whether api_static may serve path at all (before the disk): docs/architecture.md. */
static int model_safe(const char *path)
{
    if (path[0] != '/' || strstr(path, "..") || strstr(path, "/.") || strchr(path, '%') ||
        strchr(path, '\\') || strstr(path, "//"))
        return 0;
    static const char *const ext[] = {".html", ".js", ".mjs", ".css", ".json", ".svg",
                                      ".txt",  ".md", ".png", ".ico", ".webp", ".woff2"};
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof ext / sizeof ext[0]; i++)
        if (strcmp(dot, ext[i]) == 0) return 1;
    return 0;
}

static int served_index(const char *path)
{
    if (strcmp(path, "/") == 0) path = "/index.html";
    if (!model_safe(path)) return -1;
    for (int i = 0; i < N_SERVED; i++)
        if (strcmp(served[i].path, path) == 0) return i;
    return -1;
}

static int gunzip_equals(const char *gz, size_t len, const char *want)
{
    static char out[4096];
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 16) != Z_OK) return 0;
    zs.next_in = (unsigned char *)gz;
    zs.avail_in = (unsigned)len;
    zs.next_out = (unsigned char *)out;
    zs.avail_out = sizeof out;
    int rc = inflate(&zs, Z_FINISH);
    size_t n = zs.total_out;
    inflateEnd(&zs);
    return rc == Z_STREAM_END && n == strlen(want) && memcmp(out, want, n) == 0;
}

/* Runs one request through http_dispatch; returns the answered exchange (free with
 * http_exchange_detach). */
static struct http_exchange *request(enum http_method m, const char *path, int gzip,
                                     const char *if_none_match)
{
    struct http_exchange *x = http_exchange_new((struct lws *)&ran);
    x->method = m;
    snprintf(x->path, sizeof x->path, "%s", path);
    if (gzip) snprintf(x->accept_encoding, sizeof x->accept_encoding, "gzip, deflate");
    if (if_none_match) snprintf(x->if_none_match, sizeof x->if_none_match, "%s", if_none_match);
    ran = -1;
    http_dispatch(x);
    CHECK(x->responded, "no answer for %s", path);
    return x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    enum http_method m = (enum http_method)(data[0] & 7);
    int gzip = data[0] & 8;
    char path[512];
    size_t n = size - 1 < sizeof path - 1 ? size - 1 : sizeof path - 1;
    memcpy(path, data + 1, n);
    path[n] = '\0';
    if (strlen(path) != n) return 0; /* lws hands over no NUL */

    /* The model's answer. */
    enum http_method as = m == HTTP_HEAD ? HTTP_GET : m;
    int route = -1;
    char allow[64] = "", id[128], want_id[128] = "";
    for (int i = 0; i < N_ROUTES; i++) {
        if (!model_match(table[i].pattern, path, id)) continue;
        if (table[i].method == as) {
            route = i;
            snprintf(want_id, sizeof want_id, "%s", strchr(table[i].pattern, ':') ? id : "");
            break;
        }
        size_t al = strlen(allow);
        snprintf(allow + al, sizeof allow - al, "%s%s", al ? ", " : "",
                 method_names[table[i].method]);
    }

    struct http_exchange *x = request(m, path, gzip, NULL);
    if (route >= 0) {
        CHECK(ran == route && x->status == 200, "%s %s: route %s ran, want %s", method_names[m],
              path, ran >= 0 ? table[ran].pattern : "none", table[route].pattern);
        const char *got_id = http_param(x, "id");
        CHECK(*want_id ? got_id && strcmp(got_id, want_id) == 0 : !got_id,
              "%s: id \"%s\", want \"%s\"", path, got_id ? got_id : "(none)", want_id);
    } else if (*allow) {
        CHECK(ran == -1 && x->status == 405 && strcmp(x->allow, allow) == 0,
              "%s %s: status %d, Allow \"%s\", want 405 with \"%s\"", method_names[m], path,
              x->status, x->allow, allow);
    } else if (m != HTTP_GET && m != HTTP_HEAD) {
        CHECK(ran == -1 && x->status == 404, "%s %s: status %d, want 404", method_names[m], path,
              x->status);
    } else {
        int f = served_index(path);
        CHECK(ran == -1, "a route ran for %s", path);
        if (f < 0) {
            CHECK(x->status == 404, "GET %s: status %d, want 404 (%.*s)", path, x->status,
                  (int)x->resp_len, x->resp_body);
        } else {
            const char *body = served[f].body ? served[f].body : big;
            CHECK(x->status == 200 && *x->etag, "GET %s: status %d, want 200", path, x->status);
            if (gzip && strlen(body) > 256)
                CHECK(strcmp(x->content_encoding, "gzip") == 0 &&
                          gunzip_equals(x->resp_body, x->resp_len, body),
                      "GET %s: want the gzip of the file", path);
            else
                CHECK(!*x->content_encoding && x->resp_len == strlen(body) &&
                          memcmp(x->resp_body, body, x->resp_len) == 0,
                      "GET %s: want the file's bytes", path);
            char etag[80];
            snprintf(etag, sizeof etag, "%s", x->etag);
            http_exchange_detach(x);
            x = request(m, path, gzip, etag);
            CHECK(x->status == 304 && x->resp_len == 0, "GET %s with its ETag: %d, want 304", path,
                  x->status);
        }
    }
    http_exchange_detach(x);
    return 0;
}
