#include "auth.h"

#include "log.h"
#include "util.h"

#include <jwt.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static unsigned char *secret; /* any length: HMAC hashes long keys itself */
static int secret_len;
static long default_ttl = 604800;

/* Without --jwt-secret, the secret is made once and kept in <data-dir>/jwt.secret (mode 0600):
 * tokens, and so the games a restart rebuilds, survive the restart. The file holds 64 hex digits
 * and a newline, text like every other file in the data directory (tools that grep it must not
 * see binary), and the same text works as --jwt-secret on another instance. Sets the secret.
 * Returns 0, or -1 with a log line. */
static int kept_secret(const char *data_dir)
{
    char path[1100], text[66];
    snprintf(path, sizeof path, "%s/jwt.secret", data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, text, sizeof text);
        close(fd);
        if (n == 65 && text[64] == '\n' && strspn(text, "0123456789abcdef") == 64) {
            memcpy(secret, text, 64);
            secret_len = 64;
            log_msg(LOG_INFO, "token secret read from the data directory", "{ss}", "file", path);
            return 0;
        }
        log_msg(LOG_ERROR, "the kept token secret is damaged: remove it or set --jwt-secret",
                "{ss}", "file", path);
        return -1;
    }
    unsigned char raw[32];
    if (util_random_bytes(raw, sizeof raw) < 0) return -1;
    for (int i = 0; i < 32; i++)
        snprintf(text + 2 * i, 3, "%02x", raw[i]);
    text[64] = '\n';
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int ok = fd >= 0 && write(fd, text, 65) == 65 && fsync(fd) == 0;
    if (fd >= 0) close(fd);
    if (!ok) {
        log_msg(LOG_ERROR, "cannot keep the token secret in the data directory", "{ss,ss}", "file",
                path, "error", strerror(errno));
        unlink(path);
        return -1;
    }
    memcpy(secret, text, 64);
    secret_len = 64;
    log_msg(LOG_WARN,
            "no jwt-secret configured: made one and kept it in the data directory (set "
            "--jwt-secret to share it between instances)",
            "{ss}", "file", path);
    return 0;
}

int auth_init(const struct config *cfg)
{
    default_ttl = cfg->token_ttl_s;
    size_t n = strlen(cfg->jwt_secret);
    secret = malloc(n > 64 ? n : 64);
    if (!secret) return -1;
    if (n > 0) {
        memcpy(secret, cfg->jwt_secret, n);
        secret_len = (int)n;
        return 0;
    }
    return kept_secret(cfg->data_dir);
}

char *auth_issue(const struct identity *id, long ttl)
{
    jwt_t *jwt = NULL;
    if (jwt_new(&jwt) != 0) return NULL;
    long now = (long)time(NULL);
    char *token = NULL;
    if (jwt_add_grant(jwt, "sub", id->player_id) == 0 &&
        jwt_add_grant(jwt, "name", id->name) == 0 && jwt_add_grant(jwt, "role", id->role) == 0 &&
        jwt_add_grant_int(jwt, "iat", now) == 0 &&
        jwt_add_grant_int(jwt, "exp", now + (ttl > 0 ? ttl : default_ttl)) == 0 &&
        jwt_set_alg(jwt, JWT_ALG_HS256, secret, secret_len) == 0)
        token = jwt_encode_str(jwt);
    jwt_free(jwt);
    return token;
}

int auth_verify(const char *token, struct identity *out, char *why, size_t whylen)
{
    jwt_t *jwt = NULL;
    if (strlen(token) > 4096 || jwt_decode(&jwt, token, secret, secret_len) != 0 || !jwt) {
        snprintf(why, whylen, "invalid token signature or format");
        return -1;
    }
    int rc = -1;
    const char *sub = jwt_get_grant(jwt, "sub");
    const char *name = jwt_get_grant(jwt, "name");
    const char *role = jwt_get_grant(jwt, "role");
    errno = 0;
    long exp = jwt_get_grant_int(jwt, "exp");
    int has_exp = errno == 0;
    if (jwt_get_alg(jwt) != JWT_ALG_HS256)
        snprintf(why, whylen, "token algorithm is not HS256");
    else if (!has_exp)
        snprintf(why, whylen, "token has no exp");
    else if (exp <= (long)time(NULL))
        snprintf(why, whylen, "token expired");
    else if (!sub || !util_is_uuid(sub))
        snprintf(why, whylen, "token has no valid sub");
    else if (!role || (strcmp(role, "player") != 0 && strcmp(role, "admin") != 0 &&
                       strcmp(role, "agent") != 0))
        snprintf(why, whylen, "token has no valid role");
    else {
        util_strlcpy(out->player_id, sub, sizeof out->player_id);
        util_strlcpy(out->name, name ? name : "player", sizeof out->name);
        util_strlcpy(out->role, role, sizeof out->role);
        rc = 0;
    }
    jwt_free(jwt);
    return rc;
}

int auth_bearer(const char *authorization, struct identity *out, char *why, size_t whylen)
{
    if (strncasecmp(authorization, "Bearer ", 7) != 0 || !authorization[7]) {
        snprintf(why, whylen, "missing Authorization: Bearer token");
        return -1;
    }
    return auth_verify(authorization + 7, out, why, whylen);
}

void auth_new_guest(struct identity *out)
{
    util_uuid(out->player_id);
    snprintf(out->name, sizeof out->name, "Guest-%.4s", out->player_id);
    util_strlcpy(out->role, "player", sizeof out->role);
}

void auth_free(void)
{
    if (secret) explicit_bzero(secret, (size_t)secret_len);
    free(secret);
    secret = NULL;
    secret_len = 0;
}
