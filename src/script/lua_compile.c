#include "lua_compile.h"

#include "lua_instrument.h"
#include "util.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dump {
    char *buf;
    size_t len;
};

static int collect(lua_State *L, const void *p, size_t sz, void *ud)
{
    (void)L;
    struct dump *d = ud;
    char *grown = realloc(d->buf, d->len + sz);
    if (!grown) return 1;
    memcpy(grown + d->len, p, sz);
    d->buf = grown;
    d->len += sz;
    return 0;
}

int lua_compile(const char *text, size_t len, const char *chunkname, char **bc, size_t *bclen,
                char *err, size_t errlen)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        util_strlcpy(err, "out of memory", errlen);
        return -1;
    }
    struct dump d = {NULL, 0};
    int rc = -1;
    if (luaL_loadbuffer(L, text, len, chunkname) != 0) {
        const char *msg = lua_tostring(L, -1);
        util_strlcpy(err, msg ? msg : "cannot compile", errlen);
    } else if (lua_dump(L, collect, &d) != 0) {
        util_strlcpy(err, "out of memory", errlen);
    } else {
        rc = 0;
    }
    lua_close(L);
    if (rc < 0) {
        free(d.buf);
        return -1;
    }
    *bc = d.buf;
    *bclen = d.len;
    return 0;
}

/* A chunk whose only statement raises msg: the message goes in as decimal escapes, so no byte
 * of it (a file name is the script author's) can end the string. */
static int compile_refusal(const char *msg, const char *chunkname, char **bc, size_t *bclen,
                           char *err, size_t errlen)
{
    size_t n = strlen(msg);
    char *text = malloc(n * 4 + 32);
    if (!text) {
        util_strlcpy(err, "out of memory", errlen);
        return -1;
    }
    size_t len = (size_t)sprintf(text, "error(\"");
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(text + len, "\\%u", (unsigned char)msg[i]);
    len += (size_t)sprintf(text + len, "\", 0)");
    int rc = lua_compile(text, len, chunkname, bc, bclen, err, errlen);
    free(text);
    return rc;
}

int lua_compile_script(const char *text, size_t len, const char *chunkname, char **bc,
                       size_t *bclen, char *err, size_t errlen)
{
    char *plain;
    size_t plainlen;
    if (lua_compile(text, len, chunkname, &plain, &plainlen, err, errlen) < 0) return -1;
    free(plain);
    size_t n;
    char why[256], msg[512];
    char *checked = lua_instrument(text, len, &n, why, sizeof why);
    if (!checked && strncmp(why, "line ", 5) != 0) {
        util_strlcpy(err, why, errlen);
        return -1;
    }
    if (!checked) {
        snprintf(msg, sizeof msg, "%s:%s", chunkname + (chunkname[0] == '@'), why + 5);
        return compile_refusal(msg, chunkname, bc, bclen, err, errlen);
    }
    int rc = lua_compile(checked, n, chunkname, bc, bclen, why, sizeof why);
    free(checked);
    /* The text parsed as written; what can fail now is a limit the checks pushed it over
     * (a function with LuaJIT's 60 upvalues already): refused with that reason. */
    return rc == 0 ? 0 : compile_refusal(why, chunkname, bc, bclen, err, errlen);
}
