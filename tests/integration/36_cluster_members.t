#!/usr/bin/python3
# Cluster membership (--cluster) with a real redis-server and PostgreSQL on loopback: start-up
# refusals, /api/cluster listing every live instance, a stopped instance gone at once, a killed
# one gone when its lease lapses, a duplicate id refused, Redis away (readiness and the circuit
# breaker) and back, and an instance paused past its lease whose id another process took.
# Every wait polls for the condition with a generous deadline: nothing depends on speed.
import json, os, signal, subprocess, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import BIN, ROOT, Server, Tap, http, wait_for
from redis_server import Redis
from cluster import listed
import pg as pglib

if not pglib.available():
    print("1..0 # SKIP needs root and PostgreSQL 15 (apt-get install postgresql)")
    sys.exit(0)

t = Tap()
SQL_DIR = os.path.join(ROOT, "sql")
SECRET = "cluster-test-secret-0123456789abcdef0123456789"
LEASE_MS = 1500  # three heartbeats of 500 ms




def lobby(srv):
    """The ids of /api/rooms on srv, or the error code."""
    st, _, body = http("GET", srv.url + "/api/rooms", timeout=5)
    return sorted(r["gameId"] for r in body) if st == 200 else body["error"]["code"]


def open_room(srv, **extra):
    st, _, g = http("POST", srv.url + "/api/auth/guest", {})
    st, _, made = http("POST", srv.url + "/api/games/create", {"game": "tictactoe", **extra},
                       headers={"Authorization": "Bearer " + g["token"]})
    return made["gameId"]


def ready(srv):
    st, _, body = http("GET", srv.url + "/health/ready", timeout=5)
    return st, body


redis, db = Redis().start(), pglib.Postgres().init().start()
servers = []


def instance(name, start=True):
    s = Server("--cluster", "--instance-id", name, "--redis-url", redis.url,
               "--database-url", db.url("monkeytown"), "--sql-dir", SQL_DIR, "--jwt-secret", SECRET,
               "--instance-lease-ms", str(LEASE_MS), "--cluster-heartbeat-ms", "500")
    servers.append(s)
    if start:
        s.start()
    return s


try:
    db.createdb("monkeytown")
    for args, key in ((["--cluster"], "redis-url"), (["--cluster", "--redis-url", redis.url], "database-url"),
                      (["--cluster", "--redis-url", redis.url, "--database-url", db.url("monkeytown"),
                        "--instance-id", "no spaces"], "instance-id")):
        p = subprocess.run([BIN, *args, "--port", "0"], capture_output=True, text=True, timeout=20)
        t.ok(p.returncode == 2 and key in p.stderr, f"{' '.join(args[:3])}...: exit 2 naming {key}")
    # The environment turns it on as well (MONKEYTOWN_CLUSTER), with the same refusal.
    p = subprocess.run([BIN, "--port", "0"], capture_output=True, text=True, timeout=20,
                       env={**os.environ, "MONKEYTOWN_CLUSTER": "true"})
    t.ok(p.returncode == 2 and "redis-url" in p.stderr, "MONKEYTOWN_CLUSTER=true alone: exit 2 naming redis-url")

    a, b = instance("alpha"), instance("beta")
    t.eq(wait_for(lambda: listed(a) == ["alpha", "beta"] and listed(b) == ["alpha", "beta"] and listed(a)),
         ["alpha", "beta"], "each instance lists both")
    st, _, view = http("GET", a.url + "/api/cluster")
    me = [i for i in view["instances"] if i["id"] == "alpha"][0]
    t.ok(view["self"] == "alpha" and {"rooms", "connections", "startedAt", "lastSeen"} <= set(me)
         and "token" not in me, "/api/cluster: self and each instance's figures, no lease token")
    st, body = ready(a)
    t.ok(st == 200 and "redis" in json.dumps(body), f"ready with Redis and PostgreSQL up: {body}")

    # The lobby spans the instances: a room opened on alpha is listed by beta, a private one
    # nowhere but its own summary.
    ra, rb = open_room(a), open_room(b)
    hidden = open_room(b, private=True)
    both = sorted([ra, rb])
    t.eq(wait_for(lambda: lobby(a) == both and lobby(b) == both and lobby(b)), both,
         "/api/rooms on each instance lists the public rooms of both")
    t.ok(hidden not in lobby(a), "a private room is listed nowhere")

    dup = instance("alpha", start=False)
    p = subprocess.run(dup.args, capture_output=True, text=True, timeout=30)
    t.ok(p.returncode == 2 and "already uses this instance id" in p.stdout + p.stderr,
         "a second live instance with one id is refused (exit 2)")

    t.eq(b.stop(), 0, "beta stops cleanly")
    t.eq(wait_for(lambda: listed(a) == ["alpha"] and listed(a), timeout=10), ["alpha"],
         "a stopped instance is gone at once (its lease released)")

    # A stopping instance leaves its games for a live peer (failover.h): alpha takes beta's room
    # over, so the room stays in the lobby, listed by alpha now, and is not aborted.
    both = sorted([ra, rb])
    t.eq(wait_for(lambda: lobby(a) == both and lobby(a), timeout=30), both,
         "beta's room is taken over by alpha and stays in the lobby")
    st, _, summary = http("GET", a.url + f"/api/games/{rb}")
    t.eq(summary.get("status"), "waiting", "a stopping instance leaves its games: not aborted")
    c = instance("gamma")
    t.eq(wait_for(lambda: listed(a) == ["alpha", "gamma"] and listed(a)), ["alpha", "gamma"], "gamma joins")
    rc = open_room(c)
    three = sorted([ra, rb, rc])
    t.eq(wait_for(lambda: lobby(a) == three and lobby(a)), three,
         "gamma's room is listed, and gamma took over no room of a live instance")
    # A takeover rebuilds a room from PostgreSQL: the kill waits for the room's row to be there
    # (gamma writes it a moment after it opens; a room killed before that has nothing to rebuild).
    t.ok(wait_for(lambda: db.query("monkeytown", f"SELECT count(*) FROM games WHERE id = '{rc}'") == [["1"]]),
         "gamma's room is in PostgreSQL")
    c.proc.send_signal(signal.SIGKILL)
    c.proc.wait()
    t.eq(wait_for(lambda: listed(a) == ["alpha"] and listed(a)), ["alpha"],
         "a killed instance disappears when its lease lapses (no zombie entry)")
    t.eq(wait_for(lambda: lobby(a) == three and lobby(a), timeout=30), three,
         "and its room is taken over by alpha")
    ra_all = three

    redis.stop()
    st = wait_for(lambda: ready(a)[0] == 503 and 503)
    t.eq(st, 503, "Redis away: /health/ready is 503 in cluster mode")
    t.ok(wait_for(lambda: ready(a)[1]["checks"]["redis"].get("breaker") in ("open", "half-open")),
         "and its redis check shows the breaker open (or probing)")
    _, _, metrics = http("GET", a.url + "/metrics")
    state = [l for l in metrics.splitlines() if l.startswith("redis_breaker_state")]
    t.ok(state and state[0].split()[-1] in ("1", "2"), f"the breaker is open in /metrics: {state}")
    t.ok(http("GET", a.url + "/health/live")[0] == 200, "and the instance itself lives on")
    t.eq(lobby(a), "SERVER_BUSY", "the cluster's lobby answers SERVER_BUSY rather than hang")
    redis.start()
    t.eq(wait_for(lambda: ready(a)[0] == 200 and 200, timeout=60), 200, "Redis back: ready again")
    t.eq(wait_for(lambda: listed(a) == ["alpha"] and listed(a), timeout=30), ["alpha"],
         "and the instance is listed again")
    t.eq(wait_for(lambda: lobby(a) == ra_all and lobby(a), timeout=30), ra_all,
         "with its rooms, written again after Redis lost them")

    # Paused past its lease while another process takes the id: on waking, alpha finds the key
    # holds another token and stops rather than serve under a taken id.
    a.proc.send_signal(signal.SIGSTOP)
    time.sleep(LEASE_MS / 1000 * 2)
    a2 = instance("alpha", start=False)
    a2.start()
    a.proc.send_signal(signal.SIGCONT)
    t.ok(wait_for(lambda: a.proc.poll() is not None, timeout=30), "the paused instance stops on waking")
    t.ok(any("another process holds this instance id" in l.get("msg", "") for l in a.log_lines()),
         "saying why")
    t.eq(wait_for(lambda: listed(a2) == ["alpha"] and listed(a2)), ["alpha"], "alpha is listed once, the new one")

    # Without --instance-id the instance is named after its host and port.
    d = Server("--cluster", "--redis-url", redis.url, "--database-url", db.url("monkeytown"),
               "--sql-dir", SQL_DIR, "--jwt-secret", SECRET, "--instance-lease-ms", str(LEASE_MS),
               "--cluster-heartbeat-ms", "500")
    servers.append(d)
    d.start()
    me = f"127.0.0.1:{d.port}"
    t.eq(http("GET", d.url + "/api/cluster")[2].get("self"), me, f"the default instance id is host:port ({me})")
    t.eq(wait_for(lambda: me in (listed(a2) or []) and listed(a2)), sorted(["alpha", me]),
         "and the others list it under that id")
finally:
    for s in servers:
        s.stop()
    redis.cleanup()
    db.remove()

plain = Server()
plain.start()
st, _, body = http("GET", plain.url + "/api/cluster")
t.ok(st == 404 and body["error"]["code"] == "NOT_FOUND", "without --cluster, /api/cluster is 404")
plain.stop()
t.done()
