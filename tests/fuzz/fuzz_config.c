/* fuzz_config.c - the config file parser (src/core/config.c). One fuzz input is the text of a
 * config file, loaded with config_load(--config FILE) as main.c does.
 *
 * The model is the format config.h documents, read here independently: lines end at '\n';
 * '#' starts a comment; blank lines are skipped; every other line is "key = value" (split at
 * the first '='; key and value trimmed of white space; a value wrapped in double quotes loses
 * them); a key is an option name, '_' for '-' and in any case, but not "config". A file with a
 * NUL byte is not text and is refused. The model turns the file into one "--key=value" flag
 * per line and loads those instead: both loads must succeed or fail alike and, when they
 * succeed, give the same config; a file error must name the line the model found it on. */
#include "config.h"
#include "fuzz.h"

#include <ctype.h>
#include <string.h>
#include <unistd.h>

static char path[256];

static void cleanup(void)
{
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/mt-fuzz-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) abort();
    close(fd);
    atexit(cleanup);
    /* The environment ranks above the file: none of it may leak in. */
    extern char **environ;
    for (char **e = environ; *e;)
        if (strncmp(*e, "MONKEYTOWN_", 11) == 0) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(strchr(*e, '=') - *e), *e);
            unsetenv(name);
        } else {
            e++;
        }
    return 0;
}

static int same_config(const struct config *a, const struct config *b)
{
#define S(f) (strcmp(a->f, b->f) == 0)
#define I(f) (a->f == b->f)
    return S(host) && I(port) && S(data_dir) && S(games_dir) && S(agents_dir) && S(lua_dir) &&
           S(web_dir) && S(sql_dir) && S(log_level) && S(mode) && I(max_connections) &&
           I(ping_interval_s) && I(ping_timeout_s) && I(max_message_bytes) && I(send_queue_bytes) &&
           I(max_body_bytes) && I(shutdown_timeout_ms) && S(jwt_secret) && S(admins) &&
           I(token_ttl_s) && I(allow_guests) && S(database_url) && S(redis_url) && I(seat_hold_s) &&
           I(input_rate_per_min) && I(realtime_input_rate_per_min) && I(chat_rate_per_min) &&
           I(rooms_rate_per_min) && I(replay_buffer) && I(lua_memory_mb) && I(cpu_apply_ms) &&
           I(cpu_choose_ms) && I(cpu_load_ms) && I(workers) && I(reload_debounce_ms) &&
           I(max_rooms);
#undef S
#undef I
}

static char *trim(char *s, char *end)
{
    while (s < end && isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    *end = '\0';
    return s;
}

#define MAX_FLAGS 512
#define ERR 20000 /* above -max_len: messages quote values whole */
static char err[ERR], err2[ERR], err3[ERR], want[ERR + 64];

/* Whether err is an error of one flag (not of a rule between options). */
static int flag_error(const char *e)
{
    return strstr(e, "(flag)") || strncmp(e, "unknown option", 14) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "w");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
    char *argv[] = {"monkeytown", "--config", path};
    err[0] = err2[0] = '\0';
    struct config got;
    enum config_result rc = config_load(&got, 3, argv, err, sizeof err);
    CHECK(rc != CONFIG_EXIT_OK, "a config file printed --help");
    CHECK(rc != CONFIG_INVALID || strncmp(err, "invalid ", 8) == 0, "error text: %s", err);

    /* The model: the lines as flags, up to the first line that is not "key = value". */
    char *text = malloc(size + 1), *flags[MAX_FLAGS + 1] = {"monkeytown"};
    int flag_line[MAX_FLAGS + 1] = {0};
    memcpy(text, data, size);
    text[size] = '\0';
    int nflags = 1, line = 0, bad_line = 0, no_text = memchr(data, 0, size) != NULL;
    for (char *s = text; !no_text && !bad_line && s < text + size;) {
        char *nl = memchr(s, '\n', (size_t)(text + size - s)), *end = nl ? nl : text + size;
        char *next = nl ? nl + 1 : end;
        line++;
        char *hash = memchr(s, '#', (size_t)(end - s));
        if (hash) end = hash;
        char *eq = memchr(s, '=', (size_t)(end - s));
        if (!eq) {
            if (*trim(s, end)) bad_line = line;
            s = next;
            continue;
        }
        char *key = trim(s, eq), *value = trim(eq + 1, end);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') value[vl - 1] = '\0', value++;
        for (char *k = key; *k; k++)
            *k = *k == '_' ? '-' : (char)tolower((unsigned char)*k);
        if (!*key || strcmp(key, "config") == 0 || nflags == MAX_FLAGS) {
            bad_line = line; /* config_load says which other keys are unknown */
        } else {
            char *flag = malloc(strlen(key) + strlen(value) + 4);
            sprintf(flag, "--%s=%s", key, value);
            flag_line[nflags] = line;
            flags[nflags++] = flag;
        }
        s = next;
    }

    struct config model;
    enum config_result rc2 =
        no_text ? CONFIG_INVALID : config_load(&model, nflags, flags, err2, sizeof err2);
    if (!no_text) config_free(&model);
    if (no_text) {
        CHECK(rc == CONFIG_INVALID, "a file with a NUL byte was accepted");
    } else if (rc2 == CONFIG_INVALID && flag_error(err2)) {
        /* The first flag that fails: its line is where the file must fail, the same way. */
        int first = 1;
        for (;; first++) {
            enum config_result r = config_load(&model, first + 1, flags, err3, sizeof err3);
            config_free(&model);
            if (r == CONFIG_INVALID && strcmp(err3, err2) == 0) break;
        }
        if (strncmp(err2, "unknown option", 14) == 0) {
            snprintf(want, sizeof want, ":%d: unknown key", flag_line[first]);
        } else {
            char src[48];
            snprintf(src, sizeof src, "(config file line %d)", flag_line[first]);
            const char *at = strstr(err2, "(flag)");
            snprintf(want, sizeof want, "%.*s%s%s", (int)(at - err2), err2, src, at + 6);
        }
        CHECK(rc == CONFIG_INVALID && strstr(err, want),
              "line %d (%s) fails as a flag: %s; the file gives %d: %s", flag_line[first],
              flags[first], err2, rc, err);
    } else if (bad_line) {
        snprintf(want, sizeof want, ":%d: ", bad_line);
        CHECK(rc == CONFIG_INVALID && strstr(err, want), "want an error on line %d, got %d: %s",
              bad_line, rc, err);
    } else {
        CHECK(rc == rc2 && (rc != CONFIG_INVALID || strcmp(err, err2) == 0),
              "the file gives %d (%s), its lines as flags give %d (%s)", rc, err, rc2, err2);
        if (rc == CONFIG_OK) {
            config_load(&model, nflags, flags, err2, sizeof err2);
            CHECK(same_config(&got, &model), "the file and its lines as flags differ");
            config_free(&model);
        }
    }
    config_free(&got);
    for (int i = 1; i < nflags; i++)
        free(flags[i]);
    free(text);
    return 0;
}
