/* vm.h - one LuaJIT state with a memory cap and a per-call CPU budget.
 *
 * Every room, agent seat and script validation gets its own state, so nothing one script
 * does can be seen by another room. The JIT is on, with its machine code bounded per state
 * (256 KiB, mapped outside the state's allocator and unmapped when the state is freed).
 *
 * Memory: while a call made by vm_call() runs, the state's allocator refuses any allocation
 * past the cap, so a memory bomb fails with a Lua memory error inside the call that made it.
 * Outside calls (the server pushing arguments, reading results) nothing is refused, so the
 * server's own API use never raises an unprotected error. A call that met the cap is a memory
 * failure even if it also ran past its CPU budget.
 * CPU: each thread running scripts has a periodic CPU-time timer (every 5 ms of its CPU time);
 * vm_call() notes the tick its call starts at, and when the signal handler sees the running
 * call past its budget it sets the call's flag and installs a count hook on the state, which
 * raises "CPU limit exceeded" every few instructions until the call has unwound (a script's
 * own pcall cannot swallow it). Hooks do not run inside compiled traces: there, the check
 * compiled into every script (lua_instrument.h) reads the flag at each loop iteration, goto
 * and function entry, and stops the call the same way. The registry's "mt.cpu_check" holds
 * that check (an FFI function pointer) for lua/sandbox.lua. A call is stopped after between
 * its budget and budget + 10 ms of CPU time. Time spent inside one C function (a string
 * pattern match) cannot be interrupted, which is why the sandbox bounds the inputs of those
 * functions (lua/sandbox.lua).
 *
 * A state belongs to one thread at a time; states may move between threads between calls. */
#ifndef MT_VM_H
#define MT_VM_H

#include <lua.h>
#include <stddef.h>

struct vm;

enum vm_status { VM_OK = 0, VM_ERROR, VM_CPU, VM_MEMORY };

/* Installs the signal handler the CPU limit uses. Call once, before any thread starts. */
int vm_global_init(void);

/* Creates a state limited to mem_limit bytes with the base, table, string, math and bit
 * libraries, and the server's json module (encode, decode, null; lua_json.h) in the registry as
 * "mt.json" for trusted code. NULL on failure. */
struct vm *vm_new(size_t mem_limit);

/* Closes the state. vm is no longer valid. */
void vm_free(struct vm *vm);

/* vm_free on a worker thread: closing a state that ran a game frees thousands of objects, work
 * the loop thread need not do. vm must be referenced by nothing else; it is no longer valid. */
void vm_free_later(struct vm *vm);

/* The state's lua_State (borrowed: valid until vm_free), for the thread that owns vm now. */
lua_State *vm_state(struct vm *vm);

/* Calls the function below nargs arguments on the stack (lua_pcall style, with a traceback
 * message handler) within budget_ms of this thread's CPU time. On VM_OK the nresults results
 * are on the stack; otherwise nothing is, and err[errlen] holds "file:line: message" (the
 * script's position where known). The memory cap is lifted by a small margin while the error
 * is formatted, so a script that hit the cap still gets a readable message. */
enum vm_status vm_call(struct vm *vm, int nargs, int nresults, int budget_ms, char *err,
                       size_t errlen);

/* Defers this state's garbage collection out of its calls: while the state uses less than an
 * eighth of its cap and owes less than 256 KiB of collection, calls run with the collector
 * stopped, and vm_gc_step does the work the calls' allocations would have done, when the
 * caller has time (a real-time room: in the tick scheduler's idle time). Past either bound the
 * collector runs inside calls again. */
void vm_defer_gc(struct vm *vm);

/* Runs the collector until its cycle in progress ends, outside calls: a state built ahead of
 * use (referee_pool.h) then starts its first use with no collection owed and the whole pause
 * ahead of it, so a short-lived room may never collect at all. (Finishing the cycle costs half
 * of a full collection, LUA_GCCOLLECT, and leaves the same pause.) */
void vm_gc_settle(struct vm *vm);

/* Runs the collection owed since the last step (none during the pause after a finished
 * cycle). Returns 1 when it ran something. Outside calls only. */
int vm_gc_step(struct vm *vm);

/* Bytes the state holds now, and the cap. */
size_t vm_memory(const struct vm *vm);
size_t vm_memory_limit(const struct vm *vm);

/* A short name for a status: "ok", "error", "cpu", "memory". */
const char *vm_status_name(enum vm_status st);

/* Loads the Lua source text (never bytecode) as a function named chunkname and leaves it on
 * the stack. Returns 0, or -1 with the syntax error in err. */
int vm_load(struct vm *vm, const char *text, size_t len, const char *chunkname, char *err,
            size_t errlen);

/* Loads a chunk the server compiled itself (text or LuaJIT bytecode from lua_dump): for the
 * trusted Lua only, never for scripts. Returns 0, or -1 with the error in err. */
int vm_load_trusted(struct vm *vm, const char *chunk, size_t len, const char *chunkname, char *err,
                    size_t errlen);

#endif
