/* trusted.h - the server's own Lua (lua/): read once at start-up, opened in each new state.
 *
 * lua/sandbox.lua builds script environments; lua/referee.lua and lua/agent_host.lua are the
 * two modules the C core calls into; lua/lib/ holds helpers scripts may require as mt.*.
 * The sources are kept in memory, so a later edit of lua/ needs a restart: trusted code is
 * deployed, not hot-reloaded. */
#ifndef MT_TRUSTED_H
#define MT_TRUSTED_H

#include "lua_vm.h"

#include <stddef.h>

/* Reads the trusted sources from dir. Returns 0, or -1 with a log line. */
int trusted_init(const char *dir);
void trusted_free(void);

/* Opens module ("referee" or "agent_host") in vm on top of a fresh sandbox module, and leaves
 * the module table on the stack. Returns 0, or -1 with the reason in err. */
int trusted_open(struct vm *vm, const char *module, char *err, size_t errlen);

/* Pushes the table { ["name.lua"] = source } of lua/lib helpers. */
void trusted_push_helpers(lua_State *L);

#endif
