/* vm_overhead - what the per-call CPU limit costs.
 *
 * Calls a trivial Lua function (the cheapest possible script call, so the limit's own cost is
 * not hidden by the script's) N times through vm_call: once without a budget (no timer) and
 * once with one (the thread's periodic CPU-time watchdog, armed once; a call notes its start), and
 * prints nanoseconds per call for each. Usage: mt-vm-bench [calls] */
#include "vm.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double per_call(struct vm *vm, long calls, int budget_ms)
{
    lua_State *L = vm_state(vm);
    char err[256];
    double t0 = now_ns();
    for (long i = 0; i < calls; i++) {
        lua_getglobal(L, "f");
        lua_pushinteger(L, (lua_Integer)i);
        if (vm_call(vm, 1, 1, budget_ms, err, sizeof err) != VM_OK) {
            fprintf(stderr, "call failed: %s\n", err);
            exit(1);
        }
        lua_pop(L, 1);
    }
    return (now_ns() - t0) / (double)calls;
}

int main(int argc, char **argv)
{
    long calls = argc > 1 ? atol(argv[1]) : 1000000;
    vm_global_init();
    struct vm *vm = vm_new(32 << 20);
    char err[256];
    const char *src = "function f(x) return x + 1 end";
    if (vm_load(vm, src, strlen(src), "=bench", err, sizeof err) < 0 ||
        vm_call(vm, 0, 0, 0, err, sizeof err) != VM_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    per_call(vm, calls / 10, 0); /* warm up */
    double plain = per_call(vm, calls, 0);
    double limited = per_call(vm, calls, 20);
    printf("calls %ld\nwithout CPU limit: %.0f ns/call\nwith CPU limit:    %.0f ns/call\n"
           "limit overhead:    %.0f ns/call\n",
           calls, plain, limited, limited - plain);
    vm_free(vm);
    return 0;
}
