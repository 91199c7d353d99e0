/* lua_instrument.h - the CPU check compiled into every game and agent script.
 *
 * LuaJIT's hooks do not fire inside compiled traces, so with the JIT on, the watchdog's hook
 * (vm.c) cannot stop a compiled `while true do end`. The check that can: a call through an
 * FFI function pointer, `int (*)(void)`, that returns the watchdog's flag. LuaJIT compiles the
 * call into the trace (about 1.5 ns) and cannot hoist it out of the loop the way it hoists a
 * load through a `volatile int *` (tried: that loop never stops).
 *
 * This module rewrites a script's source so that the check runs at every place control can
 * come back to without bound: the start of each `do` block (the body of every `while` and
 * `for`), each `repeat` body, before each `goto`, and at each function's entry (recursion).
 * The rewritten text is
 *
 *     local __mt_chk, __mt_cpu = ... return function(...) <source with checks>
 *     end
 *
 * where each check is ` if __mt_chk()~=0 then __mt_cpu() end `: the loader calls the chunk
 * with the check and the function that raises "CPU limit exceeded", and gets the script's own
 * main function back. Nothing is inserted across a line break, so every line keeps its number
 * (errors and tracebacks name the same lines); the final `end` goes on a line of its own after
 * the source, so a trailing comment cannot swallow it.
 *
 * Scripts may not use a name that begins with the reserved prefix `__mt_`: they could
 * otherwise declare a local that shadows the check. Strings may contain it (they name
 * nothing). The source must already parse: the caller compiles the original text first, so a
 * syntax error is reported exactly as written. */
#ifndef MT_LUA_INSTRUMENT_H
#define MT_LUA_INSTRUMENT_H

#include <stddef.h>

#define LUA_INSTRUMENT_PREFIX "__mt_"

/* Rewrites src[0..len). Returns a malloc'd, NUL-terminated text (*out_len its length; the
 * caller frees it), or NULL with err set: "line N: names beginning with __mt_ are reserved"
 * for a name with the reserved prefix, or "out of memory". */
char *lua_instrument(const char *src, size_t len, size_t *out_len, char *err, size_t errlen);

#endif
