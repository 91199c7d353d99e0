#!/usr/bin/python3
# The PostgreSQL store against a real PostgreSQL 15 started here: migrations from empty and
# again (nothing re-applied), `monkeytown migrate`; a whole game persisted row by row and read
# back by `monkeytown replay`; an outage in the middle of several games (the server keeps
# playing, /health/ready says 503, and after the database is back every event is stored once);
# a server started while the database is down; rows refused by a constraint cost only themselves
# (combined rounds split up, then row by row). Skipped when not root (initdb runs as postgres).
import asyncio, json, os, subprocess, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import BIN, ROOT, Client, Server, Tap, http, play_until_over, run, wait_for
import pg as pglib

SQL_DIR = os.path.join(ROOT, "sql")
VERSIONS = sorted(int(f.split("_")[0]) for f in os.listdir(SQL_DIR) if f.endswith(".sql"))

if not pglib.available():
    print("1..0 # SKIP needs root and PostgreSQL 15 (apt-get install postgresql)")
    sys.exit(0)

t = Tap()


def server(db, dbname="monkeytown", *extra):
    return Server("--database-url", db.url(dbname), "--sql-dir", SQL_DIR, *extra)


def messages(srv, msg):
    return [line for line in srv.log_lines() if line.get("msg") == msg]


def ready(srv):
    st, _, body = http("GET", srv.url + "/health/ready")
    return st, body.get("checks", {}).get("store", {}) if isinstance(body, dict) else {}




# ---- 1. migrations ----

def migrations(db):
    srv = server(db).start()
    t.eq([int(v) for v, in db.query("monkeytown", "SELECT version FROM schema_migrations ORDER BY 1")],
         VERSIONS, "from empty: every migration of sql/ is recorded in schema_migrations")
    t.eq(len(messages(srv, "migration applied")), len(VERSIONS), "each applied once, one log line each")
    st, store = ready(srv)
    t.eq((st, store.get("backend"), store.get("connected"), store.get("queued")),
         (200, "postgres", True, 0), "/health/ready: the store is postgres, connected, nothing queued")
    t.eq(srv.stop(), 0, "server stops cleanly")
    before = db.query("monkeytown", "SELECT version, applied_at FROM schema_migrations ORDER BY 1")

    srv = server(db).start()
    t.eq(messages(srv, "migration applied"), [], "second start: nothing re-applied")
    t.eq([l for l in srv.log_lines() if l.get("level") == "error"], [], "and no error")
    t.eq(ready(srv)[0], 200, "and ready")
    t.eq(srv.stop(), 0, "server stops cleanly")
    t.eq(db.query("monkeytown", "SELECT version, applied_at FROM schema_migrations ORDER BY 1"), before,
         "schema_migrations unchanged")

    for dbname, what in (("monkeytown", "an up-to-date database"), ("cli", "an empty database")):
        if dbname == "cli":
            db.createdb("cli")
        r = subprocess.run([BIN, "migrate", "--database-url", db.url(dbname), "--sql-dir", SQL_DIR],
                           capture_output=True, text=True, timeout=60)
        t.eq(r.returncode, 0, f"monkeytown migrate on {what} exits 0" + (f": {r.stderr}" if r.returncode else ""))
    t.eq([int(v) for v, in db.query("cli", "SELECT version FROM schema_migrations ORDER BY 1")], VERSIONS,
         "monkeytown migrate applied every migration")
    t.ok(db.psql("cli", "SELECT to_regclass('game_events') IS NOT NULL") == "t", "and created the tables")
    r = subprocess.run([BIN, "migrate", "--database-url", "postgres://postgres@127.0.0.1:1/none",
                        "--sql-dir", SQL_DIR], capture_output=True, text=True, timeout=60)
    t.ok(r.returncode != 0 and "cannot connect" in r.stderr, "monkeytown migrate without a database fails",
         r.stderr)


# ---- 2. a whole game ----

def last_seq(msgs, gid):
    return max((m["seq"] for m in msgs if m.get("gameId") == gid and "seq" in m), default=0)


async def whole_game(srv, db):
    c = await Client.connect(srv)
    created = await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"})
    gid = created["payload"]["gameId"]
    over, _ = await play_until_over(c, gid)
    seq = last_seq(c.seen, gid)
    q = lambda sql: db.query("monkeytown", sql)
    wait_for(lambda: q(f"SELECT status FROM games WHERE id = '{gid}'") == [["completed"]] and
             q(f"SELECT max(seq) FROM game_events WHERE game_id = '{gid}'") == [[str(seq)]], timeout=10)
    rows = q(f"SELECT status, result, seats, ended_at IS NOT NULL FROM games WHERE id = '{gid}'")
    t.ok(rows and rows[0][0] == "completed", "games: the game is completed", rows)
    t.eq(json.loads(rows[0][1]) if rows else None, over["payload"]["result"], "games: with the result of game_over")
    t.ok(rows and rows[0][3] == "t", "games: ended_at is set")
    parts = q(f"SELECT seat, player_id, agent, name FROM game_participants WHERE game_id = '{gid}' ORDER BY seat")
    t.eq(len(parts), 2, "game_participants: two rows")
    t.ok(len(parts) == 2 and parts[0][1] == c.welcome["payload"]["playerId"] and parts[1][2] == "random",
         "seat 1 is the player, seat 2 the agent", parts)
    seqs = [int(s) for s, in q(f"SELECT seq FROM game_events WHERE game_id = '{gid}' ORDER BY seq")]
    t.eq(seqs, list(range(1, seq + 1)), f"game_events: seq 1..{seq} without gaps (the client saw {seq})")
    inputs = q(f"SELECT ord, seat, source FROM game_inputs WHERE game_id = '{gid}' ORDER BY ord")
    t.ok(len(inputs) >= 5 and {i[2] for i in inputs} >= {"player", "agent"},
         f"game_inputs: {len(inputs)} rows, from the player and the agent", inputs)
    files = q(f"SELECT v.kind, v.name, v.files FROM script_versions v JOIN games g ON g.version = v.id"
              f" WHERE g.id = '{gid}'")
    t.ok(files and files[0][:2] == ["game", "tictactoe"] and any(k.endswith(".lua") for k in json.loads(files[0][2])),
         "script_versions: the game's version with its files", files[:1])
    t.eq(q(f"SELECT count(*) FROM players WHERE id = '{c.welcome['payload']['playerId']}'"), [["1"]],
         "players: the guest has a row")

    st, _, log = http("GET", f"{srv.url}/api/games/{gid}/events")
    api = [(e["seq"], e["type"], e["payload"], e["t"]) for e in log["events"] if "seq" in e]
    stored = [(int(s), ty, json.loads(p), int(tt)) for s, ty, p, tt in
              q(f"SELECT seq, type, payload, t FROM game_events WHERE game_id = '{gid}' ORDER BY seq")]
    t.eq(stored, api, "GET /api/games/:id/events shows the events that are stored")

    # Text that array and string literals must quote: written in combined rounds (one array
    # literal per column) and read back unchanged.
    awkward = {"note": "a\"b\\c'd{e,f} NULL \u00e9\u2603 $1 \t;--", "empty": "", "null": None, "n": -1.5e300}
    created = await c.request("create_game", {"game": "tictactoe", "vsAgent": "random", "config": awkward})
    odd = created["payload"]["gameId"]
    await play_until_over(c, odd)
    got = wait_for(lambda: q(f"SELECT config FROM games WHERE id = '{odd}' AND status = 'completed'"), timeout=10)
    t.eq(json.loads(got[0][0]).get("note") if got else None, awkward["note"],
         "games.config: quotes, backslashes, braces, commas and non-ASCII text stored as given")
    t.eq([m.get("error") for m in messages(srv, "store: combined round failed, retrying its statements one by one")],
         [], "and by the combined rounds themselves (no round fell back to single statements)")

    # Left unfinished: the server leaves it active at shutdown, with every input written by
    # close(), and the next start rebuilds it.
    created = await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"})
    pending = created["payload"]["gameId"]
    my_turn = lambda m: m.get("gameId") == pending and m["payload"].get("toMove") == m["payload"].get("you")
    first = await c.expect("game_state", where=my_turn)
    await c.send("player_input", {"gameId": pending, "action": first["payload"]["legal"][0]})
    await c.expect("game_state", where=lambda m: my_turn(m) and m["seq"] > first["seq"])
    await c.close()
    return gid, pending


def replay(db, gid):
    r = subprocess.run([BIN, "replay", gid, "--database-url", db.url("monkeytown"), "--sql-dir", SQL_DIR,
                        "--lua-dir", os.path.join(ROOT, "lua"), "--log-level", "warn"],
                       capture_output=True, text=True, timeout=60)
    t.ok(r.returncode == 0 and "identical" in r.stdout,
         "monkeytown replay reads the game back from PostgreSQL and finds it identical", r.stdout + r.stderr)
    r = subprocess.run([BIN, "replay", "00000000-0000-4000-8000-000000000000", "--database-url",
                        db.url("monkeytown"), "--sql-dir", SQL_DIR, "--log-level", "warn"],
                       capture_output=True, text=True, timeout=60)
    t.eq(r.returncode, 2, "an unknown game id: exit 2")


# ---- 2b. many games at once: rewrites of one row are coalesced in the queue ----

async def coalesced(srv, db, clients=8, games=3):
    """The agent's player row changes with every game and each game's row three times; the
    store folds queued rewrites of a row into one. What is stored must be the last state."""
    async def player():
        c = await Client.connect(srv)
        ids = []
        for _ in range(games):
            created = await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"})
            ids.append(created["payload"]["gameId"])
            await play_until_over(c, ids[-1])
        await c.close()
        return ids
    ids = [g for batch in await asyncio.gather(*(player() for _ in range(clients))) for g in batch]
    q = lambda sql: db.query("monkeytown", sql)
    listed = ", ".join(f"'{g}'" for g in ids)
    done = f"SELECT count(*) FROM games WHERE id IN ({listed}) AND status = 'completed'" \
           f" AND created_at IS NOT NULL AND started_at IS NOT NULL AND ended_at IS NOT NULL AND result IS NOT NULL"
    t.ok(wait_for(lambda: q(done) == [[str(len(ids))]], timeout=15),
         f"coalesced: all {len(ids)} games stored completed, with the columns of every put (created, started, ended)")
    st, _, api = http("GET", f"{srv.url}/api/players/agent:random")
    # Only the random agent has played on this server: one agent row.
    stored = wait_for(lambda: (r := q("SELECT stats, rating FROM players WHERE role = 'agent'"))
                      and json.loads(r[0][0]).get("games") == api["stats"]["games"] and r, timeout=10)
    t.ok(st == 200 and stored and len(stored) == 1 and json.loads(stored[0][0])["games"] >= len(ids) and
         abs(float(stored[0][1]) - api["stats"]["rating"]) <= 0.05,
         "coalesced: the agent's stored stats and rating are its last ones", (api.get("stats"), stored))
    parts = q(f"SELECT count(*) FROM game_participants WHERE game_id IN ({listed})")
    t.eq(parts, [[str(2 * len(ids))]], "coalesced: two participants per game")


# ---- 3. an outage in the middle of games ----

class Game:
    """One connect4 game against an agent, played one move at a time."""

    def __init__(self, c, gid):
        self.c, self.gid, self.over, self.moves, self.state = c, gid, False, 0, None

    async def wait_turn(self, timeout=10):
        while not self.over:
            m = await self.c.recv(timeout)
            p = m.get("payload", {})
            if m.get("gameId") != self.gid:
                continue
            if m["type"] == "game_over":
                self.over = True
            elif m["type"] == "game_state" and p.get("status") == "active" and p.get("toMove") == p.get("you"):
                self.state = p
                return

    async def move(self):
        """Plays one move (columns in turn, so games last) and waits for the next turn."""
        if self.over:
            return False
        legal = self.state["legal"]
        await self.c.send("player_input", {"gameId": self.gid, "action": legal[self.moves % len(legal)]})
        self.moves += 1
        await self.wait_turn()
        return True

    @property
    def seq(self):
        return last_seq(self.c.seen, self.gid)


async def outage(srv, db, ngames=4):
    games = []
    for i in range(ngames):
        c = await Client.connect(srv)
        created = await c.request("create_game", {"game": "connect4", "vsAgent": "random"})
        g = Game(c, created["payload"]["gameId"])
        await g.wait_turn()
        games.append(g)
    for g in games:
        await g.move()

    await asyncio.to_thread(db.stop, "fast")
    t.ok(True, "PostgreSQL stopped (pg_ctl stop -m fast)")
    st, store = await asyncio.to_thread(wait_for, lambda: ready(srv)[0] == 503 and ready(srv), 10)
    t.eq((st, store.get("healthy"), store.get("connected")), (503, False, False),
         "/health/ready: 503, the store check unhealthy and not connected")
    t.ok(store.get("lastError"), f"lastError says why: {store.get('lastError')}")
    played, t0 = 0, time.time()
    while time.time() - t0 < 3:
        for g in games:
            played += await g.move()
        await asyncio.sleep(0.2)
    t.ok(played >= ngames, f"the server kept playing: {played} moves during the outage")
    st, store = ready(srv)
    t.ok(st == 503 and store.get("queued", 0) > 0, f"rows are queued meanwhile ({store.get('queued')})", store)
    st, _, _ = http("GET", srv.url + "/health/live")
    t.eq(st, 200, "/health/live stays 200")

    await asyncio.to_thread(db.start)
    t.ok(True, "PostgreSQL started again")
    back = await asyncio.to_thread(wait_for, lambda: ready(srv)[0] == 200, 30)
    t.ok(back, "/health/ready is 200 again once the server reconnected", ready(srv))
    drained = await asyncio.to_thread(wait_for, lambda: ready(srv)[1].get("queued") == 0, 10)
    t.ok(drained, "and the queue drained", ready(srv))

    for g in games:
        while await g.move():
            pass
    for g in games:
        ok = wait_for(lambda: db.query("monkeytown", f"SELECT max(seq) FROM game_events WHERE game_id = '{g.gid}'")
                      == [[str(g.seq)]], 10)
        count, low, high = db.query("monkeytown", f"SELECT count(*), min(seq), max(seq) FROM game_events"
                                                  f" WHERE game_id = '{g.gid}'")[0]
        t.ok(ok and int(count) == int(high) == g.seq and low == "1",
             f"game {g.gid[:8]}: events 1..{g.seq} stored exactly once ({g.moves} moves)",
             f"count {count}, min {low}, max {high}, client saw {g.seq}")
        status = db.query("monkeytown", f"SELECT status FROM games WHERE id = '{g.gid}'")
        t.eq(status, [["completed"]], f"game {g.gid[:8]}: completed")
    t.eq(len(messages(srv, "database unavailable: writes are queued until it is back")), 1,
         "the outage is logged once, not per retry")
    t.eq(len(messages(srv, "database available again")), 1, "and so is the recovery")
    st, _, text = http("GET", srv.url + "/metrics")
    t.ok(all(m in text for m in ("store_queue_rows", "store_write_latency_ms_bucket")),
         "/metrics has store_queue_rows and store_write_latency_ms")
    for g in games:
        await g.c.close()


# ---- 5. rows PostgreSQL refuses ----

async def refused_rows(db):
    """A constraint the server does not know about refuses some rows. Rows travel in combined
    rounds (several statements, one transaction); a refused row must cost only itself: the
    round is retried statement by statement, then row by row, and everything else is stored."""
    db.createdb("strict")
    srv = server(db, "strict").start()
    try:
        t.ok(wait_for(lambda: ready(srv)[0] == 200, 30), "strict: ready")
        db.psql("strict", "ALTER TABLE game_events ADD CONSTRAINT small_seq CHECK (seq <= 3)")
        games = []
        for _ in range(3):
            c = await Client.connect(srv)
            created = await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"})
            gid = created["payload"]["gameId"]
            await play_until_over(c, gid)
            games.append((gid, last_seq(c.seen, gid)))
            await c.close()
        q = lambda sql: db.query("strict", sql)
        done = wait_for(lambda: all(q(f"SELECT status FROM games WHERE id = '{g}'") == [["completed"]]
                                    for g, _ in games), timeout=20)
        t.ok(done, "strict: every game is stored as completed")
        for gid, seq in games:
            # The store writes asynchronously: wait for the final state, not for the games row.
            seqs = lambda: [int(s) for s, in q(f"SELECT seq FROM game_events WHERE game_id = '{gid}' ORDER BY seq")]
            wait_for(lambda: seqs() == [1, 2, 3], timeout=10)
            t.eq(seqs(), [1, 2, 3], f"strict: game {gid[:8]} kept events 1..3 of 1..{seq}")
            n = int(q(f"SELECT count(*) FROM game_inputs WHERE game_id = '{gid}'")[0][0])
            t.ok(n >= 5, f"strict: and all its inputs ({n})")
        want = sum(seq - 3 for _, seq in games)
        dropped_rows = lambda: [l for l in srv.log_lines() if l.get("msg") == "store: row dropped"]
        wait_for(lambda: len(dropped_rows()) >= want, timeout=10)
        dropped = dropped_rows()
        t.eq(len(dropped), want, f"strict: exactly the refused rows were dropped ({want})")
        t.ok(all(l.get("table") == "game_events" for l in dropped), "strict: all of them game_events")
        t.ok(any(l.get("msg") == "store: combined round failed, retrying its statements one by one"
                 for l in srv.log_lines()), "strict: a combined round failed and was split up")
        st, _, text = http("GET", srv.url + "/metrics")
        t.ok(f'store_rows_dropped_total{{table="game_events"}} {want}' in text, "strict: and counted")
    finally:
        t.eq(srv.stop(), 0, "strict: server stops cleanly")


async def resent_rows(srv, db):
    """A round whose commit happened but whose reply was lost is sent again. The event log's
    batches insert without ON CONFLICT; the repeated row must fail the round, and the retry
    (statement by statement, with ON CONFLICT DO NOTHING) must skip it and store the rest once.
    Made deterministic by storing an event row the server has not written yet."""
    c = await Client.connect(srv)
    created = await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"})
    gid = created["payload"]["gameId"]
    my_turn = lambda m: m.get("gameId") == gid and m["payload"].get("toMove") == m["payload"].get("you")
    state = await c.expect("game_state", where=my_turn)
    q = lambda sql: db.query("monkeytown", sql)
    seq = last_seq(c.seen, gid)
    t.ok(wait_for(lambda: q(f"SELECT max(seq) FROM game_events WHERE game_id = '{gid}'") == [[str(seq)]]),
         f"resent: events 1..{seq} stored")
    q(f"INSERT INTO game_events (game_id, seq, type, payload, t) VALUES ('{gid}', {seq + 1},"
      f" 'game_event', '{{\"already\": true}}', 0) RETURNING seq")
    await c.send("player_input", {"gameId": gid, "action": state["payload"]["legal"][0]})
    over, _ = await play_until_over(c, gid)
    end = last_seq(c.seen, gid)
    await c.close()
    stored = wait_for(lambda: (r := q(f"SELECT seq, payload FROM game_events WHERE game_id = '{gid}' ORDER BY seq"))
                      and len(r) == end and r)
    t.eq([int(sq) for sq, _ in stored or []], list(range(1, end + 1)),
         f"resent: events 1..{end} stored exactly once although seq {seq + 1} was there already")
    t.eq(json.loads(stored[seq][1]) if stored else None, {"already": True},
         "resent: the row that was there is kept (DO NOTHING)")
    t.ok(any(l.get("msg") == "store: combined round failed, retrying its statements one by one" and
             "duplicate key" in l.get("error", "") for l in srv.log_lines()),
         "resent: the round failed on the key and was split up")


# ---- 4. the database down at start-up ----

def down_at_start(db):
    db.createdb("late")
    db.stop()
    srv = server(db, "late")
    t0 = time.time()
    srv.start()
    t.ok(time.time() - t0 < 4, f"the server starts without its database ({time.time() - t0:.1f} s)")
    t.eq(ready(srv)[0], 503, "not ready meanwhile")
    db.start()
    t.ok(wait_for(lambda: ready(srv)[0] == 200, 30), "ready once the database is up")
    t.eq([int(v) for v, in db.query("late", "SELECT version FROM schema_migrations ORDER BY 1")], VERSIONS,
         "migrations applied on the late connection")
    t.eq(srv.stop(), 0, "server stops cleanly")


# ---- 6. stopped while the database is down ----

async def guest_game(srv):
    c = await Client.connect(srv)
    created = await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"})
    gid = created["payload"]["gameId"]
    await play_until_over(c, gid)
    await c.close()
    return c.welcome["payload"]["playerId"], gid


def stop_while_down(db):
    srv = server(db, "late").start()
    t.ok(wait_for(lambda: ready(srv)[0] == 200, 30), "stop while down: ready")
    db.stop()
    t.ok(wait_for(lambda: ready(srv)[0] == 503, 10), "stop while down: the database is gone")
    # An account is told 201 only once PostgreSQL has it (the name is unique across servers).
    st, _, body = http("POST", srv.url + "/api/auth/register", {"username": "down_user", "password": "down password"})
    t.eq((st, body.get("error", {}).get("code")), (503, "SERVER_BUSY"),
         "stop while down: a registration is refused with SERVER_BUSY (nothing told before it is durable)")
    # A guest that played: its row and the game's are queued (a guest that has not played is
    # not stored at all).
    guest, gid = run(guest_game(srv))
    t0 = time.time()
    code = srv.stop(timeout=30)
    took = time.time() - t0
    t.ok(code == 0 and took < 10,
         f"stop while down: the server stops without waiting for a database that makes no progress "
         f"(exit {code}, {took:.1f} s)")
    t.ok(messages(srv, "store: closing with rows not written"),
         "stop while down: and says which rows were not written")
    t.ok([f for f in os.listdir(srv.data_dir) if f.startswith("pg-journal.")],
         "stop while down: the rows stay in the local journal")
    db.start()
    again = server(db, "late")
    again.data_dir = srv.data_dir
    again.args[again.args.index("--data-dir") + 1] = srv.data_dir
    again.start()
    try:
        t.ok(wait_for(lambda: db.query("late", f"SELECT count(*) FROM players WHERE id = '{guest}'") == [["1"]] and
                      db.query("late", f"SELECT status FROM games WHERE id = '{gid}'") == [["completed"]], 20),
             "stop while down: the next start writes the guest's row and its game to PostgreSQL (from the journal)")
        st, _, _ = http("GET", f"{again.url}/api/players/{guest}")
        t.eq(st, 200, "stop while down: and the guest is known")
        st, _, _ = http("POST", again.url + "/api/auth/register", {"username": "down_user", "password": "down password"})
        t.eq(st, 201, "stop while down: with the database back, the registration succeeds")
        st, _, _ = http("POST", again.url + "/api/auth/login", {"username": "down_user", "password": "down password"})
        t.eq(st, 200, "stop while down: and the account logs in")
    finally:
        again.stop()


db = pglib.Postgres().init().start()
try:
    db.createdb("monkeytown")
    t.ok(True, f"PostgreSQL 15 on 127.0.0.1:{db.port}")
    migrations(db)
    srv = server(db).start()
    try:
        gid, pending = run(whole_game(srv, db))
        replay(db, gid)
        run(coalesced(srv, db))
        run(resent_rows(srv, db))
        run(outage(srv, db))
    finally:
        t.eq(srv.stop(), 0, "server stops cleanly")
    t.eq(db.query("monkeytown", f"SELECT status FROM games WHERE id = '{pending}'"), [["active"]],
         "the game left unfinished stays active after the shutdown")
    srv_next = server(db).start()
    try:
        st, _, summary = http("GET", f"{srv_next.url}/api/games/{pending}")
        t.eq((st, summary.get("status"), summary.get("toMove")), (200, "active", 1),
             "the next start rebuilds it from PostgreSQL, the player to move")
        t.eq(sorted(p["kind"] for p in summary.get("players", [])), ["agent", "human"],
             "with its player (held) and its agent")
        t.ok(any(l.startswith('rooms_restored_total{outcome="rebuilt"} 1') for l in
                 http("GET", srv_next.url + "/metrics")[2].splitlines()), "counted in /metrics")
    finally:
        t.eq(srv_next.stop(), 0, "that server stops cleanly too")
    t.eq([l for l in srv.log_lines() if l.get("level") == "error" and
          l.get("msg", "").startswith(("store", "database", "migration"))], [], "no store error in the log")
    down_at_start(db)
    stop_while_down(db)
    run(refused_rows(db))
finally:
    db.remove()
t.done()
