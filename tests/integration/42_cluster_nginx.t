#!/usr/bin/python3
# A cluster behind docker/nginx.conf, for real: three --cluster instances (redis-server and
# PostgreSQL on loopback) behind Debian's nginx. Clients from three source addresses that nginx
# sends to three different instances (found through GET /api/cluster's "self", asked through
# nginx) play: two humans play tic-tac-toe to its end while the third watches, every message
# crossing nginx and, between instances, the relay. Nothing depends on speed: every wait polls.
import asyncio, http.client as httpclient, json, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import ROOT, Client, Server, Tap, http, run, wait_for
from nginx_front import Nginx
from redis_server import Redis
from cluster import join
import pg as pglib

if not pglib.available():
    print("1..0 # SKIP needs root and PostgreSQL 15 (apt-get install postgresql)")
    sys.exit(0)

t = Tap()
redis, db = Redis().start(), pglib.Postgres().init().start()
servers, front = [], None


def via_nginx(path, source):
    c = httpclient.HTTPConnection("127.0.0.1", front.port, timeout=10, source_address=(source, 0))
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        c.close()


def home_of(source):
    try:
        st, body = via_nginx("/api/cluster", source)
        return body["self"] if st == 200 else None
    except (OSError, ValueError):
        return None


async def play(c, gid, seen, moves):
    """Reads c's messages of game gid until game_over, playing its turns when moves is set."""
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
        if moves and m["type"] == "game_state" and p.get("status") == "active" \
                and p.get("toMove") == p.get("you"):
            await c.send("player_input", {"gameId": gid, "action": p["legal"][0]})


class Edge:
    pass


async def game(sources):
    Edge.ws_url = front.ws_url
    p1 = await Client.connect(Edge, local_addr=(sources[0], 0))
    p2 = await Client.connect(Edge, local_addr=(sources[1], 0))
    sp = await Client.connect(Edge, local_addr=(sources[2], 0))
    gid = (await p1.request("create_game", {"game": "tictactoe"}))["payload"]["gameId"]
    joined = await join(p2, gid)  # the claim is asynchronous
    t.eq(joined["type"], "game_state", "a socket on the second instance joins the first's room through nginx")
    w = await sp.request("join_game", {"gameId": gid, "as": "spectator"})
    t.eq(w["type"], "game_state", "a spectator on the third watches it")
    s1, s2, s3 = [], [], []
    o1, o2, o3 = await asyncio.gather(play(p1, gid, s1, True), play(p2, gid, s2, True),
                                      play(sp, gid, s3, False))
    t.ok(o1["payload"]["result"] == o2["payload"]["result"] == o3["payload"]["result"],
         f"the game plays to its end for all three: {o1['payload']['result']}")
    t.ok(o1["seq"] == o2["seq"] == o3["seq"], f"with one seq numbering ({o1['seq']})")
    for c in (p1, p2, sp):
        await c.close()


try:
    db.createdb("monkeytown")
    for name in ("alpha", "beta", "gamma"):
        s = Server("--cluster", "--instance-id", name, "--redis-url", redis.url,
                   "--database-url", db.url("monkeytown"), "--sql-dir", os.path.join(ROOT, "sql"),
                   "--jwt-secret", "nginx-cluster-secret-0123456789abcdef012345",
                   "--trusted-proxies", "127.0.0.1",
                   "--instance-lease-ms", "1500", "--cluster-heartbeat-ms", "500")
        s.start()
        servers.append(s)
    front = Nginx(servers)
    t.ok(front.check().returncode == 0, "nginx -t accepts the shipped file")
    front.start()
    t.ok(wait_for(lambda: home_of("127.0.0.2") is not None), "the cluster answers through nginx")
    t.ok(wait_for(lambda: len(via_nginx("/api/cluster", "127.0.0.2")[1]["instances"]) == 3 and
                  all(http("GET", s.url + "/health/ready")[0] == 200 for s in servers)),
         "three instances, ready")
    homes = {}
    for i in range(1, 200):
        source = f"127.0.2.{i}"
        homes.setdefault(home_of(source), source)
        if len([h for h in homes if h]) == 3:
            break
    picked = [homes[h] for h in sorted(h for h in homes if h)]
    t.eq(len(picked), 3, f"three client addresses that nginx sends to three instances: {picked}")
    run(game(picked))
finally:
    if front:
        front.stop()
    for s in servers:
        s.stop()
    redis.cleanup()
    db.remove()
t.done()
