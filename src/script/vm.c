#include "vm.h"

#include "lalloc.h"
#include "log.h"
#include "lua_canonical.h"
#include "lua_json.h"
#include "util.h"
#include "workers.h"

#include <lauxlib.h>
#include <lualib.h>
#include <luajit.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CPU_SIGNAL (SIGRTMIN + 1)
#define CPU_TICK_MS 5            /* the watchdog's period, in CPU time of the thread */
#define ERROR_MARGIN (64 * 1024) /* lifted cap while an error message is built */

struct vm {
    lua_State *L;
    struct lalloc heap; /* the state's own memory (lalloc.h) */
    size_t used;        /* bytes of live objects, as LuaJIT counts them */
    size_t limit;       /* the cap on heap.held: the memory the state takes from the process */
    volatile sig_atomic_t cpu_exceeded;
    unsigned start_tick, budget_ticks; /* the running call's budget, in watchdog ticks */
    int mem_exceeded;
    int enforce;  /* the cap holds only inside vm_call: the server's own pushes never fail */
    int gc_pause; /* the collector's pause now set (see tune_gc) */
    /* Deferred collection (vm_defer_gc): */
    int gc_deferred;     /* collect in vm_gc_step, not during calls, while the state is small */
    int gc_stopped;      /* the collector is stopped for the calls now */
    size_t allocated;    /* bytes allocated since the last vm_gc_step: its debt */
    size_t gc_resume_at; /* after a finished cycle: no step until used reaches this */
};

/* The state this thread is running under a budget, for the signal handler. */
static __thread struct vm *volatile running;
static __thread volatile unsigned cpu_ticks; /* watchdog signals this thread has had */
static __thread timer_t cpu_timer;
static __thread int cpu_timer_ready;

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct vm *vm = ud;
    void *p = lalloc_realloc(&vm->heap, ptr, osize, nsize, vm->enforce ? vm->limit : SIZE_MAX);
    if (nsize == 0) {
        vm->used -= osize;
        return NULL;
    }
    if (!p) {
        vm->mem_exceeded = 1;
        return NULL;
    }
    vm->used = vm->used - osize + nsize;
    if (nsize > osize) vm->allocated += nsize - osize;
    return p;
}

/* An error outside any pcall is a bug in the server's own calls: say where, then abort. */
static int on_panic(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    log_msg(LOG_ERROR, "unprotected Lua error", "{ss}", "error", msg ? msg : "?");
    abort();
    return 0;
}

static void cpu_hook(lua_State *L, lua_Debug *ar)
{
    /* Keep the hook: a script's own pcall may catch this error, and the next few
     * instructions then raise it again until control is back in vm_call. */
    luaL_error(L, "CPU limit exceeded");
}

/* The watchdog: every CPU_TICK_MS of this thread's CPU time. A call over its budget gets the
 * hook; anything else costs one increment. */
static void on_cpu_signal(int sig, siginfo_t *si, void *uc)
{
    unsigned now = ++cpu_ticks;
    struct vm *vm = running;
    if (!vm || now - vm->start_tick <= vm->budget_ticks) return;
    vm->cpu_exceeded = 1;
    lua_sethook(vm->L, cpu_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 100);
}

int vm_global_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_cpu_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    return sigaction(CPU_SIGNAL, &sa, NULL);
}

/* Each thread gets one periodic CPU-time timer that signals that very thread. Armed once: a
 * call only notes the tick it started at, so the limit costs no system call per call (arming a
 * timer per call cost about 1.2 us, see docs/benchmarks.md). CPU time only passes while the
 * thread runs, so an idle server gets no signals. */
static int thread_timer(void)
{
    if (cpu_timer_ready) return 0;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = CPU_SIGNAL;
    sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &cpu_timer) < 0) return -1;
    struct itimerspec its = {{0, CPU_TICK_MS * 1000000L}, {0, CPU_TICK_MS * 1000000L}};
    if (timer_settime(cpu_timer, 0, &its, NULL) < 0) return -1;
    cpu_timer_ready = 1;
    return 0;
}

/* The CPU check compiled into scripts (lua_instrument.h): the running call's watchdog flag.
 * Called from compiled traces through an FFI function pointer, so it reads only this thread's
 * `running`, which is set for the length of a timed vm_call. */
static int cpu_flag(void)
{
    struct vm *vm = running;
    return vm ? vm->cpu_exceeded : 0;
}

/* Machine code per state, in KiB (jit.opt's sizemcode and maxmcode): LuaJIT maps it outside
 * the state's allocator, so it is bounded here instead of by the cap, and unmapped in vm_free.
 * A state that reaches the bound flushes its traces and compiles anew. */
#define MCODE_AREA_KB 32
#define MCODE_MAX_KB 256
/* Iterations before a loop (twice as many calls before a function) is compiled. LuaJIT's 56
 * suits one long-lived program; a room's state lives for one game, and compiling the few
 * short loops a tic-tac-toe game runs ~80 times cost more than it saved: 285 games/s against
 * 694 interpreted, 635-1,212 with 1000 (docs/benchmarks.md). What really runs hot (an agent's
 * search, a real-time room's ticks within seconds, a runaway loop) is still compiled. */
#define HOTLOOP 1000

/* Turns the JIT on (luaopen_jit initialises it: without it the engine stays off) with this
 * state's machine-code bounds, and takes the jit table out of the globals again: scripts never
 * see the globals, and trusted code has no use for it. */
static void open_jit(lua_State *L)
{
    lua_pushcfunction(L, luaopen_jit);
    lua_call(L, 0, 0);
    lua_getglobal(L, "jit");
    lua_getfield(L, -1, "opt");
    lua_getfield(L, -1, "start");
    lua_pushfstring(L, "sizemcode=%d", MCODE_AREA_KB);
    lua_pushfstring(L, "maxmcode=%d", MCODE_MAX_KB);
    lua_pushfstring(L, "hotloop=%d", HOTLOOP);
    lua_call(L, 3, 0);
    lua_pop(L, 2);
    lua_pushnil(L);
    lua_setglobal(L, "jit");
}

/* Pushes cpu_flag as an FFI `int (*)(void)`. The ffi module is opened for this one cast and
 * reachable by no script: it is no global, only the registry's _LOADED holds it (which must
 * stay: the FFI's own tables are kept alive through the module, and collecting them broke
 * the state), and sandbox.lua hands scripts only what it lists. */
static void push_cpu_check(lua_State *L)
{
    union {
        int (*fn)(void);
        void *p;
    } flag = {cpu_flag};
    lua_pushcfunction(L, luaopen_ffi);
    lua_call(L, 0, 1);
    lua_getfield(L, -1, "cast");
    lua_pushliteral(L, "int (*)(void)");
    lua_pushlightuserdata(L, flag.p);
    lua_call(L, 2, 1);
    lua_remove(L, -2);
}

struct vm *vm_new(size_t mem_limit)
{
    struct vm *vm = calloc(1, sizeof *vm);
    if (!vm) return NULL;
    vm->limit = mem_limit;
    lalloc_init(&vm->heap);
    /* LuaJIT's GC64 build must use its own allocator to place GC objects; lua_newstate with a
     * custom allocator works on Debian's builds (checked), which is what makes the cap exact. */
    vm->L = lua_newstate(capped_alloc, vm);
    if (!vm->L) {
        lalloc_release(&vm->heap);
        free(vm);
        return NULL;
    }
    lua_State *L = vm->L;
    lua_atpanic(L, on_panic);
    open_jit(L);
    push_cpu_check(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "mt.cpu_check");
    static const luaL_Reg libs[] = {{"", luaopen_base},
                                    {LUA_TABLIBNAME, luaopen_table},
                                    {LUA_STRLIBNAME, luaopen_string},
                                    {LUA_MATHLIBNAME, luaopen_math},
                                    {LUA_BITLIBNAME, luaopen_bit},
                                    {NULL, NULL}};
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        lua_pushcfunction(L, lib->func);
        lua_pushstring(L, lib->name);
        lua_call(L, 1, 0);
    }
    lua_createtable(L, 0, 3); /* the json module sandbox.lua hands to scripts (lua_json.h) */
    lua_pushcfunction(L, lua_json_encode);
    lua_setfield(L, -2, "encode");
    lua_pushcfunction(L, lua_json_decode);
    lua_setfield(L, -2, "decode");
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    lua_setfield(L, LUA_REGISTRYINDEX, "mt.json");
    lua_canonical_push_hasher(L); /* before any script: it keeps string.format and tostring */
    lua_setfield(L, LUA_REGISTRYINDEX, "mt.canonical_hash");
    return vm;
}

/* Drops the state without lua_close. lua_close would run finalizers and then free every
 * object one by one (a walk over the whole heap: a third of a worker's time in the games
 * benchmark). Nothing in a state needs either: every byte of it, LuaJIT's own structures
 * included, came from vm->heap (lua_newstate with capped_alloc); no userdata in it has a
 * finalizer (the json module is ours, not lua-cjson with its malloc'd buffers; scripts get no
 * newproxy, nor ffi.gc); and the one thing outside the heap, the JIT's machine code, is unmapped
 * by flushing the traces first. Releasing the heap then frees the state completely, which the
 * ASan run checks for leaks. */
void vm_free(struct vm *vm)
{
    if (!vm) return;
    luaJIT_setmode(vm->L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_FLUSH);
    lalloc_release(&vm->heap);
    free(vm);
}

static void free_work(void *vm)
{
    vm_free(vm);
}

void vm_free_later(struct vm *vm)
{
    if (vm && workers_submit_cleanup(free_work, vm) < 0) vm_free(vm);
}

lua_State *vm_state(struct vm *vm)
{
    return vm->L;
}

size_t vm_memory(const struct vm *vm)
{
    return vm->heap.held;
}

size_t vm_memory_limit(const struct vm *vm)
{
    return vm->limit;
}

const char *vm_status_name(enum vm_status st)
{
    static const char *const names[] = {"ok", "error", "cpu", "memory"};
    return names[st];
}

/* Message handler: the error plus a traceback, so a failure names the script's line. */
static int traceback(lua_State *L)
{
    /* The error is on its way out to vm_call: stop the CPU hook and lend the state a little
     * memory so the message can be built even when the cap was the cause. */
    lua_sethook(L, NULL, 0, 0);
    void *ud;
    lua_getallocf(L, &ud);
    struct vm *vm = ud;
    if (vm->mem_exceeded) vm->limit = vm->heap.held + ERROR_MARGIN;
    const char *msg = lua_tostring(L, 1);
    if (!msg) msg = lua_type(L, 1) == LUA_TNIL ? "nil error" : "(error object is not a string)";
    /* The debug library is never opened; the traceback is built from lua_getstack. */
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, msg);
    lua_Debug ar;
    int shown = 0;
    for (int level = 1; shown < 6 && lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0) continue;
        char line[320];
        snprintf(line, sizeof line, "\n  at %s:%d", ar.short_src, ar.currentline);
        luaL_addstring(&b, line);
        shown++;
    }
    luaL_pushresult(&b);
    return 1;
}

/* The collector starts a cycle when the heap reaches pause% of what the last cycle left
 * alive. LuaJIT's default, 200 %, made the garbage collector the tail of a real-time room's
 * ticks (docs/benchmarks.md, issue 5). A state using less than a quarter of its cap runs with
 * 400 %: a cycle half as often, and the heap still stays under the cap. Above that it goes
 * back to 200 %, because LuaJIT fails an allocation at the cap without a last collection, and
 * a larger pause would fail rooms whose live data fits. */
#define GC_PAUSE_SMALL 400
#define GC_PAUSE_DEFAULT 200

/* Deferral holds while the state is small and idle time keeps up with its allocation;
 * otherwise the collector runs inside calls as usual, so memory stays bounded either way. */
#define GC_DEFER_MAX_DEBT (256u << 10)

static int gc_may_defer(const struct vm *vm)
{
    return vm->gc_deferred && vm->used < vm->limit / 8 && vm->allocated < GC_DEFER_MAX_DEBT;
}

/* Before a call: stop the collector (LuaJIT then takes no step on allocation) or restart it. */
static void gc_before_call(struct vm *vm)
{
    int stop = gc_may_defer(vm);
    if (!stop) vm->allocated = 0; /* the calls pay as they go */
    if (stop == vm->gc_stopped) return;
    lua_gc(vm->L, stop ? LUA_GCSTOP : LUA_GCRESTART, 0);
    vm->gc_stopped = stop;
}

void vm_defer_gc(struct vm *vm)
{
    vm->gc_deferred = 1;
    vm->allocated = 0;
}

void vm_gc_settle(struct vm *vm)
{
    int finished;
    do
        finished = lua_gc(vm->L, LUA_GCSTEP, 0);
    while (!finished);
}

int vm_gc_step(struct vm *vm)
{
    if (!vm->gc_stopped || !vm->allocated) return 0;
    size_t debt = vm->allocated;
    vm->allocated = 0;
    if (vm->used < vm->gc_resume_at) return 0; /* the pause after a cycle, as LuaJIT keeps it */
    /* LUA_GCSTEP with n KiB runs as much collection as allocating n KiB would have. */
    int finished = lua_gc(vm->L, LUA_GCSTEP, (int)(debt >> 10) + 1);
    /* The next cycle when the heap has doubled: what a cycle leaves includes what was
     * allocated while it ran, so the 400 % the calls use (tune_gc) would let it grow more. */
    if (finished) vm->gc_resume_at = vm->used * 2;
    lua_gc(vm->L, LUA_GCSTOP, 0); /* a step leaves the collector armed */
    return 1;
}

static void tune_gc(struct vm *vm)
{
    int want = vm->used < vm->limit / 4 ? GC_PAUSE_SMALL : GC_PAUSE_DEFAULT;
    if (want == vm->gc_pause) return;
    lua_gc(vm->L, LUA_GCSETPAUSE, want);
    vm->gc_pause = want;
}

enum vm_status vm_call(struct vm *vm, int nargs, int nresults, int budget_ms, char *err,
                       size_t errlen)
{
    lua_State *L = vm->L;
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback);
    lua_insert(L, base);
    vm->cpu_exceeded = 0;
    vm->mem_exceeded = 0;
    lua_sethook(L, NULL, 0, 0);
    int timed = budget_ms > 0 && thread_timer() == 0;
    size_t limit = vm->limit;
    /* Over budget once more than budget/tick whole ticks have passed: a call is stopped after
     * between budget and budget + 2 ticks of CPU time. */
    vm->start_tick = cpu_ticks;
    vm->budget_ticks = (unsigned)(budget_ms + CPU_TICK_MS - 1) / CPU_TICK_MS + 1;
    vm->enforce = 1;
    gc_before_call(vm);
    if (timed) running = vm;
    int rc = lua_pcall(L, nargs, nresults, base);
    running = NULL;
    vm->enforce = 0;
    lua_sethook(L, NULL, 0, 0);
    vm->limit = limit;
    tune_gc(vm);
    /* A failed call may leave its garbage behind, up to the cap: collect it now, so the next
     * call starts with the room's real footprint. */
    if (rc != 0 && vm->mem_exceeded) {
        /* A deferred state that met its cap with the collector stopped made more garbage in
         * one call than the collector would have let pile up: it collects in its calls from
         * now on. */
        if (vm->gc_stopped) vm->gc_deferred = 0;
        lua_gc(L, LUA_GCCOLLECT, 0); /* which also leaves the collector running */
        vm->gc_stopped = 0;
    }
    if (rc == 0) {
        lua_remove(L, base);
        return VM_OK;
    }
    /* Memory first: a call that met its cap is a memory failure even when the copying that
     * met it also outlasted the CPU budget (on a slow machine it can). */
    enum vm_status st = (rc == LUA_ERRMEM || vm->mem_exceeded) ? VM_MEMORY
                        : vm->cpu_exceeded                     ? VM_CPU
                                                               : VM_ERROR;
    const char *msg = lua_tostring(L, -1);
    if (st == VM_MEMORY && (!msg || rc == LUA_ERRMEM)) msg = "memory limit exceeded";
    util_strlcpy(err, msg ? msg : "error", errlen);
    lua_settop(L, base - 1);
    return st;
}

int vm_load(struct vm *vm, const char *text, size_t len, const char *chunkname, char *err,
            size_t errlen)
{
    /* "t": text only. A binary chunk could carry crafted bytecode. */
    if (luaL_loadbufferx(vm->L, text, len, chunkname, "t") != 0) {
        const char *msg = lua_tostring(vm->L, -1);
        util_strlcpy(err, msg ? msg : "cannot load", errlen);
        lua_pop(vm->L, 1);
        return -1;
    }
    return 0;
}

int vm_load_trusted(struct vm *vm, const char *chunk, size_t len, const char *chunkname, char *err,
                    size_t errlen)
{
    if (luaL_loadbufferx(vm->L, chunk, len, chunkname, "bt") != 0) {
        const char *msg = lua_tostring(vm->L, -1);
        util_strlcpy(err, msg ? msg : "cannot load", errlen);
        lua_pop(vm->L, 1);
        return -1;
    }
    return 0;
}
