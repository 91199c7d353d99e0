/* check_cost - what the CPU check compiled into scripts costs (lua_instrument.h), and what the
 * JIT gains.
 *
 * Loads one real-time game (default games/arena/game.lua) into a fresh state three ways, each
 * as bytecode compiled once, as the server loads every file: as written with the JIT off (how
 * every room ran before the check existed), as written with the JIT on (no check: a runaway
 * loop could not be stopped), and compiled as the server compiles it (lua_compile_script: the
 * check at every loop, goto and function entry) with the JIT on.
 * Each plays the same round: 4 seats, a move input every few ticks, the game's tick and one
 * shared view per tick, through vm_call with a budget as a room does. Prints the median
 * microseconds per tick of each over several alternating runs, and the check's share.
 * Usage: mt-check-bench [game.lua] [ticks] [runs] */
#include "lua_compile.h"
#include "vm.h"

#include <lauxlib.h>
#include <luajit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The driver: a ctx, a seeded generator, inputs now and then; returns nothing. */
static const char driver[] =
    "local game, ticks = ...\n"
    "math.randomseed(7)\n"
    "local ctx = { seats = 4, now = 0, config = {} }\n"
    "ctx.random = function(a, b) return math.random(a, b) end\n"
    "ctx.emit = function() end\n"
    "ctx.log = function() end\n"
    "local state = game.setup(ctx, {})\n"
    "for t = 1, ticks do\n"
    "  ctx.now = t * 1000 / 60\n"
    "  local inputs = {}\n"
    "  if t % 6 == 0 then\n"
    "    local seat = t % 4 + 1\n"
    "    local a = { action = 'move', x = math.random(0, 1000), y = math.random(0, 1000) }\n"
    "    inputs[1] = { seat = seat, action = a, seat, a }\n"
    "  end\n"
    "  game.tick(state, ctx, inputs)\n"
    "  if game.view then game.view(state, nil) end\n"
    "end\n";

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = n > 0 ? malloc((size_t)n) : NULL;
    *len = text ? fread(text, 1, (size_t)n, f) : 0;
    fclose(f);
    return text;
}

enum mode { INTERPRETED, JIT_PLAIN, JIT_CHECKED };

/* Pushes the game table loaded in mode. */
static int push_game(struct vm *vm, enum mode mode, const char *text, size_t len)
{
    lua_State *L = vm_state(vm);
    char err[300];
    char *bc;
    size_t bclen;
    if (mode != JIT_CHECKED) { /* bytecode too, as the server loads every file */
        if (lua_compile(text, len, "@game.lua", &bc, &bclen, err, sizeof err) < 0) return -1;
        int rc = luaL_loadbuffer(L, bc, bclen, "@game.lua");
        free(bc);
        if (rc != 0) return -1;
        return vm_call(vm, 0, 1, 1000, err, sizeof err) == VM_OK ? 0 : -1;
    }
    if (lua_compile_script(text, len, "@game.lua", &bc, &bclen, err, sizeof err) < 0) return -1;
    int rc = luaL_loadbuffer(L, bc, bclen, "@game.lua");
    free(bc);
    if (rc != 0) return -1;
    lua_getfield(L, LUA_REGISTRYINDEX, "mt.cpu_check");
    luaL_dostring(L, "return function() error('CPU limit exceeded', 2) end");
    if (vm_call(vm, 2, 1, 1000, err, sizeof err) != VM_OK) return -1; /* the main function */
    return vm_call(vm, 0, 1, 1000, err, sizeof err) == VM_OK ? 0 : -1;
}

/* Microseconds per tick of one round in a fresh state. */
static double round_us(enum mode mode, const char *text, size_t len, int ticks)
{
    struct vm *vm = vm_new(64u << 20);
    lua_State *L = vm_state(vm);
    if (mode == INTERPRETED) luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    char err[300];
    if (luaL_loadbuffer(L, driver, sizeof driver - 1, "=driver") != 0 ||
        push_game(vm, mode, text, len) < 0) {
        fprintf(stderr, "cannot load the game\n");
        exit(1);
    }
    lua_pushinteger(L, ticks);
    double t0 = now_us();
    if (vm_call(vm, 2, 0, 600000, err, sizeof err) != VM_OK) {
        fprintf(stderr, "round failed: %s\n", err);
        exit(1);
    }
    double us = (now_us() - t0) / ticks;
    vm_free(vm);
    return us;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "games/arena/game.lua";
    int ticks = argc > 2 ? atoi(argv[2]) : 20000, runs = argc > 3 ? atoi(argv[3]) : 7;
    size_t len;
    char *text = read_all(path, &len);
    if (!text || vm_global_init() < 0 || runs < 1 || runs > 64 || ticks < 1) {
        fprintf(stderr, "usage: mt-check-bench [game.lua] [ticks] [runs]\n");
        return 2;
    }
    double t[3][64];
    for (int r = 0; r < runs; r++)
        for (int m = 0; m < 3; m++) /* alternating, so drift hits each mode alike */
            t[m][r] = round_us((enum mode)m, text, len, ticks);
    static const char *const names[] = {"interpreted (JIT off, no check)", "JIT, no check",
                                        "JIT, check compiled in (the server)"};
    double med[3];
    printf("%s: %d ticks of 4 seats, %d runs, median us per tick\n", path, ticks, runs);
    for (int m = 0; m < 3; m++) {
        qsort(t[m], (size_t)runs, sizeof t[m][0], cmp);
        med[m] = t[m][runs / 2];
        printf("  %-38s %8.2f us\n", names[m], med[m]);
    }
    printf("  the check's share of a tick: %.1f %%; the JIT with the check vs interpreted: %.2fx\n",
           100.0 * (med[2] - med[1]) / med[2], med[0] / med[2]);
    free(text);
    return 0;
}
