/* Unit tests for deferred collection (vm_defer_gc, vm_gc_step in vm.c): a deferred state's
 * calls take no collection steps while it is small, vm_gc_step collects what they left, and
 * past the bounds the collector runs inside calls again, so memory stays bounded without
 * steps. */
#include "vm.h"
#include "tap.h"

#include <lauxlib.h>
#include <stdio.h>

/* Calls churn(n): n short-lived tables of about 100 bytes each. */
static int churn(struct vm *vm, int n)
{
    char err[200];
    lua_State *L = vm_state(vm);
    lua_getglobal(L, "churn");
    lua_pushinteger(L, n);
    return vm_call(vm, 1, 0, 1000, err, sizeof err) == VM_OK;
}

static struct vm *new_state(size_t cap)
{
    struct vm *vm = vm_new(cap);
    if (!vm) return NULL;
    lua_State *L = vm_state(vm);
    /* Each table escapes into a global: the JIT would sink a table that never escapes and
     * allocate nothing. */
    luaL_dostring(L, "function churn(n) for i = 1, n do last = {i, i, i, i, i} end end");
    lua_gc(L, LUA_GCCOLLECT, 0);
    return vm;
}

int main(void)
{
    vm_global_init();
    /* ~170 KB of garbage: more than the collector lets a small state's heap grow by between
     * cycles, less than the 256 KiB a deferred state may owe. */
    struct vm *control = new_state(32u << 20), *vm = new_state(32u << 20);
    ok(vm && control, "two states");
    vm_defer_gc(vm);
    int control_kb = lua_gc(vm_state(control), LUA_GCCOUNT, 0);
    int before_kb = lua_gc(vm_state(vm), LUA_GCCOUNT, 0);
    size_t grown_held = 0;
    for (int i = 0; i < 15; i++) {
        churn(vm, 100);
        churn(control, 100);
    }
    int control_after = lua_gc(vm_state(control), LUA_GCCOUNT, 0);
    int grown_kb = lua_gc(vm_state(vm), LUA_GCCOUNT, 0);
    grown_held = vm_memory(vm);
    ok(control_after < control_kb + 140,
       "control: the collector ran during the calls (%d -> %d KiB)", control_kb, control_after);
    ok(grown_kb > before_kb + 140, "deferred: the calls left their garbage (%d -> %d KiB)",
       before_kb, grown_kb);
    int steps = 0;
    for (int i = 0; i < 200 && vm_gc_step(vm); i++) {
        steps++;
        churn(vm, 10);
    }
    ok(steps > 0, "vm_gc_step collects (%d steps)", steps);
    lua_State *L = vm_state(vm);
    int live_kb = lua_gc(L, LUA_GCCOUNT, 0);
    ok(live_kb < grown_kb - 100, "the heap in use shrank to %d KiB (from %d KiB; %zu held)",
       live_kb, grown_kb, grown_held / 1024);
    is_int(vm_gc_step(vm), 0, "with nothing allocated since, a step has nothing to do");

    /* Without steps, the debt bound brings the collector back into the calls. */
    struct vm *vm2 = new_state(32u << 20);
    vm_defer_gc(vm2);
    for (int i = 0; i < 400; i++)
        churn(vm2, 200); /* ~8 MB of garbage in all */
    int kb = lua_gc(vm_state(vm2), LUA_GCCOUNT, 0);
    ok(kb < 3 * 1024, "never stepped, the state still stays small: %d KiB in use", kb);

    /* A state past an eighth of its cap collects in its calls. */
    struct vm *vm3 = new_state(2u << 20);
    vm_defer_gc(vm3);
    int all_ok = 1;
    for (int i = 0; i < 400; i++)
        all_ok &= churn(vm3, 200);
    ok(all_ok, "a small cap is never hit by deferred garbage (2 MiB cap, ~8 MB churned)");
    /* One call that makes more garbage than the cap while the collector is stopped fails
     * like any call at the cap; the state then collects in its calls and runs on. */
    struct vm *vm4 = new_state(2u << 20);
    vm_defer_gc(vm4);
    ok(churn(vm4, 10) && !churn(vm4, 40000), "a call churning 4 MB at a 2 MiB cap with the "
                                             "collector stopped fails (memory)");
    ok(churn(vm4, 40000), "after it, the state collects in its calls: the same call succeeds");
    vm_free(vm4);
    vm_free(control);
    vm_free(vm);
    vm_free(vm2);
    vm_free(vm3);
    return done_testing();
}
