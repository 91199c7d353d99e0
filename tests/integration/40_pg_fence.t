#!/usr/bin/python3
# Fencing tokens in PostgreSQL (sql/006_room_fence.sql) on a real PostgreSQL 15, migrated by the
# server: an event or input with a lower fence than its game's is refused ("stale fence"), an
# equal or higher one is accepted, a games row written with a lower fence is refused and one
# with a higher fence raises the game's, which then refuses the old owner's next writes. A
# server whose game was taken over drops that game's rows (log line, store_fenced_writes_total)
# and goes on writing its other games. In cluster mode (real redis-server) a room's games row
# carries the fence its owner claimed, and after Redis comes back empty the room's fence counter
# starts above the database's. Every wait polls with a deadline.
import asyncio, os, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import ROOT, Client, Server, Tap, http, run, wait_for
from redis_server import Redis
import pg as pglib

if not pglib.available():
    print("1..0 # SKIP needs root and PostgreSQL 15 (apt-get install postgresql)")
    sys.exit(0)

t = Tap()
SQL_DIR = os.path.join(ROOT, "sql")
SECRET = "fence-test-secret-0123456789abcdef0123456789abc"
GAME = "00000000-0000-4000-8000-00000000f001"
db = pglib.Postgres().init().start()
servers, redis = [], None


def start(*args):
    s = Server("--database-url", db.url("monkeytown"), "--sql-dir", SQL_DIR, *args)
    servers.append(s)
    s.start()
    return s


def sql(text):
    """Runs text with psql; returns (ok, stdout, stderr)."""
    r = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(db.port), "-U", "postgres", "-d",
                        "monkeytown", "-v", "ON_ERROR_STOP=1", "-Atc", text],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return r.returncode == 0, r.stdout.strip(), r.stderr.strip()


def one(text):
    ok, out, err = sql(text)
    return out if ok else None


def event(game, seq, fence):
    return sql(f"INSERT INTO game_events (game_id, seq, type, payload, t, fence) VALUES "
               f"('{game}', {seq}, 'x', '{{}}', 0, {fence})")


def refused(res, what):
    ok, _, err = res
    t.ok(not ok and "stale fence" in err, what, err)


def metric(srv, name):
    st, _, text = http("GET", srv.url + "/metrics")
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
               if l.startswith(name + "{") or l.startswith(name + " "))


def triggers():
    t.eq(one("SELECT count(*) FROM schema_migrations WHERE version = 6"), "1", "the server applied sql/006")
    t.eq(one("SELECT count(*) FROM information_schema.columns WHERE column_name = 'fence' AND "
             "table_name IN ('games', 'game_participants', 'game_events', 'game_inputs')"), "4",
         "games and the game's rows have a fence column")
    t.ok(sql(f"INSERT INTO games (id, game, version, status, seed, seats, fence) VALUES "
             f"('{GAME}', 'tictactoe', 'v', 'active', 1, 2, 5)")[0], "a games row at fence 5")
    refused(event(GAME, 1, 4), "an event with a lower fence is refused")
    t.ok(event(GAME, 2, 5)[0], "an event with the game's fence is accepted")
    t.ok(event(GAME, 3, 6)[0], "one with a higher fence too")
    refused(sql(f"INSERT INTO game_inputs (game_id, ord, seat, source, t, fence) VALUES "
                f"('{GAME}', 1, 1, 'player', 0, 4)"), "an input with a lower fence is refused")
    refused(sql(f"INSERT INTO game_participants (game_id, seat, name, fence) VALUES "
                f"('{GAME}', 1, 'ann', 4)"), "a participant with a lower fence is refused")
    refused(sql(f"UPDATE games SET status = 'aborted', fence = 4 WHERE id = '{GAME}'"),
            "a games row written with a lower fence is refused")
    t.ok(sql(f"UPDATE games SET fence = 7 WHERE id = '{GAME}'")[0], "a higher fence takes over")
    t.eq(one(f"SELECT fence FROM games WHERE id = '{GAME}'"), "7", "and raises the game's")
    refused(event(GAME, 4, 6), "the old owner's next event is refused")
    refused(sql(f"INSERT INTO games (id, game, version, status, seed, seats, fence) VALUES "
                f"('{GAME}', 'tictactoe', 'v', 'completed', 1, 2, 6) ON CONFLICT (id) DO UPDATE "
                f"SET status = EXCLUDED.status, fence = EXCLUDED.fence"),
            "and so is its upsert of the games row")
    t.eq(one(f"SELECT count(*) FROM game_events WHERE game_id = '{GAME}'"), "2",
         "only the accepted events are stored")
    t.ok(event("00000000-0000-4000-8000-00000000f002", 1, 0)[0],
         "fence 0 is accepted while the game's is 0 (and without a games row)")


async def create(srv):
    c = await Client.connect(srv)
    made = await c.request("create_game", {"game": "tictactoe"})
    return c, made["payload"]["gameId"]


async def taken_over(srv):
    """A game of srv (fence 0) taken over by a later owner: srv's writes of it are dropped."""
    c, gid = await create(srv)
    t.eq(wait_for(lambda: one(f"SELECT fence FROM games WHERE id = '{gid}'")), "0",
         "a single server writes its games with fence 0")
    t.ok(sql(f"UPDATE games SET fence = 3 WHERE id = '{gid}'")[0], "another owner takes it over")
    await c.request("leave_game", {"gameId": gid})  # the room closes: a games row with fence 0
    t.ok(wait_for(lambda: metric(srv, "store_fenced_writes_total") > 0),
         "the refused write is dropped and counted in store_fenced_writes_total")
    t.ok(wait_for(lambda: "stale fence: this instance no longer owns the game" in srv.logs()),
         "with a log line")
    t.eq(one(f"SELECT status FROM games WHERE id = '{gid}'"), "waiting",
         "the game's row is as the new owner left it")
    c2, other = await create(srv)
    t.ok(wait_for(lambda: one(f"SELECT count(*) FROM games WHERE id = '{other}'") == "1"),
         "the server goes on writing its other games")
    await c.close()
    await c2.close()


async def cluster(srv):
    c, gid = await create(srv)
    got = wait_for(lambda: one(f"SELECT fence FROM games WHERE id = '{gid}' AND fence >= 1"))
    t.ok(got and int(got) >= 1, f"a cluster owner writes its game with the fence it claimed ({got})")
    c2 = await Client.connect(srv)
    joined = await c2.request("join_game", {"gameId": gid})
    t.ok(joined["type"] != "error", "a second player joins", joined)
    t.ok(wait_for(lambda: one(f"SELECT count(*) FROM game_events WHERE game_id = '{gid}' AND "
                              f"fence = {got or 0}") not in (None, "0")),
         "the events written since carry the fence")
    t.ok(wait_for(lambda: one(f"SELECT count(*) FROM game_participants WHERE game_id = '{gid}' "
                              f"AND seat = 2 AND fence = {got or 0}") == "1"),
         "and so does the new seat's participants row")
    await c.close()
    await c2.close()
    return gid


def redis_lost_data(gid, redis):
    """A new process under the stopped one's id takes its room over (fence 2). Redis restarts
    empty: the room is claimed again, and the room's fence counter starts from the fence held
    for it, not from 1, so the next owner's fence is above the database's."""
    args = ("--cluster", "--instance-id", "fence-a", "--redis-url", redis.url, "--jwt-secret", SECRET,
            "--instance-lease-ms", "1500", "--cluster-heartbeat-ms", "500")
    again = start(*args)
    fence = wait_for(lambda: (lambda f: f if f and int(f) >= 2 else None)(
        one(f"SELECT fence FROM games WHERE id = '{gid}'")), timeout=30)
    t.ok(fence, f"a new process under that id takes the room over with a raised fence ({fence})")
    redis.stop()
    redis.start()
    cli = lambda *a: subprocess.run(["redis-cli", "-p", str(redis.port), "--raw", *a],
                                    capture_output=True, text=True, timeout=10).stdout.strip()
    entry = wait_for(lambda: cli("GET", f"mt:room:{gid}"), timeout=30)
    t.ok(entry.startswith("fence-a "), f"Redis back empty: the owner claims its room again ({entry})")
    t.ok(int(cli("GET", f"mt:fence:{gid}") or 0) > int(fence or 0),
         f"with a fence above the database's ({cli('GET', f'mt:fence:{gid}')} > {fence})")
    t.eq(again.stop(), 0, "and stops cleanly")


try:
    db.createdb("monkeytown")
    single = start()
    triggers()
    run(taken_over(single))
    t.eq(single.stop(), 0, "the single server stops cleanly")
    redis = Redis().start()
    member = start("--cluster", "--instance-id", "fence-a", "--redis-url", redis.url,
                   "--jwt-secret", SECRET, "--instance-lease-ms", "1500",
                   "--cluster-heartbeat-ms", "500")
    gid = run(cluster(member))
    t.eq(member.stop(), 0, "the cluster instance stops cleanly")
    redis_lost_data(gid, redis)
finally:
    for s in servers:
        s.stop()
    if redis:
        redis.cleanup()
    db.remove()
t.done()
