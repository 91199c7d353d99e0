/* agent.h - an AI opponent in one seat of one room.
 *
 * Each agent seat has a Lua state of its own (lua/agent_host.lua) holding the agent script and
 * a sandboxed copy of the game's rules for ctx.model. Turn-based thinking (choose) runs on a
 * worker thread within the choose budget, so a slow agent never stalls the loop; the result
 * comes back to the loop thread through a callback that names the room by id, because the
 * room may have ended meanwhile. Loop thread only (the state moves to a worker while busy). */
#ifndef MT_AGENT_H
#define MT_AGENT_H

#include "scripts.h"
#include "vm.h"

#include <stdint.h>

struct agent;

struct agent_result {
    enum vm_status status;
    char *action_json; /* the chosen action, or NULL on failure */
    char *reasoning;   /* may be NULL */
    char error[300];
};

/* Called on the loop thread with the room id and seat the agent was thinking for. The result
 * is freed after the call returns. */
typedef void (*agent_done_fn)(const char *room_id, int seat, const struct agent_result *res);

/* An agent for seat of seats in a room of game, whose config (JSON text, copied; NULL: none)
 * becomes ctx.config for the agent and for its model. Takes references to both versions. It takes
 * a ready state from the pool now; the agent script and the game's rules are loaded into it by
 * the first choose (on a worker thread) or act. A failure there is reported by that call and
 * every later one (the room then plays random legal moves for the seat, as for any failing
 * agent). Returns NULL with the reason in err when no state can be had. */
struct agent *agent_new(struct script_version *agent, struct script_version *game, int seat,
                        int seats, uint32_t seed, const char *config_json, size_t mem_limit,
                        char *err, size_t errlen);

/* The agent's script version (borrowed: the agent holds a reference until agent_free). */
const struct script_version *agent_version(const struct agent *a);

/* Whether a choose is in flight on a worker thread (its done callback has not run yet). */
int agent_busy(const struct agent *a);

/* Starts choosing a move on a worker thread. Returns 0, or -1 when the agent is busy or the
 * job cannot be queued. */
int agent_choose(struct agent *a, const char *room_id, const char *view_json,
                 const char *legal_json, uint64_t now, int budget_ms, agent_done_fn done);

/* Real-time: calls act on the loop thread within budget_ms. Returns a malloc'd action JSON or
 * NULL (no input, or a failure, reported in *status). */
char *agent_act(struct agent *a, const char *view_json, uint64_t now, int budget_ms,
                enum vm_status *status, char *err, size_t errlen);

/* Releases the agent. A busy agent is released when its job returns. a is no longer valid. */
void agent_free(struct agent *a);

#endif
