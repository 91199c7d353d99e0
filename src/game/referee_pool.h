/* referee_pool.h - rooms start from Lua states that already hold their game.
 *
 * Setting a room's referee up costs more than a tenth of the loop thread's time when many short
 * games run (docs/benchmarks.md, issue 12), and nearly all of it is loading the game's files
 * into the state, which depends on the version alone. So worker threads keep, per version in
 * use, a stock of states with the referee opened and the game loaded (referee_load) and
 * collected once; a room takes one and only starts it (referee_start: seed, config, seats,
 * game.setup). A state is handed out once and never reused, so rooms stay as isolated as
 * before. A version whose game draws random numbers while it loads is not stocked (those draws
 * must come from the room's generator): its rooms set up the whole way, as before.
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

/* Frees every stock and stops refills (shutdown, before the workers stop). Any thread. */
void referee_pool_free(void);

#endif
