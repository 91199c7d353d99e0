/* referee_pool.h - rooms start from Lua states that already hold their game.
 *
 * Setting a room's referee up costs more than a tenth of the loop thread's time when many short
 * games run (docs/benchmarks.md, issue 12), and nearly all of it is loading the game's files
 * into the state, which depends on the version alone. So worker threads keep, per version in
 * use, a stock of states with the referee opened and the game loaded (referee_load) and
 * collected once; a room takes one and only starts it (referee_start: seed, config, seats,
 * game.setup). A room done with its state gives it back (referee_pool_give): a worker loads
 * the game into it again, which drops everything of the last room (R.load: a new environment,
 * a new game table, nothing of the old reachable), collects it fully, and stocks it; a state
 * a call ever failed on, or one grown past a quarter of its cap or used VM_MAX_USES times, is
 * freed instead (vm_recycle). Building a state costs several times what reloading its game
 * does, and a state kept across rooms keeps its compiled traces. A version whose game draws
 * random numbers while it loads is not stocked (those draws must come from the room's
 * generator): its rooms set up the whole way, as before.
 *
 * Stocks are kept for the 8 most recently used versions; a version pushed out (hot reload
 * makes new ones) loses its stock and its reference. Each stock aims at 4 states and doubles,
 * up to 32, when a room finds it empty (counted in lua_pool_misses_total{module="referee_game"}):
 * an idle server holds a few states per game played lately, a busy one at most 8 x 32 (about
 * 100 KiB each). */
#ifndef MT_REFEREE_POOL_H
#define MT_REFEREE_POOL_H

#include "scripts.h"
#include "vm.h"

#include <stddef.h>

/* A state with v's game loaded, capped at mem_limit bytes, for referee_start; NULL when none is
 * ready (the caller then builds one: trusted_new and referee_setup). Asks the workers to stock
 * more, loading under load_budget_ms of CPU each. Loop thread only. */
struct vm *referee_pool_take(struct script_version *v, size_t mem_limit, int load_budget_ms);

/* Takes back a room's state (NULL: nothing to do) once nothing will call its referee again:
 * into v's stock as above, or freed off the loop when it cannot serve again, v is not stocked
 * (any more), or its stock is full. vm is no longer the caller's. Loop thread only. */
void referee_pool_give(struct script_version *v, struct vm *vm);

/* Frees every stock and stops refills (shutdown, before the workers stop). Any thread. */
void referee_pool_free(void);

#endif
