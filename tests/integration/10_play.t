#!/usr/bin/python3
# Whole games through the protocol: tic-tac-toe and Connect Four against every agent to the end,
# quick_match with an agent and between two humans, spectators, chat, seq discipline, the
# catalog and the game HTTP API.
import asyncio, json, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Server, Tap, http, play_until_over, run

t = Tap()


def check_seq(msgs, game_id, name):
    """Every log event of the game takes the next seq; game_state carries the last seq."""
    last, ok = None, True
    for m in msgs:
        if m.get("gameId") != game_id:
            continue
        if last is None:  # a spectator may join late: its stream starts where it joined
            last = m["seq"] if m["type"] == "game_state" else m["seq"] - 1
        if m["type"] == "game_state":
            ok &= m["seq"] == last
        elif m["type"] in ("game_event", "player_joined", "player_left", "chat_message", "game_over"):
            ok &= m["seq"] == last + 1
            last = m["seq"]
    t.ok(ok, name, [(m["type"], m.get("seq")) for m in msgs if m.get("gameId") == game_id])


async def versus(srv, game, agent):
    c = await Client.connect(srv)
    created = await c.request("create_game", {"game": game, "vsAgent": agent}, id_="c1")
    t.eq(created["type"], "game_created", f"{game} vs {agent}: game_created answers create_game")
    gid = created["payload"]["gameId"]
    t.ok(isinstance(gid, str), "gameId is a string")
    over, seen = await play_until_over(c, gid)
    seen = c.seen
    states = [m for m in seen if m["type"] == "game_state" and m.get("gameId") == gid]
    t.ok(any(s.get("re") == "c1" for s in states), f"{game} vs {agent}: first game_state carries re")
    t.eq(states[-1]["payload"]["status"], "completed", f"{game} vs {agent}: final state is completed")
    t.ok(seen.index(states[-1]) < seen.index(over), "completed game_state comes before game_over")
    result = over["payload"]["result"]
    t.ok(result.get("reason") in ("win", "draw"), f"{game} vs {agent}: ended by {result}")
    reasoning = [m for m in seen if m["type"] == "game_event" and
                 m["payload"]["event"].get("kind") == "agent_reasoning"]
    t.ok(len(reasoning) > 0 and all(isinstance(r["payload"]["event"]["text"], str) for r in reasoning),
         f"{game} vs {agent}: the agent explained its moves ({len(reasoning)} reasons)")
    check_seq(seen, gid, f"{game} vs {agent}: seq rises by exactly one per event")
    agent_state = states[-1]["payload"]["players"][1]
    t.eq(agent_state["kind"], "agent", "seat 2 is the agent")
    if game == "tictactoe" and agent == "minimax":
        t.ok(result.get("winner") != 1, "nobody beats minimax at tic-tac-toe")
    st, _, summary = http("GET", f"{srv.url}/api/games/{gid}")
    t.eq((st, summary["status"]), (200, "completed"), "GET /api/games/:id shows the result")
    st, _, log = http("GET", f"{srv.url}/api/games/{gid}/events")
    t.eq(st, 200, "the log of a finished game is public")
    t.ok(log["seed"] is not None and log["version"] == summary["version"], "log has seed and version")
    inputs = [e for e in log["events"] if e["type"] == "input"]
    t.ok(len(inputs) >= 3 and all("seat" in e["payload"] and "t" in e for e in inputs),
         "log records every input with seat and logical time")
    await c.close()


async def humans(srv):
    a, b = await Client.connect(srv), await Client.connect(srv)
    watcher = await Client.connect(srv)
    await a.send("quick_match", {"game": "connect4", "agent": False}, id_="qa")
    await asyncio.sleep(0.2)
    await b.send("quick_match", {"game": "connect4", "agent": False}, id_="qb")
    sa = await a.expect("game_state", where=lambda m: m.get("re") == "qa")
    sb = await b.expect("game_state", where=lambda m: m.get("re") == "qb")
    gid = sa["gameId"]
    t.eq(sb["gameId"], gid, "two humans quick-matched into one room")
    t.eq(sorted([sa["payload"]["you"], sb["payload"]["you"]]), [1, 2], "they hold seats 1 and 2")

    w = await watcher.request("join_game", {"gameId": gid, "as": "spectator"}, id_="w")
    t.eq(w["type"], "game_state", "spectator gets game_state")
    t.ok("you" not in w["payload"] and "legal" not in w["payload"], "spectator has no seat, no legal")
    err = await watcher.request("player_input", {"gameId": gid, "action": {"column": 1}})
    t.eq(err["payload"]["code"], "NOT_IN_GAME", "a spectator cannot play")

    chat = await a.request("chat_message", {"gameId": gid, "text": "good luck"}, id_="chat")
    t.eq(chat["type"], "chat_message", "chat answered by its broadcast")
    got = await b.expect("chat_message")
    t.eq(got["payload"]["text"], "good luck", "opponent receives chat")
    got = await watcher.expect("chat_message")
    t.eq(got["payload"]["from"]["playerId"], a.welcome["payload"]["playerId"], "spectator sees who chatted")

    first = a if sa["payload"]["you"] == 1 else b
    second = b if first is a else a
    err = await second.request("player_input", {"gameId": gid, "action": {"column": 4}})
    t.eq(err["payload"]["code"], "NOT_YOUR_TURN", "moving out of turn -> NOT_YOUR_TURN")
    err = await first.request("player_input", {"gameId": gid, "action": {"column": 9}})
    t.eq(err["payload"]["code"], "ILLEGAL_MOVE", "column 9 -> ILLEGAL_MOVE")
    t.ok(len(err["payload"]["message"]) > 0, "ILLEGAL_MOVE says why: " + err["payload"]["message"])
    # Seat 1 stacks column 1, seat 2 column 2: seat 1 wins vertically on its 4th disc.
    for i in range(4):
        await first.send("player_input", {"gameId": gid, "action": {"column": 1}})
        if i < 3:
            await second.expect("game_state", where=lambda m: m["payload"].get("toMove") == m["payload"].get("you"))
            await second.send("player_input", {"gameId": gid, "action": {"column": 2}})
            await first.expect("game_state", where=lambda m: m["payload"].get("toMove") == m["payload"].get("you"))
    over = await watcher.expect("game_over")
    t.eq(over["payload"]["result"].get("winner"), 1, "four in a column wins; the spectator sees it")
    check_seq(watcher.seen, gid, "spectator's stream has contiguous seq")
    err = await first.request("player_input", {"gameId": gid, "action": {"column": 3}})
    t.eq(err["payload"]["code"], "NOT_YOUR_TURN", "no moves after the end")
    for c in (a, b, watcher):
        await c.close()


async def errors(srv):
    c = await Client.connect(srv)
    e = await c.request("join_game", {"gameId": "nope"})
    t.eq(e["payload"]["code"], "NOT_FOUND", "join unknown game -> NOT_FOUND")
    e = await c.request("create_game", {"game": "chess"})
    t.eq(e["payload"]["code"], "NOT_FOUND", "unknown game -> NOT_FOUND")
    e = await c.request("create_game", {"game": 5})
    t.eq(e["payload"]["code"], "BAD_MESSAGE", "game not a string -> BAD_MESSAGE")
    e = await c.request("player_input", {"gameId": "nope", "action": {"cell": 1}})
    t.eq(e["payload"]["code"], "NOT_FOUND", "input to unknown game -> NOT_FOUND")
    e = await c.request("player_input", {"gameId": "nope"})
    t.eq(e["payload"]["code"], "BAD_MESSAGE", "input without action -> BAD_MESSAGE (fields before game)")
    created = await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"})
    gid = created["payload"]["gameId"]
    other = await Client.connect(srv)
    e = await other.request("join_game", {"gameId": gid})
    t.eq(e["payload"]["code"], "GAME_FULL", "a full room -> GAME_FULL")
    e = await other.request("player_input", {"gameId": gid, "action": {"cell": 1}})
    t.eq(e["payload"]["code"], "NOT_IN_GAME", "not seated -> NOT_IN_GAME")
    e = await other.request("chat_message", {"gameId": gid, "text": "x" * 501})
    t.eq(e["payload"]["code"], "BAD_MESSAGE", "chat over 500 characters -> BAD_MESSAGE")
    e = await other.request("subscribe", {"topic": "weather"})
    t.eq(e["payload"]["code"], "BAD_MESSAGE", "unknown topic -> BAD_MESSAGE")
    await c.close()
    await other.close()


async def rate_limits(srv):
    c = await Client.connect(srv)
    created = await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"})
    gid = created["payload"]["gameId"]
    codes = []
    for i in range(5):
        e = await c.request("player_input", {"gameId": gid, "action": {"cell": 99}})
        codes.append(e["payload"]["code"])
    t.eq(codes[:3], ["ILLEGAL_MOVE"] * 3, "inputs within the rate are judged by the game")
    t.eq(codes[3:], ["RATE_LIMIT_EXCEEDED"] * 2, "the 4th input in a minute -> RATE_LIMIT_EXCEEDED")
    codes = []
    for i in range(3):
        e = await c.request("chat_message", {"gameId": gid, "text": f"hi {i}"})
        codes.append(e["type"] if e["type"] != "error" else e["payload"]["code"])
    t.eq(codes, ["chat_message", "chat_message", "RATE_LIMIT_EXCEEDED"], "chat rate limit")
    second = await c.request("create_game", {"game": "tictactoe"})
    third = await c.request("create_game", {"game": "tictactoe"})
    t.eq((second["type"], third["payload"].get("code")), ("game_created", "RATE_LIMIT_EXCEEDED"),
         "opening rooms is rate-limited per connection")
    await c.close()


async def quick_agent_and_lobby(srv):
    lobby = await Client.connect(srv)
    sub = await lobby.request("subscribe", {"topic": "lobby"})
    t.eq(sub["type"], "subscribed", "subscribe lobby -> subscribed")
    snap = await lobby.expect("lobby")
    t.ok(isinstance(snap["payload"]["rooms"], list), "lobby snapshot lists rooms")
    c = await Client.connect(srv)
    await c.send("quick_match", {"game": "tictactoe", "waitMs": 300}, id_="q")
    st = await c.expect("game_state", timeout=10, where=lambda m: m.get("re") == "q")
    kinds = [p["kind"] for p in st["payload"]["players"]]
    t.eq(sorted(kinds), ["agent", "human"], "after waitMs an agent takes the other seat")
    upd = await lobby.expect("lobby_update", where=lambda m: m["payload"]["room"]["gameId"] == st["gameId"])
    t.ok(upd["payload"]["event"] in ("opened", "changed"), "lobby sees the room open")
    over, _ = await play_until_over(c, st["gameId"])
    t.ok(True, "quick match played to the end")
    await c.close()
    await lobby.close()


async def http_api(srv):
    st, _, games = http("GET", srv.url + "/api/games")
    names = {g["name"]: g for g in games}
    t.ok({"tictactoe", "connect4"} <= set(names), "catalog lists tictactoe and connect4")
    g = names["tictactoe"]
    t.eq((g["players"], g["tickRate"]), ({"min": 2, "max": 2}, 0), "catalog entry shape")
    t.ok(isinstance(g["version"], str) and len(g["version"]) == 16, "version is a content hash")
    st, _, agents = http("GET", srv.url + "/api/agents")
    byname = {a["name"]: a for a in agents}
    t.ok({"random", "heuristic", "minimax"} <= set(byname), "three agents")
    t.ok(all(byname[n]["personality"] and byname[n]["title"] for n in byname), "each has a personality")
    c = await Client.connect(srv)
    token = c.welcome["payload"]["token"]
    st, _, body = http("POST", srv.url + "/api/games/create", {"game": "tictactoe"})
    t.eq(st, 401, "create without a token -> 401")
    st, _, body = http("POST", srv.url + "/api/games/create", {"game": "tictactoe"},
                       headers={"Authorization": "Bearer " + token})
    t.eq(st, 200, "create with a token")
    gid = body["gameId"]
    other = await Client.connect(srv)
    st, _, body = http("POST", f"{srv.url}/api/games/{gid}/join",
                       headers={"Authorization": "Bearer " + other.welcome["payload"]["token"]})
    t.eq((st, body), (200, {"success": True}), "join over HTTP")
    st, _, body = http("POST", f"{srv.url}/api/games/{gid}/join",
                       headers={"Authorization": "Bearer " + (await Client.connect(srv)).welcome["payload"]["token"]})
    t.eq(st, 409, "third player over HTTP -> 409")
    s1 = await c.request("join_game", {"gameId": gid})
    s2 = await other.request("join_game", {"gameId": gid})
    t.eq((s1["payload"]["you"], s2["payload"]["you"]), (1, 2), "HTTP seats are taken up by join_game")
    st, _, body = http("GET", f"{srv.url}/api/games/{gid}/events")
    t.eq(st, 403, "log of a running game is not public")
    st, _, body = http("GET", f"{srv.url}/api/games/nope")
    t.eq(st, 404, "unknown game -> 404")
    await c.close()
    await other.close()


async def main(srv):
    for game in ("tictactoe", "connect4"):
        for agent in ("random", "heuristic", "minimax"):
            await versus(srv, game, agent)
    await humans(srv)
    await errors(srv)
    await quick_agent_and_lobby(srv)
    await http_api(srv)


with Server() as srv:
    run(main(srv))


async def agent_config(srv):
    """An agent's ctx.config is the room's config, as the game's is."""
    c = await Client.connect(srv)
    created = await c.request("create_game", {"game": "tictactoe", "vsAgent": "mirror",
                                              "config": {"seats": 2, "level": "hard"}}, id_="m1")
    gid = created["payload"]["gameId"]
    await play_until_over(c, gid)
    texts = [m["payload"]["event"]["text"] for m in c.seen if m["type"] == "game_event"
             and m["payload"]["event"].get("kind") == "agent_reasoning"]
    t.ok(texts and all('"level":"hard"' in x and '"seats":2' in x and x.endswith("model true")
                       for x in texts), f"the agent saw the room's config: {texts[:1]}")
    await c.close()


FIXTURE_AGENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "agents")
with Server(agents=FIXTURE_AGENTS) as srv:
    run(agent_config(srv))
with Server("--input-rate", "3", "--chat-rate", "2", "--rooms-rate", "2") as srv:
    run(rate_limits(srv))
t.done()
