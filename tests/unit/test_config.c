/* Unit tests for config.c: defaults, precedence flag > env > file > default, validation. */
#include "config.h"
#include "tap.h"

#include <stdlib.h>
#include <unistd.h>

static enum config_result load(struct config *c, char *err, int argc, char **argv)
{
    return config_load(c, argc, argv, err, 512);
}

/* A reload copies only the reloadable settings into the running config and names the rest. */
static void reload(void)
{
    struct config live, copy, fresh;
    char err[512], changed[256], fixed[256];
    char *start[] = {"monkeytown", "--admins", "root"};
    is_int(load(&live, err, 3, start), CONFIG_OK, "reload: start-up config");
    is_int(config_copy(&copy, &live), 0, "reload: a deep copy");
    ok(copy.admins != live.admins && strcmp(copy.admins, live.admins) == 0,
       "reload: the copy owns its strings");
    char *next[] = {"monkeytown", "--admins", "root,ops",    "--guest-rate", "5",
                    "--port",     "9999",     "--log-level", "warn"};
    is_int(load(&fresh, err, 9, next), CONFIG_OK, "reload: the new settings");
    config_fixed_changes(&copy, &fresh, fixed, sizeof fixed);
    is_str(fixed, "port", "reload: a changed fixed setting is named");
    is_int(config_apply_reloadable(&live, &fresh, changed, sizeof changed), 0, "reload: applied");
    is_str(changed, "log-level,admins,guest-rate", "reload: the changed reloadable ones are named");
    is_str(live.admins, "root,ops", "reload: admins taken");
    is_int(live.guest_rate_per_min, 5, "reload: guest-rate taken");
    is_int(live.port, 8080, "reload: port kept (needs a restart)");
    ok(config_reloadable("log-level") && !config_reloadable("port") &&
           !config_reloadable("jwt-secret"),
       "reload: log-level reloads, port and jwt-secret do not");
    config_apply_reloadable(&live, &fresh, changed, sizeof changed);
    is_str(changed, "", "reload: nothing changed the second time");
    config_free(&fresh);
    config_free(&copy);
    config_free(&live);
}

int main(void)
{
    struct config c;
    char err[512];
    char *none[] = {"monkeytown"};

    unsetenv("MONKEYTOWN_PORT");
    is_int(load(&c, err, 1, none), CONFIG_OK, "defaults load");
    is_int(c.port, 8080, "default port");
    is_int(c.max_connections, 10000, "default max-connections");
    is_int(c.ping_interval_s, 30, "default ping interval");
    is_int(c.ping_timeout_s, 60, "default ping timeout");
    is_int(c.max_message_bytes, 16384, "default message limit");
    is_int(c.allow_guests, 1, "guests allowed by default");
    config_free(&c);

    char path[] = "/tmp/mt-config-XXXXXX";
    int fd = mkstemp(path);
    const char *text = "# comment\nport = 7000\nlog_level = warn\nmax-connections=50 # trailing\n";
    ok(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "wrote config file");
    close(fd);

    char *with_file[] = {"monkeytown", "--config", path};
    is_int(load(&c, err, 3, with_file), CONFIG_OK, "file loads");
    is_int(c.port, 7000, "file beats default");
    is_str(c.log_level, "warn", "file key with underscore");
    is_int(c.max_connections, 50, "trailing comment ignored");
    config_free(&c);

    setenv("MONKEYTOWN_PORT", "7100", 1);
    is_int(load(&c, err, 3, with_file), CONFIG_OK, "env loads");
    is_int(c.port, 7100, "env beats file");
    config_free(&c);

    char *lease[] = {"monkeytown", "--room-lease-ms", "4500"};
    is_int(load(&c, err, 3, lease), CONFIG_OK, "room-lease-ms loads");
    is_int(c.instance_lease_ms, 4500, "room-lease-ms is instance-lease-ms by another name");
    config_free(&c);
    char *lease_bad[] = {"monkeytown", "--room-lease-ms", "100"};
    is_int(load(&c, err, 3, lease_bad), CONFIG_INVALID, "room-lease-ms below 300 is refused");
    config_free(&c);

    char *with_flag[] = {"monkeytown", "--config", path, "--port=7200"};
    is_int(load(&c, err, 4, with_flag), CONFIG_OK, "flag loads");
    is_int(c.port, 7200, "flag beats env");
    config_free(&c);
    unsetenv("MONKEYTOWN_PORT");

    char *bad_port[] = {"monkeytown", "--port", "70000"};
    is_int(load(&c, err, 3, bad_port), CONFIG_INVALID, "port out of range refused");
    ok(strstr(err, "port") != NULL, "message names the key: %s", err);
    config_free(&c);

    setenv("MONKEYTOWN_MAX_CONNECTIONS", "lots", 1);
    is_int(load(&c, err, 1, none), CONFIG_INVALID, "non-numeric env refused");
    ok(strstr(err, "max-connections") && strstr(err, "MONKEYTOWN_MAX_CONNECTIONS"),
       "message names key and source: %s", err);
    config_free(&c);
    unsetenv("MONKEYTOWN_MAX_CONNECTIONS");

    char *bad_level[] = {"monkeytown", "--log-level", "loud"};
    is_int(load(&c, err, 3, bad_level), CONFIG_INVALID, "unknown log level refused");
    config_free(&c);

    char *unknown[] = {"monkeytown", "--colour", "blue"};
    is_int(load(&c, err, 3, unknown), CONFIG_INVALID, "unknown flag refused");
    config_free(&c);

    char *prod[] = {"monkeytown", "--mode", "production"};
    is_int(load(&c, err, 3, prod), CONFIG_INVALID, "production without a secret refused");
    ok(strstr(err, "jwt-secret") != NULL, "names jwt-secret");
    config_free(&c);

    char *pings[] = {"monkeytown", "--ping-interval", "10", "--ping-timeout", "5"};
    is_int(load(&c, err, 5, pings), CONFIG_INVALID, "timeout not above interval refused");
    config_free(&c);

    /* Lines longer than any buffer stay one line; a NUL byte is refused (found by
     * tests/fuzz/fuzz_config.c: the tail of a long comment used to set an option). */
    FILE *f = fopen(path, "w");
    fputc('#', f);
    for (int i = 0; i < 5000; i++)
        fputc('x', f);
    fputs("port = 1\nadmins = ", f);
    for (int i = 0; i < 3000; i++)
        fputs("ab,", f);
    fputs("c\n", f);
    fclose(f);
    is_int(load(&c, err, 3, with_file), CONFIG_OK, "long lines load");
    is_int(c.port, 8080, "the tail of a long comment is still the comment");
    is_int((long)strlen(c.admins), 9001, "a long value is read whole");
    config_free(&c);

    f = fopen(path, "w");
    fwrite("port = 7000\nport = 1\0 # hidden\n", 1, 31, f);
    fclose(f);
    is_int(load(&c, err, 3, with_file), CONFIG_INVALID, "a NUL byte is refused");
    ok(strstr(err, ":2: a NUL byte") != NULL, "on its line: %s", err);
    config_free(&c);

    unlink(path);
    reload();
    return done_testing();
}
