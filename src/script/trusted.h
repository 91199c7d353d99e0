/* trusted.h - the server's own Lua (lua/): read once at start-up, opened in each new state.
 *
 * lua/sandbox.lua builds script environments; lua/referee.lua and lua/agent_host.lua are the
 * two modules the C core calls into; lua/lib/ holds helpers scripts may require as mt.*.
 * The sources are kept in memory, so a later edit of lua/ needs a restart: trusted code is
 * deployed, not hot-reloaded. */
#ifndef MT_TRUSTED_H
#define MT_TRUSTED_H

#include "vm.h"

#include <stddef.h>

/* Reads the trusted sources from dir. Returns 0, or -1 with a log line. */
int trusted_init(const char *dir);
void trusted_free(void);

/* Opens module ("referee" or "agent_host") in vm on top of a fresh sandbox module, and leaves
 * the module table on the stack. Returns 0, or -1 with the reason in err. */
int trusted_open(struct vm *vm, const char *module, char *err, size_t errlen);

/* A new state with module opened (as trusted_open leaves it: the module table on the stack),
 * capped at mem_limit bytes. Taken from a pool that worker threads keep filled (counted in
 * lua_pool_misses_total when it was empty), so starting a room does not pay for building states
 * on the loop thread; a pooled state is handed out once
 * and never reused, so rooms stay isolated. Falls back to building one now. NULL with err on
 * failure. Loop thread only. */
struct vm *trusted_new(const char *module, size_t mem_limit, char *err, size_t errlen);

/* A new state capped at mem_limit bytes with module opened, built now (what the pool holds).
 * Any thread: the state is the caller's. NULL with err on failure. */
struct vm *trusted_build(const char *module, size_t mem_limit, char *err, size_t errlen);

/* Counts a state built on the loop thread because a pool of ready ones (this one's, or
 * another's such as referee_pool.h's) was empty: lua_pool_misses_total{module=what}. Loop
 * thread. */
void trusted_pool_missed(const char *what);

/* Frees the pooled states and stops refilling them (shutdown). Any thread. */
void trusted_pool_free(void);

/* Pushes the table { ["name.lua"] = bytecode } of lua/lib helpers, compiled as scripts are
 * (lua_compile_script): sandbox.lua's require loads them like a script's own files. */
void trusted_push_helpers(lua_State *L);

#endif
