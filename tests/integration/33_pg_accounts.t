#!/usr/bin/python3
# Accounts shared through PostgreSQL: two servers on one real PostgreSQL 15 behave as one.
# Register on A, log in on B at once; one name registered on A and B at the same moment (one
# 201, one 409, one row); the same player plays N games on A and N on B at the same time (its
# stats are exactly 2N everywhere, and the Elo ratings it and its agent exchanged add up, so
# no update was lost); /api/players/:id the same on both; the database frozen under a login on
# B: answered 503 once the statement times out, not held open. Skipped when not root (initdb runs
# as postgres).
import asyncio, json, os, sys, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import ROOT, Client, Server, Tap, http, play_until_over, run, wait_for
import pg as pglib

SQL_DIR = os.path.join(ROOT, "sql")
GAMES_EACH = 5  # per server; each game on a socket of its own (inputs are limited per socket)

if not pglib.available():
    print("1..0 # SKIP needs root and PostgreSQL 15 (apt-get install postgresql)")
    sys.exit(0)

t = Tap()


def server(db):
    return Server("--database-url", db.url("monkeytown"), "--sql-dir", SQL_DIR)




def at_once(*calls):
    """Runs the calls on threads released together; returns their results in order."""
    gate, out = threading.Barrier(len(calls)), [None] * len(calls)

    def one(i, fn):
        gate.wait()
        out[i] = fn()

    threads = [threading.Thread(target=one, args=(i, fn)) for i, fn in enumerate(calls)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return out


def register(srv, user, password="correct horse"):
    return http("POST", srv.url + "/api/auth/register", {"username": user, "password": password})


def login(srv, user, password="correct horse"):
    return http("POST", srv.url + "/api/auth/login", {"username": user, "password": password})


def player(srv, pid):
    st, _, body = http("GET", f"{srv.url}/api/players/{pid}")
    return st, body


def register_then_login(a, b, db):
    st, _, reg = register(a, "Walker_7")
    t.eq(st, 201, "register on A -> 201")
    st, _, body = login(b, "walker_7")
    t.eq((st, body.get("playerId")), (200, reg.get("playerId")),
         "log in on B at once (B asks PostgreSQL for a name it does not know): the same player")
    st, _, body = login(b, "walker_7", "wrong horse")
    t.eq((st, body.get("error", {}).get("code")), (401, "UNAUTHORIZED"), "a wrong password on B -> 401")
    st, _, body = register(b, "WALKER_7", "other horse")
    t.eq((st, body.get("error", {}).get("code")), (409, "CONFLICT"), "the name taken on A is 409 on B")
    st, body = player(b, reg.get("playerId"))
    t.eq((st, body.get("name")), (200, "Walker_7"), "GET /api/players/:id on B shows A's player")


def racing_registrations(a, b, db):
    for round_ in range(3):
        user = f"Racer_{round_}"
        got = at_once(lambda: register(a, user, "pass word a"), lambda: register(b, user.lower(), "pass word b"))
        codes = sorted(st for st, _, _ in got)
        t.eq(codes, [201, 409], f"round {round_}: one name on A and B at the same moment -> one 201, one 409")
        rows = db.query("monkeytown", f"SELECT id FROM players WHERE lower(username) = lower('{user}')")
        t.eq(len(rows), 1, f"round {round_}: exactly one row in PostgreSQL")
        winner = next((body for st, _, body in got if st == 201), {})
        t.eq(rows[0][0] if rows else None, winner.get("playerId"), f"round {round_}: the row of the 201")
        who = got.index(next(g for g in got if g[0] == 201)) if 201 in codes else 0
        pw = "pass word a" if who == 0 else "pass word b"
        other = "pass word b" if who == 0 else "pass word a"
        ok = [login(s, user, pw)[0] for s in (a, b)]
        bad = [login(s, user, other)[0] for s in (a, b)]
        t.eq((ok, bad), ([200, 200], [401, 401]),
             f"round {round_}: the winner's password logs in on both servers, the loser's on neither")


async def one_game(srv, token):
    c = await Client.connect(srv, token=token)
    try:
        created = await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"}, timeout=30)
        gid = created["payload"]["gameId"]
        over, _ = await play_until_over(c, gid, timeout=60)
        return over["payload"]["result"]
    finally:
        await c.close()


async def games_on(srv, token, n):
    return [await one_game(srv, token) for _ in range(n)]


async def both(a, b, ta, tb):
    return await asyncio.gather(games_on(a, ta, GAMES_EACH), games_on(b, tb, GAMES_EACH))


def racing_results(a, b, db):
    st, _, reg = register(a, "Busy_Bee")
    pid = reg.get("playerId")
    _, _, la = login(a, "Busy_Bee")
    st, _, lb = login(b, "Busy_Bee")
    t.eq(st, 200, "the player logs in on A and on B")
    results = run(both(a, b, la.get("token"), lb.get("token")))
    n = 2 * GAMES_EACH
    t.eq(sum(len(r) for r in results), n, f"{n} games played, {GAMES_EACH} on each server at the same time")

    def db_stats():
        rows = db.query("monkeytown", f"SELECT stats, rating FROM players WHERE id = '{pid}'")
        return json.loads(rows[0][0]) if rows else {}

    stats = wait_for(lambda: db_stats() if db_stats().get("games") == n else None) or db_stats()
    t.eq(stats.get("games"), n, f"PostgreSQL: the player's games are exactly {n}")
    t.eq(sum(stats.get(k, 0) for k in ("wins", "losses", "draws")), n, "and wins + losses + draws too")
    flat = [r for rs in results for r in rs]
    t.eq([stats.get(k) for k in ("wins", "losses", "draws")],
         [sum(r.get("winner") == 1 for r in flat), sum(r.get("winner") == 2 for r in flat),
          sum(bool(r.get("draw")) for r in flat)], "each as the games ended (the player held seat 1)")
    for name, srv in (("A", a), ("B", b)):
        st, body = player(srv, pid)
        got = body.get("stats", {}) if st == 200 else {}
        t.eq({k: got.get(k) for k in ("games", "wins", "losses", "draws")},
             {k: stats.get(k) for k in ("games", "wins", "losses", "draws")},
             f"GET /api/players/:id on {name}: the stats PostgreSQL holds")
    rating = float(db.query("monkeytown", f"SELECT rating FROM players WHERE id = '{pid}'")[0][0])
    agent = db.query("monkeytown", "SELECT rating, stats FROM players WHERE role = 'agent'")
    t.eq(len(agent), 1, "one agent row (random), shared by both servers")
    agent_games = json.loads(agent[0][1]).get("games") if agent else None
    t.eq(agent_games, n, f"the agent's games are exactly {n} too")
    total = rating + float(agent[0][0]) if agent else 0
    t.ok(abs(total - 2400) < 1e-6, "Elo is zero-sum here: the player's and the agent's ratings add up to 2400"
         " (no update lost)", f"player {rating}, agent {agent[0][0] if agent else None}")
    # What the write queue does after an outage: the same result row again. It counts once.
    agent_id = db.query("monkeytown", "SELECT id FROM players WHERE role = 'agent'")[0][0]
    resend = ("INSERT INTO game_results (id, players, winner, draw) VALUES ('00000000-0000-4000-8000-"
              f"000000000001', '[\"{pid}\", \"{agent_id}\"]', 1, false) ON CONFLICT (id) DO NOTHING")
    before = db_stats()
    db.psql("monkeytown", resend)
    db.psql("monkeytown", resend)
    after = db_stats()
    t.eq((after.get("games"), after.get("wins")), (before.get("games", 0) + 1, before.get("wins", 0) + 1),
         "a result row sent twice (a resend after an outage) counts once")
    rating = float(db.query("monkeytown", f"SELECT rating FROM players WHERE id = '{pid}'")[0][0])
    agent = db.query("monkeytown", "SELECT rating, stats FROM players WHERE role = 'agent'")
    t.ok(abs(rating + float(agent[0][0]) - 2400) < 1e-6, "and its rating change is zero-sum too")
    st_a, pa = player(a, pid)
    st_b, pb = player(b, pid)
    t.eq((st_a, pa), (st_b, pb), "/api/players/:id answers the same on A and B")
    t.eq(pa.get("stats", {}).get("rating"), round(rating, 1), "with PostgreSQL's rating")


db = pglib.Postgres().init().start()
def frozen_database(a, b, db):
    """PostgreSQL frozen (SIGSTOP: its sockets stay open, TCP keepalives see nothing): a login on
    B for an account B has never seen must ask the database, and is answered 503 once the
    statement times out (10 s), not held open; /health/ready says the store is down. Thawed,
    the same login succeeds."""
    st, _, _ = http("POST", a.url + "/api/auth/register", {"username": "frost", "password": "correct horse 9"})
    t.eq(st, 201, "an account registered on A")
    db.freeze()
    try:
        t0 = time.monotonic()
        st, _, body = http("POST", b.url + "/api/auth/login",
                           {"username": "frost", "password": "correct horse 9"}, timeout=60)
        took = time.monotonic() - t0
        t.eq((st, body.get("error", {}).get("code")), (503, "SERVER_BUSY"),
             f"database frozen: a login on B that needs it is answered 503 SERVER_BUSY ({took:.1f} s)")
        t.ok(took < 40, "after the statement timeout, not when the database comes back")
        t.eq(wait_for(lambda: http("GET", b.url + "/health/ready")[0] == 503 and 503), 503,
             "and B is not ready while its connection is down")
    finally:
        db.thaw()
    st = wait_for(lambda: http("POST", b.url + "/api/auth/login",
                               {"username": "frost", "password": "correct horse 9"})[0] == 200 and 200, timeout=60)
    t.eq(st, 200, "thawed: the login on B succeeds")


try:
    db.createdb("monkeytown")
    t.ok(True, f"PostgreSQL 15 on 127.0.0.1:{db.port}")
    # Both start at once on an empty database: the migrations run once, under the lock.
    a, b = server(db), server(db)
    at_once(lambda: a.start(), lambda: b.start())
    try:
        applied = [l for s in (a, b) for l in s.log_lines() if l.get("msg") == "migration applied"]
        versions = [l.get("version") for l in applied]
        t.eq(sorted(versions), sorted(set(versions)), "two servers starting at once apply each migration once")
        register_then_login(a, b, db)
        racing_registrations(a, b, db)
        racing_results(a, b, db)
        errors = [l for s in (a, b) for l in s.log_lines() if l.get("level") == "error"]
        t.eq(errors, [], "no error in either log")
        frozen_database(a, b, db)
    finally:
        t.eq((a.stop(), b.stop()), (0, 0), "both servers stop cleanly")
finally:
    db.remove()
t.done()
