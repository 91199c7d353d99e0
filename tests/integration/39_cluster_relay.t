#!/usr/bin/python3
# The cluster relay (--cluster) with real redis-server and PostgreSQL on loopback: two humans
# on different instances play tic-tac-toe to the end while a spectator watches from a third;
# every socket gets the same seq numbers and its own seat's view; chat crosses instances, one
# publish per event per instance with recipients; relayed inputs to an unknown room and to
# another's seat get NOT_FOUND and NOT_IN_GAME; a socket closing on one instance leaves the seat
# on the owner, and a relayed leave_game forfeits; quick match pairs two humans on different
# instances before any agent; Redis away: the owner's own sockets keep playing, cross-instance
# requests answer SERVER_BUSY at once, and after Redis returns a client catches up with resume.
# Every wait polls with a generous deadline.
import asyncio, os, signal, sys, time
import websockets
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Tap, http, run, wait_for
from cluster import Cluster, available, join, listed, metric, ready

if not available():
    print("1..0 # SKIP needs root and PostgreSQL 15 (apt-get install postgresql)")
    sys.exit(0)

t = Tap()
SECRET = "cluster-test-secret-0123456789abcdef0123456789"
cl = Cluster(SECRET)
redis, servers, instance = cl.redis, cl.servers, cl.instance


async def play(c, gid, seen):
    """Plays c's turns (the first legal move) until game_over; returns it. Starts from the last
    state already read (expect() passed over it)."""
    states = [m for m in c.seen if m.get("gameId") == gid and m["type"] == "game_state"]
    p = states[-1]["payload"] if states else {}
    if p.get("status") == "active" and p.get("toMove") == p.get("you"):
        await c.send("player_input", {"gameId": gid, "action": p["legal"][0]})
    while True:
        m = await c.recv(20)
        if m.get("gameId") != gid:
            continue
        seen.append(m)
        if m["type"] == "game_over":
            return m
        p = m.get("payload", {})
        if m["type"] == "game_state" and p.get("status") == "active" and p.get("toMove") == p.get("you"):
            await c.send("player_input", {"gameId": gid, "action": p["legal"][0]})


async def watch(c, gid, seen):
    while True:
        m = await c.recv(20)
        if m.get("gameId") == gid:
            seen.append(m)
            if m["type"] == "game_over":
                return m


async def across(a, b, g):
    p1, p2, sp = await Client.connect(a), await Client.connect(b), await Client.connect(g)
    made = await p1.request("create_game", {"game": "tictactoe"})
    gid = made["payload"]["gameId"]
    await p1.expect("game_state", where=lambda m: m.get("gameId") == gid)
    joined = await join(p2, gid)  # the claim is asynchronous
    t.eq(joined["type"], "game_state", "a socket on beta joins alpha's room")
    t.eq(joined["payload"]["you"], 2, "as seat 2, in its own view")
    w = await sp.request("join_game", {"gameId": gid, "as": "spectator"})
    t.eq(w["type"], "game_state", "a spectator on gamma watches it")
    chat = await p2.request("chat_message", {"gameId": gid, "text": "hello from beta"})
    got = await p1.expect("chat_message", where=lambda m: m.get("gameId") == gid)
    t.eq(got["payload"]["text"], "hello from beta", "chat from beta reaches alpha's socket")
    e = await p2.request("player_input", {"gameId": "00000000-0000-4000-8000-000000000000",
                                         "action": {"cell": 0}})
    t.eq(e["payload"].get("code"), "NOT_FOUND", "a relayed input for an unknown room: NOT_FOUND")
    e = await sp.request("player_input", {"gameId": gid, "action": {"cell": 0}})
    t.eq(e["payload"].get("code"), "NOT_IN_GAME", "a spectator's relayed input: NOT_IN_GAME")
    s1, s2, s3 = [], [], []
    o1, o2, o3 = await asyncio.gather(play(p1, gid, s1), play(p2, gid, s2), watch(sp, gid, s3))
    t.eq(o1["payload"]["result"], o2["payload"]["result"], "both players see the same result")
    t.eq(o3["payload"]["result"], o1["payload"]["result"], "and so does the spectator")
    seqs = lambda s: [m["seq"] for m in s if m["type"] in ("game_event", "game_over")]
    t.ok(seqs(s1) and seqs(s1)[-1] == seqs(s2)[-1] == seqs(s3)[-1],
         f"the same seq numbering everywhere (last {seqs(s1)[-1:]}, {seqs(s2)[-1:]}, {seqs(s3)[-1:]})")
    views2 = [m["payload"]["you"] for m in s2 if m["type"] == "game_state"]
    t.ok(views2 and set(views2) == {2}, "beta's socket only ever got seat 2's view")
    status = lambda: http("GET", f"{b.url}/api/games/{gid}")[2].get("status")
    t.eq(wait_for(lambda: status() == "completed" and "completed", timeout=30), "completed",
         "beta's HTTP API serves the finished game (alpha wrote it to PostgreSQL)")
    for c in (p1, p2, sp):
        await c.close()
    return gid


async def one_publish(a, b, g):
    """An event for many sockets elsewhere is published once per instance that has recipients:
    six spectators on beta and three on gamma in alpha's room, one chat line on alpha, two
    publishes (cluster_relay_messages_total{kind="frames_out"}), and every spectator gets it."""
    p1 = await Client.connect(a)
    gid = (await p1.request("create_game", {"game": "tictactoe"}))["payload"]["gameId"]
    watchers = [await Client.connect(s) for s in (b,) * 6 + (g,) * 3]
    for w in watchers:
        j = await join(w, gid, **{"as": "spectator"})  # the claim is asynchronous
        assert j["type"] == "game_state", j
    out = lambda: metric(a, 'cluster_relay_messages_total{kind="frames_out"}')
    quiet = lambda: (lambda n: (time.sleep(1), out() == n)[1])(out())  # nothing more going out
    t.ok(wait_for(quiet, timeout=30), "the joins' traffic is over")
    before = out()
    await p1.request("chat_message", {"gameId": gid, "text": "to everyone"})
    for w in watchers:
        await w.expect("chat_message", timeout=10, where=lambda m: m.get("gameId") == gid)
    t.eq(out() - before, 2, "one chat line to nine sockets on two instances: two publishes, not nine")
    for c in [p1] + watchers:
        await c.close()


async def lobby(a, b):
    p1 = await Client.connect(a)
    first = await p1.request("create_game", {"game": "tictactoe"})
    gid1 = first["payload"]["gameId"]
    sub = await Client.connect(b)
    snap = None
    for _ in range(50):  # alpha writes its lobby hash as the room opens: wait for it
        await sub.request("subscribe", {"topic": "lobby"})
        snap = await sub.expect("lobby")
        if gid1 in [r["gameId"] for r in snap["payload"]["rooms"]]:
            break
        await asyncio.sleep(0.1)
    t.ok(gid1 in [r["gameId"] for r in snap["payload"]["rooms"]],
         "subscribe lobby on beta: the snapshot lists alpha's room")
    second = await p1.request("create_game", {"game": "tictactoe"})
    gid2 = second["payload"]["gameId"]
    up = await sub.expect("lobby_update", timeout=10,
                          where=lambda m: m["payload"]["room"]["gameId"] == gid2)
    t.eq(up["payload"]["event"], "opened", "and alpha's next room reaches beta's subscriber as it opens")
    await p1.close()
    await sub.close()


async def quick_match(a, b, g):
    """Two humans asking for a quick match on different instances are paired (humans only, so no
    agent can take either seat), whichever instance is the game's home."""
    for x, y in ((a, b), (b, g), (g, a)):
        p, q = await Client.connect(x), await Client.connect(y)
        await p.send("quick_match", {"game": "tictactoe", "agent": False, "waitMs": 30000}, "qp")
        await asyncio.sleep(0.2)
        await q.send("quick_match", {"game": "tictactoe", "agent": False, "waitMs": 30000}, "qq")
        mp, mq = await p.expect_re("qp", timeout=20), await q.expect_re("qq", timeout=20)
        t.ok(mp["type"] == mq["type"] == "game_state" and mp["gameId"] == mq["gameId"] and
             {mp["payload"]["you"], mq["payload"]["you"]} == {1, 2},
             f"quick match: {x.args[x.args.index('--instance-id') + 1]} and "
             f"{y.args[y.args.index('--instance-id') + 1]} are paired in one room")
        await p.close()
        await q.close()


async def quick_match_before_agent(a, b):
    """With the agent fallback allowed (the default), two humans asking on different instances
    within the wait are paired with each other, not each with an agent."""
    p, q = await Client.connect(a), await Client.connect(b)
    await p.send("quick_match", {"game": "tictactoe", "waitMs": 20000}, "qp")
    await asyncio.sleep(0.2)
    await q.send("quick_match", {"game": "tictactoe", "waitMs": 20000}, "qq")
    mp, mq = await p.expect_re("qp", timeout=30), await q.expect_re("qq", timeout=30)
    kinds = sorted(pl.get("kind", "?") for pl in mp["payload"].get("players", []))
    t.ok(mp["type"] == mq["type"] == "game_state" and mp["gameId"] == mq["gameId"] and kinds == ["human", "human"],
         f"quick match with the agent fallback allowed: alpha's and beta's humans are paired first ({kinds})")
    await p.close()
    await q.close()


def throttled_across(a, b):
    """Failed logins spend the account's tokens on every instance: five on alpha, and the right
    password on beta is refused as well (429) until the minute passes."""
    st, _, _ = http("POST", a.url + "/api/auth/register", {"username": "relayed", "password": "correct horse 1"})
    t.eq(st, 201, "an account registered on alpha")
    before = metric(b, 'cluster_relay_messages_total{kind="throttle_in"}')
    codes = [http("POST", a.url + "/api/auth/login", {"username": "relayed", "password": "wrong"})[0]
             for _ in range(5)]
    t.eq(codes, [401] * 5, "five wrong passwords on alpha")
    # Each failure takes an account token and an address token: ten reach beta.
    t.ok(wait_for(lambda: metric(b, 'cluster_relay_messages_total{kind="throttle_in"}') - before >= 10),
         "beta has taken alpha's tokens")
    st, hdrs, body = http("POST", b.url + "/api/auth/login", {"username": "relayed", "password": "correct horse 1"})
    t.eq((st, body.get("error", {}).get("code")), (429, "RATE_LIMIT_EXCEEDED"),
         "the right password on beta is throttled too: the limit is the cluster's")


async def realtime(a, b):
    """A real-time room's inputs from another instance get the real-time rate (--input-rate, 30
    a minute, is for turn-based rooms): the socket's instance cannot know the room's kind."""
    p1, p2 = await Client.connect(a), await Client.connect(b)
    made = await p1.request("create_game", {"game": "arena", "config": {"seats": 2, "round_ms": 60000}})
    gid = made["payload"]["gameId"]
    joined = await join(p2, gid)  # the claim is asynchronous
    answers = []
    for i in range(40):
        m = await p2.request("player_input", {"gameId": gid, "action": {"action": "move", "x": 10 + i, "y": 10}})
        answers.append(m["type"] if m["type"] != "error" else m["payload"]["code"])
    t.eq(sorted(set(answers)), ["input_ack"], "40 relayed real-time inputs in a row are all taken")
    await p1.close()
    await p2.close()


async def leaving(a, b):
    p1, p2 = await Client.connect(a), await Client.connect(b)
    made = await p1.request("create_game", {"game": "tictactoe"})
    gid = made["payload"]["gameId"]
    joined = await join(p2, gid)  # the claim is asynchronous
    await p2.close()
    m = await p1.expect("game_state", timeout=15, where=lambda m: m.get("gameId") == gid and any(
        p.get("connected") is False for p in m["payload"].get("players", [])))
    t.eq([p["seat"] for p in m["payload"]["players"] if p.get("connected") is False], [2],
         "beta's socket closing reaches the owner: seat 2 is held as disconnected")
    await p1.close()


async def leave(a, b):
    """leave_game relayed: a spectator on beta is detached (left), a socket on beta that never
    joined cannot leave or play (NOT_IN_GAME), and the seated player on beta forfeits."""
    p1, p2, sp, other = [await Client.connect(s) for s in (a, b, b, b)]
    gid = (await p1.request("create_game", {"game": "tictactoe"}))["payload"]["gameId"]
    joined = await join(p2, gid)  # the claim is asynchronous
    t.eq(joined["type"], "game_state", "a socket on beta takes seat 2 of alpha's room")
    await sp.request("join_game", {"gameId": gid, "as": "spectator"})
    e = await other.request("player_input", {"gameId": gid, "action": {"cell": 0}})
    t.eq(e["payload"].get("code"), "NOT_IN_GAME", "a relayed input from a socket with no seat there: NOT_IN_GAME")
    e = await other.request("leave_game", {"gameId": gid})
    t.eq(e["payload"].get("code"), "NOT_IN_GAME", "a relayed leave_game from a socket not attached: NOT_IN_GAME")
    left = await sp.request("leave_game", {"gameId": gid})
    t.eq((left["type"], left["payload"].get("gameId")), ("left", gid), "a spectator on beta leaves: left")
    gone = await p2.request("leave_game", {"gameId": gid})
    t.eq((gone["type"], gone["payload"].get("seat")), ("player_left", 2), "the player on beta leaves: player_left")
    over = await p1.expect("game_over", timeout=15, where=lambda m: m.get("gameId") == gid)
    t.eq(over["payload"]["result"], {"winner": 1, "reason": "forfeit"},
         "and alpha's socket wins by forfeit, with player_left first")
    t.ok(any(m["type"] == "player_left" and m.get("gameId") == gid and m["seq"] < over["seq"] for m in p1.seen),
         "the owner logged player_left before game_over")
    for c in (p1, p2, sp, other):
        await c.close()


async def dead_owner(b, g):
    """A room whose owner died is taken over by a survivor (43_failover.t plays one through), so
    a join from beta finds it again, never a zombie entry; a new process under the dead one's
    id does not inherit it (the entry named the dead process's lease token, not the id)."""
    p = await Client.connect(g)
    gid = (await p.request("create_game", {"game": "tictactoe"}))["payload"]["gameId"]
    q = await Client.connect(b)
    j = await join(q, gid, **{"as": "spectator"})  # the claim is asynchronous
    t.eq(j["type"], "game_state", "beta reaches gamma's room")
    # A game the owner had not yet written to PostgreSQL dies with it (docs/architecture.md,
    # "Failover"): kill gamma once beta reads the room's row there.
    t.ok(wait_for(lambda: "instance" in http("GET", f"{b.url}/api/games/{gid}")[2], timeout=30),
         "gamma's room is in PostgreSQL")
    g.proc.send_signal(signal.SIGKILL)
    g.proc.wait()
    t.ok(wait_for(lambda: listed(b) == ["alpha", "beta"], timeout=30), "gamma killed: its lease lapses")
    q2 = await Client.connect(b)
    j = None
    for _ in range(150):
        j = await q2.request("join_game", {"gameId": gid, "as": "spectator"})
        if j["type"] != "error" or j["payload"]["code"] not in ("SERVER_BUSY", "NOT_FOUND"):
            break
        await asyncio.sleep(0.2)
    t.eq(j["type"] if j["type"] != "error" else j["payload"], "game_state",
         "its room is taken over by a survivor and found again from beta")
    g.start()
    t.ok(wait_for(lambda: listed(b) == ["alpha", "beta", "gamma"], timeout=30), "a new gamma process joins")
    def mine():
        st, _, view = http("GET", g.url + "/api/cluster")
        return [i for i in view["instances"] if i["id"] == "gamma"]
    mine = wait_for(mine, timeout=30) or mine()
    t.ok(mine and mine[0]["rooms"] == 0, f"and does not inherit the dead process's room: {mine}")
    await q.close()
    await q2.close()


async def redis_away(a, b):
    p1, p2 = await Client.connect(a), await Client.connect(b)
    made = await p1.request("create_game", {"game": "tictactoe"})
    gid = made["payload"]["gameId"]
    await join(p2, gid)  # the claim is asynchronous
    # beta summarizes alpha's room from PostgreSQL: its row may take a moment to get there.
    summary = lambda s: http("GET", f"{s.url}/api/games/{gid}")[2]
    wait_for(lambda: "instance" in summary(b), timeout=30)
    owners = [summary(s).get("instance", "absent") for s in (a, b)]
    t.eq(owners, ["alpha", "alpha"], "GET /api/games/:id names the room's owner on every instance")
    redis.stop()
    t0 = time.monotonic()
    e = await p2.request("chat_message", {"gameId": gid, "text": "anyone?"}, timeout=10)
    t.eq(e["payload"].get("code"), "SERVER_BUSY", "Redis away: a cross-instance request answers SERVER_BUSY")
    t.ok(time.monotonic() - t0 < 5, f"at once, not after a hang ({time.monotonic() - t0:.2f} s)")
    # The owner's own socket keeps playing its local game against an agent.
    local = await p1.request("create_game", {"game": "tictactoe", "vsAgent": "random"})
    t.eq(local["type"], "game_created", "the owner still opens rooms for its own sockets")
    m = await p1.request("player_input", {"gameId": gid, "action": {"cell": 4}})
    t.ok(m["type"] != "error" or m["payload"]["code"] != "SERVER_BUSY",
         f"and its socket in the shared room still plays ({m['type']})")
    redis.start()
    t.ok(wait_for(lambda: ready(a) and ready(b), timeout=60), "Redis back: both ready")
    back = None
    token = p2.welcome["payload"]["token"]
    for _ in range(100):
        try:
            back = await p2.request("resume", {"gameId": gid, "lastSeq": 0}, timeout=10)
        except websockets.ConnectionClosed as e:
            # The restarted Redis is empty: until alpha registers again, beta's heartbeat may
            # list it as gone and tell its sockets in alpha's rooms to reconnect (1012).
            t.eq(e.rcvd.code if e.rcvd else None, 1012, "a close while Redis comes back is 1012")
            p2 = await Client.connect(b, token=token)
            continue
        if back["type"] != "error":
            break
        await asyncio.sleep(0.2)
    t.eq(back["type"], "replay", "beta's socket resumes the game through the relay: the events "
         "it missed while Redis was away")
    await p1.close()
    await p2.close()


try:
    a, b, g = instance("alpha"), instance("beta"), instance("gamma")
    t.ok(wait_for(lambda: all(listed(s) == ["alpha", "beta", "gamma"] for s in (a, b, g))),
         "three instances list each other")
    run(across(a, b, g))
    t.ok(metric(a, 'cluster_relay_messages_total{kind="request_in"}') > 0, "alpha counts relayed requests")
    t.ok(metric(b, "cluster_relay_latency_ms_count") > 0, "beta measures the relay's latency")
    t.ok(metric(a, "cluster_directory_ops_total") > 0, "and the directory's operations are counted")
    run(one_publish(a, b, g))
    run(lobby(a, b))
    run(realtime(a, b))
    throttled_across(a, b)
    run(quick_match(a, b, g))
    run(quick_match_before_agent(a, b))
    run(leaving(a, b))
    run(leave(a, b))
    run(dead_owner(b, g))
    run(redis_away(a, b))
    codes = [s.stop() for s in servers]
    t.eq(codes, [0, 0, 0], "the instances stop cleanly (proxies, subscription and batches freed)")
finally:
    cl.cleanup()
t.done()
