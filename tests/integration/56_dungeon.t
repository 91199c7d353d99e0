#!/usr/bin/python3
# Distributed Dungeon (games/dungeon) over WebSocket: a DM and two players meet by quick_match,
# the two monster seats are filled by the Lua agent dungeon_brute; the DM spawns goblins and
# starts a fight through text commands; the players attack on their turns, the agent plays the
# goblins with its reasoning shown; a player reconnects mid-fight (resume); the fight ends; a
# DM edit is saved with author gm; the DM ends the session; the sheets carry over to a second
# session, with their versions listed; `monkeytown replay` of the first session is identical.
import asyncio, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Server, Tap, http, replay, run

t = Tap()


def guest(srv):
    st, _, g = http("POST", srv.url + "/api/auth/guest")
    return g["token"], g.get("playerId") or g.get("player", {}).get("id")


async def meet(srv, tokens):
    """DM first, then the players; the last one's zero wait makes the room with agents."""
    clients = [await Client.connect(srv, token=tok) for tok, _ in tokens]
    for i, c in enumerate(clients):
        await c.send("quick_match", {"game": "dungeon", "agent": "dungeon_brute",
                                      "waitMs": 0 if i == len(clients) - 1 else 60000})
        await asyncio.sleep(0.2 if i < len(clients) - 1 else 0)  # the last one's match takes all
    states = [await c.expect("game_state", timeout=20, where=lambda m: m["payload"].get("status") == "active") for c in clients]
    seats = [s["payload"]["you"] for s in states]
    # Seats follow arrival order; whoever got seat 1 is the DM (the test does not rely on timing).
    by_seat = sorted(range(len(clients)), key=lambda i: seats[i])
    return [clients[i] for i in by_seat], states[0]["gameId"], sorted(seats), [tokens[i] for i in by_seat]


async def play_fight(clients, gid, reconnect=None):
    """Each hero attacks with its first legal action on its turns until the fight ends."""
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
                if reconnect and not reconnected and i == 1:
                    await c.close()
                    clients[1] = c = await Client.connect(reconnect[0], token=reconnect[1])
                    ans = await c.request("resume", {"gameId": gid, "lastSeq": m["seq"]})
                    st = ans if ans["type"] == "game_state" else await c.expect("game_state", timeout=10)
                    p = st["payload"]
                    reconnected = True
                    if p.get("toMove") != p.get("you") or not p.get("legal"):
                        continue
                await c.send("player_input", {"gameId": gid, "action": p["legal"][0]})


async def session(srv, tokens, first):
    clients, gid, seats, tokens = await meet(srv, tokens)
    t.eq(seats, [1, 2, 3], "three humans hold seats 1 (the DM), 2 and 3; agents the rest")
    dm = clients[0]
    ans = await dm.request("command", {"gameId": gid, "text": "/spawn goblin 2"})
    t.eq(ans["type"], "game_event", "the DM spawns two goblins")
    ans = await dm.request("command", {"gameId": gid, "text": "/combat start"})
    t.eq(ans["type"], "game_event", "and starts the fight")
    events, reconnected = await asyncio.wait_for(play_fight(clients, gid, (srv, tokens[1][0]) if first else None), 120)
    hero = tokens[1]
    kinds = [e.get("kind") for e in events]
    t.ok("combat_start" in kinds and "combat_end" in kinds, "the fight runs from initiative to its end")
    t.ok(any(k == "agent_reasoning" for k in kinds), "the agent's reasoning is in the log")
    t.ok(any(e.get("kind") == "roll" and e.get("text") and "total" in e for e in events), "rolls are events with dice and total")
    if first:
        t.ok(reconnected, "a player reconnected mid-fight and played on")
        ans = await dm.request("command", {"gameId": gid, "text": "/hp p2 -1"})  # seat 2: tokens[1]
        t.eq(ans["payload"].get("event", {}).get("kind"), "gm_edit", "a DM edit is a game event")
    ans = await dm.request("command", {"gameId": gid, "text": "/endsession"})
    await dm.expect("game_over", timeout=10)
    for c in clients:
        await c.close()
    return gid, hero


srv = Server("--log-level", "warn", "--seat-hold", "120").start()
try:
    tokens = [guest(srv) for _ in range(3)]
    gid1, hero = run(session(srv, tokens, True))
    auth = {"Authorization": "Bearer " + hero[0]}
    st, _, versions = http("GET", f"{srv.url}/api/players/{hero[1]}/documents/dungeon", headers=auth)
    t.eq(st, 200, "the player's sheet versions are listed")
    authors = [v["author"] for v in versions]
    t.ok("gm" in authors and "rules" in authors, f"by the rules and by the DM (gm): {authors}")
    n1 = len(versions)
    gid2, _ = run(session(srv, tokens, False))
    st, _, versions2 = http("GET", f"{srv.url}/api/players/{hero[1]}/documents/dungeon", headers=auth)
    t.ok(len(versions2) > n1 and versions2[-1]["gameId"] == gid1 and versions2[0]["gameId"] == gid2,
         "the second session goes on from the sheet of the first, adding versions")
    ok, said = replay(srv, gid1)
    t.ok(ok, f"monkeytown replay of the first session: {said}")
finally:
    srv.stop()
t.done()
