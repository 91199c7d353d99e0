#!/usr/bin/python3
"""Games per second, or arena rooms, with one cluster instance against two, on this machine, in
one run.

Starts redis-server and PostgreSQL 15 on loopback (the test suite's helpers: needs root, like
the cluster tests), then for each setup starts fresh instances in cluster mode on one new
database and runs `mt-gamegen --mode games` (tic-tac-toe against the random agent, rooms local
to the instance the client reached):

  one        one instance, one generator of C clients
  two        two instances, one generator of C/2 clients on each (direct), run together
  two-nginx  two instances behind docker/nginx.conf, one generator of C clients through nginx:
             nginx hashes the client address, and the generator has one, so this shows what
             nginx costs rather than any spreading

With --rooms R, the arena instead (`mt-gamegen --mode rooms`: R rooms of 4 players, 60
updates a second, 10 inputs a second per player): one instance holding R rooms against two
holding R/2 each, every room's players on its instance; it prints the updates delivered against
those expected, the client jitter p99 and each instance's CPU.

    sudo python3 bench/cluster_games.py [--clients C] [--duration S] [--rooms R]
"""
import argparse, json, os, subprocess, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration", "lib"))
os.environ.setdefault("MT_BIN", os.path.join(HERE, "..", "build", "monkeytown"))
from mt import ROOT, Server, http, wait_for
from nginx_front import Nginx
from redis_server import Redis
import pg as pglib

ap = argparse.ArgumentParser()
ap.add_argument("--clients", type=int, default=200)
ap.add_argument("--duration", type=int, default=10)
ap.add_argument("--rooms", type=int, default=0)
ap.add_argument("--gamegen", default=os.path.join(HERE, "..", "build", "bench", "mt-gamegen"))
opts = ap.parse_args()


def instances(n, db_name):
    out = []
    for i in range(n):
        s = Server("--cluster", "--instance-id", f"i{i}", "--redis-url", redis.url,
                   "--database-url", db.url(db_name), "--sql-dir", os.path.join(ROOT, "sql"),
                   "--jwt-secret", "bench-secret-0123456789abcdef0123456789abcdef",
                   "--input-rate", "1000000", "--max-rooms", "1000000", "--guest-rate", "0",
                   "--trusted-proxies", "127.0.0.1", "--log-level", "warn")
        s.start()
        out.append(s)
    wait_for(lambda: all(http("GET", s.url + "/health/ready")[0] == 200 for s in out), timeout=60)
    return out


def live(url):
    try:
        return http("GET", url + "/health/live")[0] == 200
    except OSError:
        return False


def generate(port, clients):
    return subprocess.Popen([opts.gamegen, "--mode", "games", "--port", str(port), "--clients",
                             str(clients), "--duration", str(opts.duration), "--warmup", "2",
                             "--json"], stdout=subprocess.PIPE, text=True)


def generate_rooms(srv, rooms):
    return subprocess.Popen([opts.gamegen, "--mode", "rooms", "--port", str(srv.port), "--rooms",
                             str(rooms), "--state-period", "16.67", "--duration",
                             str(opts.duration), "--warmup", "3", "--server-pid",
                             str(srv.proc.pid), "--json"], stdout=subprocess.PIPE, text=True)


def result(p, key="games"):
    out, _ = p.communicate(timeout=opts.duration + 120)
    got = json.loads(out.strip().splitlines()[-1])
    return got if key is None else got[key]


def setup_rooms(name, n):
    db.createdb(name)
    servers = instances(n, name)
    try:
        gens = [generate_rooms(s, opts.rooms // n) for s in servers]
        runs = [result(p, None) for p in gens]
        states = sum(r["rooms"]["states_per_s"] for r in runs)
        want = sum(r["rooms"]["states_expected_per_s"] for r in runs)
        jitter = max(r["rooms"]["jitter_ms"]["p99"] for r in runs)
        cpu = " + ".join(f"{r.get('server', {}).get('cpu_pct', 0):.0f} %" for r in runs)
        print(f"{name:10s} {n} instance(s) {opts.rooms} rooms  updates {states:8.0f}/s of {want:8.0f}"
              f"   jitter p99 {jitter:6.1f} ms   CPU {cpu}", flush=True)
    finally:
        for s in servers:
            s.stop()


def setup(name, n, nginx=False):
    db.createdb(name)
    servers = instances(n, name)
    front = Nginx(servers).start() if nginx else None
    try:
        if front:
            wait_for(lambda: live(f"http://127.0.0.1:{front.port}"))
            gens = [generate(front.port, opts.clients)]
        else:
            gens = [generate(s.port, opts.clients // n) for s in servers]
        games = [result(p) for p in gens]
        per_s = sum(g["per_s"] for g in games)
        p50 = max(g["latency_ms"]["p50"] for g in games)
        p99 = max(g["latency_ms"]["p99"] for g in games)
        print(f"{name:10s} {n} instance(s) {per_s:9.1f} games/s   game p50 {p50:7.1f} ms  p99 {p99:7.1f} ms",
              flush=True)
    finally:
        if front:
            front.stop()
        for s in servers:
            s.stop()


if not pglib.available():
    sys.exit("needs root and PostgreSQL 15")
redis, db = Redis().start(), pglib.Postgres().init().start()
try:
    if opts.rooms:
        print(f"arena, {opts.rooms} rooms x 4 players, {opts.duration} s window, PostgreSQL store")
        setup_rooms("rooms_one", 1)
        setup_rooms("rooms_two", 2)
    else:
        print(f"tic-tac-toe against random, {opts.clients} clients, {opts.duration} s window, PostgreSQL store")
        setup("one", 1)
        setup("two", 2)
        setup("two_nginx", 2, nginx=True)
finally:
    redis.cleanup()
    db.remove()
