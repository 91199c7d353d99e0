#!/usr/bin/python3
# External agents (docs/protocol.md, External agents): an admin issues an agent token with
# POST /api/admin/agents; a socket holding it serves the seats of that agent: it gets agent_turn
# {gameId, seat, view, legal, deadline} and answers agent_move {gameId, action, reasoning?}.
# Checked against the running server with a scripted fake agent over a real WebSocket and with
# examples/agent_bridge.py as a subprocess: tic-tac-toe played to the end against a human, the
# reasoning as agent_reasoning events, an illegal answer and (on a second server with a short
# deadline) a late answer and an agent gone offline replaced by random legal moves, the admin
# route refused to others, an agent token refused as a human and a human's agent_move refused,
# and `monkeytown replay` of the game finding it identical (inputs of source "external").
# Nothing here waits on speed: the late answer is sent only after the server has replaced it.
import asyncio, os, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import ROOT, Client, Server, Tap, fake_agent, http, play_until_over, replay, run, wait_for

t = Tap()


def admin_token(srv):
    st, _, adm = http("POST", srv.url + "/api/auth/register",
                      {"username": "root_admin", "password": "admin pass 1"})
    return adm["token"]


def issue(srv, token, name):
    return http("POST", srv.url + "/api/admin/agents", {"name": name},
                headers={"Authorization": "Bearer " + token} if token else {})


def first_legal(p):
    return p["legal"][0], f"cell {p['legal'][0]['cell']} is the first free one"


async def checks(srv, adm):
    st, _, body = issue(srv, None, "fake-llm")
    t.eq(st, 401, "the admin route without a token: 401")
    st, _, bob = http("POST", srv.url + "/api/auth/register", {"username": "bob_player", "password": "bob pass 12"})
    st, _, body = issue(srv, bob["token"], "fake-llm")
    t.eq(st, 403, "the admin route with a player's token: 403")
    for bad in ("", "has space", "x" * 33, "ünï"):
        st, _, body = issue(srv, adm, bad)
        t.eq(st, 400, f"an agent name {bad!r} is refused")
    st, _, body = issue(srv, adm, "random")
    t.eq(st, 409, "a Lua agent's name is refused")
    st, _, fake = issue(srv, adm, "fake-llm")
    t.ok(st == 201 and fake["name"] == "fake-llm" and fake["token"], f"an admin gets a token: {st} {fake}")
    st, _, other = issue(srv, adm, "other-llm")

    agent = await Client.connect(srv, token=fake["token"])
    t.eq((agent.welcome["payload"]["role"], agent.welcome["payload"]["name"],
          agent.welcome["payload"]["playerId"]), ("agent", "fake-llm", fake["playerId"]),
         "the agent's socket is welcomed as the agent")
    ans = await agent.request("create_game", {"game": "tictactoe"})
    t.eq(ans["payload"].get("code"), "FORBIDDEN", "an agent connection may not create a game")
    ans = await agent.request("quick_match", {"game": "tictactoe"})
    t.eq(ans["payload"].get("code"), "FORBIDDEN", "nor quick_match")
    st, _, body = http("POST", srv.url + "/api/games/create", {"game": "tictactoe"},
                       headers={"Authorization": "Bearer " + fake["token"]})
    t.eq(st, 403, "nor create a game over HTTP")

    human = await Client.connect(srv)
    ans = await human.request("create_game", {"game": "tictactoe", "vsAgent": "nobody-online"})
    t.eq(ans["payload"].get("code"), "NOT_FOUND", "vsAgent naming no Lua agent and no connected agent: NOT_FOUND")
    ans = await human.request("create_game", {"game": "arena", "vsAgent": "fake-llm"})
    t.eq(ans["payload"].get("code"), "NOT_FOUND", "an external agent does not play a real-time game")

    gid = (await human.request("create_game", {"game": "tictactoe", "vsAgent": "fake-llm"}))["payload"]["gameId"]
    ans = await human.request("agent_move", {"gameId": gid, "action": {"cell": 1}})
    t.eq(ans["payload"].get("code"), "FORBIDDEN", "a human's socket may not send agent_move")
    ans = await agent.request("player_input", {"gameId": gid, "action": {"cell": 1}})
    t.eq(ans["payload"].get("code"), "FORBIDDEN", "an agent's socket may not send player_input")
    ans = await agent.request("agent_move", {"gameId": gid, "action": {"cell": 1}})
    t.eq(ans["payload"].get("code"), "NOT_YOUR_TURN", "an agent_move before its turn is asked: NOT_YOUR_TURN")
    ans = await agent.request("agent_move", {"gameId": gid})
    t.eq(ans["payload"].get("code"), "BAD_MESSAGE", "agent_move without an action: BAD_MESSAGE")
    ans = await agent.request("agent_move", {"gameId": gid, "action": {"cell": 1}, "reasoning": 5})
    t.eq(ans["payload"].get("code"), "BAD_MESSAGE", "a reasoning that is not a string: BAD_MESSAGE")
    ans = await agent.request("agent_move", {"gameId": "0b0e4b8e-9a34-4b6e-8d3b-2f1c1e5a9d11", "action": {"cell": 1}})
    t.eq(ans["payload"].get("code"), "NOT_FOUND", "an unknown game: NOT_FOUND")
    stranger = await Client.connect(srv, token=other["token"])
    ans = await stranger.request("agent_move", {"gameId": gid, "action": {"cell": 1}})
    t.eq(ans["payload"].get("code"), "NOT_IN_GAME", "another agent's agent_move: NOT_IN_GAME")

    # The game: the human (X) plays the first legal cell; the agent first answers an illegal
    # cell (a random legal move replaces it), then the first legal cell with a sentence, with
    # one long reasoning cut to 500 bytes.
    long_why = "é" * 400
    answers = [lambda p: ({"cell": 99}, "an illegal try"), first_legal,
               lambda p: (p["legal"][0], long_why), first_legal]
    done = asyncio.Event()
    agent_task = asyncio.ensure_future(fake_agent(agent, answers, done))
    await human.send("player_input", {"gameId": gid, "action": {"cell": 1}})  # its state was read above
    over, seen = await play_until_over(human, gid)
    done.set()
    turns = await agent_task
    t.ok(over["payload"]["result"].get("reason") in ("win", "draw"), f"the game ends: {over['payload']['result']}")
    t.ok(len(turns) >= 3, f"the agent was asked {len(turns)} turns")
    p0, r0 = turns[0]
    t.eq((p0["gameId"], p0["seat"], type(p0["view"]).__name__), (gid, 2, "dict"), "agent_turn names the game and seat, with the view")
    t.ok(p0["legal"] and all("cell" in a for a in p0["legal"]), "and the legal actions")
    t.ok(isinstance(p0["deadline"], int) and p0["deadline"] > 10 ** 12, f"and a wall-clock deadline: {p0['deadline']}")
    t.eq(r0["payload"].get("code"), "ILLEGAL_MOVE", "an illegal answer is refused to the agent")
    t.ok("random legal move" in r0["payload"].get("message", ""), f"saying a random move replaced it: {r0['payload']}")
    t.eq((turns[1][1]["type"], turns[1][1]["payload"]), ("agent_move_ack", {"gameId": gid, "seat": 2}),
         "a legal answer is acknowledged")
    t.ok(turns[1][0]["legal"] != p0["legal"], "each turn carries the legal actions of that turn")
    ans = await agent.request("agent_move", {"gameId": gid, "action": {"cell": 1}})
    t.eq(ans["payload"].get("code"), "NOT_YOUR_TURN", "an answer to no asked turn (the game over): NOT_YOUR_TURN")

    events = [m["payload"]["event"] for m in seen if m["type"] == "game_event"]
    reasons = [e for e in events if e["kind"] == "agent_reasoning"]
    t.eq(reasons[0], {"kind": "agent_reasoning", "seat": 2, "text": "an illegal try"},
         "the reasoning of the illegal answer is shown as agent_reasoning")
    t.eq(reasons[1]["text"], first_legal(turns[1][0])[1], "each answer's reasoning becomes an agent_reasoning event")
    t.eq(reasons[2]["text"], "é" * 250, "a reasoning over 500 bytes is cut to 500 bytes, whole characters")
    moves2 = [e for e in events if e["kind"] == "move" and e["seat"] == 2]
    t.eq(len(moves2), len(turns), "every turn asked was played by the agent's seat")
    t.eq(moves2[1]["cell"], turns[1][0]["legal"][0]["cell"], "the agent's legal answer is the move played")

    st, _, log = http("GET", f"{srv.url}/api/games/{gid}/events")
    sources = [(e["payload"]["seat"], e["payload"]["source"]) for e in log["events"] if e["type"] == "input"]
    t.eq(sources[:3], [(1, "player"), (2, "agent"), (1, "player")],
         "the illegal answer's replacement is logged as the agent's fallback")
    t.eq(sources[3], (2, "external"), "a legal answer is logged with source external")
    st, _, summary = http("GET", f"{srv.url}/api/games/{gid}")
    t.ok(any(p.get("kind") == "agent" and p.get("name") == "fake-llm" for p in summary.get("players", [])),
         f"the summary shows the agent's seat: {summary.get('players')}")

    # The example bridge, as a subprocess.
    st, _, bridge_tok = issue(srv, adm, "bridge-llm")
    proc = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "examples", "agent_bridge.py"),
                             "--url", srv.ws_url, "--token", bridge_tok["token"]],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = await asyncio.get_event_loop().run_in_executor(None, proc.stdout.readline)
        t.eq(line.strip(), "connected as agent bridge-llm", "the bridge connects with its token")
        gid2 = (await human.request("create_game", {"game": "tictactoe", "vsAgent": "bridge-llm"}))["payload"]["gameId"]
        over2, seen2 = await play_until_over(human, gid2)
        events2 = [m["payload"]["event"] for m in seen2 if m["type"] == "game_event"]
        why2 = [e["text"] for e in events2 if e["kind"] == "agent_reasoning"]
        moves2 = [e for e in events2 if e["kind"] == "move" and e["seat"] == 2]
        t.ok(over2["payload"]["result"].get("reason") in ("win", "draw"), "a game against the bridge ends")
        t.ok(why2 and len(why2) == len(moves2) and all(w.startswith("I take ") for w in why2),
             f"every move of the bridge comes with its model's sentence: {why2}")
        st, _, log2 = http("GET", f"{srv.url}/api/games/{gid2}/events")
        t.ok(all(e["payload"]["source"] == "external" for e in log2["events"]
                 if e["type"] == "input" and e["payload"]["seat"] == 2), "and every one of its moves is its own")
    finally:
        proc.terminate()
        proc.wait(10)
    for c in (agent, human, stranger):
        await c.close()
    return gid


async def late(srv, adm):
    st, _, fake = issue(srv, adm, "slow-llm")
    agent = await Client.connect(srv, token=fake["token"])
    human = await Client.connect(srv)
    gid = (await human.request("create_game", {"game": "tictactoe", "vsAgent": "slow-llm"}))["payload"]["gameId"]
    await human.send("player_input", {"gameId": gid, "action": {"cell": 5}})
    turn = await agent.expect("agent_turn", timeout=10)
    # Stay silent until the server has played for the agent (the deadline is 300 ms), then answer.
    timeout = await human.expect("game_event", timeout=30, where=lambda m: m["payload"]["event"]["kind"] == "timeout")
    t.eq(timeout["payload"]["event"], {"kind": "timeout", "seat": 2}, "a late agent's turn ends with a timeout event")
    move = await human.expect("game_event", timeout=10, where=lambda m: m["payload"]["event"]["kind"] == "move")
    t.eq(move["payload"]["event"]["seat"], 2, "and a random legal move for its seat")
    t.ok({"cell": move["payload"]["event"]["cell"]} in turn["payload"]["legal"], "one of the legal moves it was offered")
    ans = await agent.request("agent_move", {"gameId": gid, "action": turn["payload"]["legal"][0], "reasoning": "too late"})
    t.eq(ans["payload"].get("code"), "NOT_YOUR_TURN", "the late answer is refused: NOT_YOUR_TURN")

    # The agent goes offline: its next turn is played at random at once, not after a deadline.
    await agent.close()
    rooms = lambda: http("GET", srv.url + "/api/admin/rooms", headers={"Authorization": "Bearer " + adm})[2]
    t.ok(wait_for(lambda: rooms()["connections"] == 1), "the agent's socket is gone")
    state = await human.expect("game_state", timeout=10, where=lambda m: m["payload"].get("toMove") == 1)
    await human.send("player_input", {"gameId": gid, "action": state["payload"]["legal"][0]})
    move = await human.expect("game_event", timeout=10, where=lambda m: m["payload"]["event"]["kind"] == "move" and m["payload"]["event"]["seat"] == 2)
    t.ok(move, "an agent with no connection open gets a random legal move")
    st, _, metrics = http("GET", srv.url + "/metrics")
    t.ok('external_agent_fallbacks_total{reason="late"} 1' in metrics, "the late fallback is counted")
    t.ok('external_agent_fallbacks_total{reason="offline"} 1' in metrics, "the offline fallback is counted")
    await human.close()


srv = Server("--log-level", "warn", "--admins", "root_admin").start()
try:
    gid = run(checks(srv, admin_token(srv)))
    st, _, metrics = http("GET", srv.url + "/metrics")
    t.ok('external_agent_fallbacks_total{reason="illegal"} 1' in metrics, "the illegal fallback is counted")
    ok, said = replay(srv, gid)
    t.ok(ok, f"monkeytown replay: {said}")
finally:
    srv.stop()

srv = Server("--log-level", "warn", "--admins", "root_admin", "--agent-turn-ms", "300").start()
try:
    run(late(srv, admin_token(srv)))
finally:
    srv.stop()
t.done()
