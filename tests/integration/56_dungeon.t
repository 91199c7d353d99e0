#!/usr/bin/python3
# Distributed Dungeon (games/dungeon) over WebSocket: the DM creates a five-seat room naming the
# agents of the two monster seats (create_game's agents), two players join; in the first session
# seat 4 is the Lua agent dungeon_brute and seat 5 an external agent (a scripted stand-in for an
# LLM-driven monster, served over its own agent connection); in the second dungeon_pack and
# dungeon_brute. The DM spawns goblins and starts a fight through text commands; the players
# attack on their turns, the agents play the goblins with their reasoning shown; a player
# reconnects mid-fight (resume); the fight ends; a DM edit is saved with author gm; the DM ends
# the session; the sheets carry over to the second session, with their versions listed;
# `monkeytown replay` of the first session is identical. No step waits on the machine's speed, and
# the DM gives the heroes 100 hp first, so no roll of the dice can kill one mid-test.
import asyncio, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Server, Tap, fake_agent, http, replay, run

t = Tap()


def guest(srv):
    st, _, g = http("POST", srv.url + "/api/auth/guest")
    return g["token"], g.get("playerId") or g.get("player", {}).get("id")


async def meet(srv, tokens, agents):
    """The DM creates a five-seat room with agents in the monster seats (agents: {"4": name,
    "5": name}); the two players join seats 2 and 3 in turn."""
    clients = [await Client.connect(srv, token=tok) for tok, _ in tokens]
    ans = await clients[0].request("create_game", {"game": "dungeon", "config": {"seats": 5},
                                                   "agents": agents})
    t.eq(ans["type"], "game_created", f"the DM creates the room with agents {agents}")
    gid = ans["payload"]["gameId"]
    seats = [1]
    for c in clients[1:]:
        ans = await c.request("join_game", {"gameId": gid})
        seats.append(ans["payload"]["you"])
    for c in clients:
        await c.expect("game_state", timeout=20, where=lambda m: m["payload"].get("status") == "active")
    return clients, gid, seats, tokens


def model_move(p):
    """The scripted stand-in for an LLM-driven monster: its first legal action, with a reason."""
    return p["legal"][0], f"the model picks {p['legal'][0].get('op')}"


def hero_action(legal, events):
    """Until both monster seats have played a turn (their reasoning logged), a hero ends its
    turn; then it attacks with its first legal action. So every agent acts whatever the dice."""
    acted = {e.get("seat") for e in events if e.get("kind") == "agent_reasoning"}
    if not {4, 5} <= acted:
        for a in legal:
            if a.get("op") == "end":
                return a
    return legal[0]


async def play_fight(clients, gid, reconnect=None):
    """Each hero plays hero_action on its turns until the fight ends."""
    events, reconnected = [], False
    dm = clients[0]
    while True:
        for i, c in enumerate(clients):
            try:
                m = await c.recv(0.05)
            except asyncio.TimeoutError:
                continue
            if m.get("gameId") != gid:
                continue
            if m["type"] == "game_event" and i == 0:
                events.append(m["payload"]["event"])
                if m["payload"]["event"].get("kind") == "combat_end":
                    return events, reconnected
            p = m.get("payload", {})
            if m["type"] == "game_state" and i > 0 and p.get("toMove") == p.get("you") and p.get("legal") \
                    and p["state"].get("phase") == "combat":
                if reconnect and not reconnected:  # the first hero to get a turn (a hero may
                    await c.close()               # fall before its first)
                    clients[i] = c = await Client.connect(reconnect[0], token=reconnect[1][i][0])
                    ans = await c.request("resume", {"gameId": gid, "lastSeq": m["seq"]})
                    st = ans if ans["type"] == "game_state" else await c.expect("game_state", timeout=10)
                    p = st["payload"]
                    reconnected = True
                    if p.get("toMove") != p.get("you") or not p.get("legal"):
                        continue
                await c.send("player_input", {"gameId": gid, "action": hero_action(p["legal"], events)})


async def session(srv, tokens, first, agents, ext=None):
    done, ext_task = asyncio.Event(), None
    if ext:  # its connection is open (welcomed) before the room names it
        ext_conn = await Client.connect(srv, token=ext)
        ext_task = asyncio.ensure_future(fake_agent(ext_conn, [model_move], done))
    clients, gid, seats, tokens = await meet(srv, tokens, agents)
    t.eq(seats, [1, 2, 3], "three humans hold seats 1 (the DM), 2 and 3; agents the rest")
    dm = clients[0]
    ans = await dm.request("command", {"gameId": gid, "text": "/spawn goblin 2"})
    t.eq(ans["type"], "game_event", "the DM spawns two goblins")
    # The heroes (loaded with that first action) get 100 hp from the DM, so the dice never kill
    # one (a dead hero is no target for the edits below, and would carry its death over).
    for hero_id in ("p2", "p3"):
        for field in ("hp_max", "hp"):
            ans = await dm.request("command", {"gameId": gid, "text": f"/sheet set {hero_id} {field} 100"})
            t.eq(ans["payload"].get("event", {}).get("kind"), "gm_edit",
                 f"the DM sets {hero_id}'s {field}: {ans['payload'].get('message', 'gm_edit')}")
    ans = await dm.request("command", {"gameId": gid, "text": "/combat start"})
    t.eq(ans["type"], "game_event", f"and starts the fight: {ans}")
    events, reconnected = await asyncio.wait_for(play_fight(clients, gid, (srv, tokens) if first else None), 120)
    hero = tokens[1]
    kinds = [e.get("kind") for e in events]
    t.ok("combat_start" in kinds and "combat_end" in kinds, "the fight runs from initiative to its end")
    t.ok(any(k == "agent_reasoning" for k in kinds), f"the agent's reasoning is in the log: {kinds}")
    t.ok(any(e.get("kind") == "roll" and e.get("text") and "total" in e for e in events), "rolls are events with dice and total")
    if first:
        t.ok(reconnected, "a player reconnected mid-fight and played on")
        ans = await dm.request("command", {"gameId": gid, "text": "/hp p2 -1"})  # seat 2: tokens[1]
        t.eq(ans["payload"].get("event", {}).get("kind"), "gm_edit", f"a DM edit is a game event: {ans}")
    if ext:
        done.set()
        played = [(p["seat"], reply and reply["type"]) for p, reply in await ext_task]
        await ext_conn.close()
        t.ok(any(seat == 5 and kind == "agent_move_ack" for seat, kind in played),
             f"the external agent played the monsters of seat 5: {played[:3]}")
    ans = await dm.request("command", {"gameId": gid, "text": "/endsession"})
    await dm.expect("game_over", timeout=10)
    for c in clients:
        await c.close()
    return gid, hero


srv = Server("--log-level", "warn", "--seat-hold", "120", "--admins", "root_admin").start()
try:
    tokens = [guest(srv) for _ in range(3)]
    st, _, adm = http("POST", srv.url + "/api/auth/register",
                      {"username": "root_admin", "password": "admin pass 1"})
    st, _, llm = http("POST", srv.url + "/api/admin/agents", {"name": "llm-monster"},
                      headers={"Authorization": "Bearer " + adm["token"]})
    t.eq(st, 201, "an operator issues the external monster's agent token")
    async def refusals():
        c = await Client.connect(srv)
        for agents, code, why in (
                ({"1": "dungeon_brute"}, "BAD_MESSAGE", "seat 1 is the creator's"),
                ({"x": "dungeon_brute"}, "BAD_MESSAGE", "a seat that is not a number"),
                ({"4": 5}, "BAD_MESSAGE", "a name that is not a string"),
                ({"9": "dungeon_brute"}, "BAD_MESSAGE", "a seat the room does not have"),
                ({"4": "nobody"}, "NOT_FOUND", "an agent nobody serves")):
            ans = await c.request("create_game", {"game": "dungeon", "config": {"seats": 5},
                                                  "agents": agents})
            t.eq(ans["payload"].get("code"), code, f"create_game agents {agents}: {why}")
        await c.close()
    run(refusals())
    gid1, hero = run(session(srv, tokens, True, {"4": "dungeon_brute", "5": "llm-monster"},
                             llm["token"]))
    auth = {"Authorization": "Bearer " + hero[0]}
    st, _, versions = http("GET", f"{srv.url}/api/players/{hero[1]}/documents/dungeon", headers=auth)
    t.eq(st, 200, "the player's sheet versions are listed")
    authors = [v["author"] for v in versions]
    t.ok("gm" in authors and "rules" in authors, f"by the rules and by the DM (gm): {authors}")
    n1 = len(versions)
    gid2, _ = run(session(srv, tokens, False, {"4": "dungeon_pack", "5": "dungeon_brute"}))
    st, _, versions2 = http("GET", f"{srv.url}/api/players/{hero[1]}/documents/dungeon", headers=auth)
    t.ok(len(versions2) > n1 and versions2[-1]["gameId"] == gid1 and versions2[0]["gameId"] == gid2,
         "the second session goes on from the sheet of the first, adding versions")
    ok, said = replay(srv, gid1)
    t.ok(ok, f"monkeytown replay of the first session: {said}")
finally:
    srv.stop()
t.done()
