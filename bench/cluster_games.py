#!/usr/bin/python3
"""Games per second with one cluster instance against two, on this machine, in one run.

Starts redis-server and PostgreSQL 15 on loopback (the test suite's helpers: needs root, like
the cluster tests), then for each setup starts fresh instances in cluster mode on one new
database and runs `mt-gamegen --mode games` (tic-tac-toe against the random agent, rooms local
to the instance the client reached):

  one        one instance, one generator of C clients
  two        two instances, one generator of C/2 clients on each (direct), run together
  two-nginx  two instances behind docker/nginx.conf, one generator of C clients through nginx:
             nginx hashes the client address, and the generator has one, so this shows what
             nginx costs rather than any spreading

    sudo python3 bench/cluster_games.py [--clients C] [--duration S] [--server BIN]
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


def result(p):
    out, _ = p.communicate(timeout=opts.duration + 120)
    return json.loads(out.strip().splitlines()[-1])["games"]


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
    print(f"tic-tac-toe against random, {opts.clients} clients, {opts.duration} s window, PostgreSQL store")
    setup("one", 1)
    setup("two", 2)
    setup("two_nginx", 2, nginx=True)
finally:
    redis.cleanup()
    db.remove()
