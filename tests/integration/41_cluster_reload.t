#!/usr/bin/python3
# Hot reload in a cluster (--cluster, real redis-server and PostgreSQL on loopback): a script
# version refused by one instance is reported by the catalog of every instance, naming the
# instance that refused it, and the others keep serving their version; a valid edit seen by
# both is swapped in by both, as one version. Each instance here has its own copy of games/, so
# that only one of them sees the broken edit.
import os, shutil, sys, tempfile
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import ROOT, Tap, http, wait_for
from cluster import Cluster, available, listed

if not available():
    print("1..0 # SKIP needs root and PostgreSQL 15 (apt-get install postgresql)")
    sys.exit(0)

t = Tap()
tmp = tempfile.mkdtemp(prefix="mt-creload-")
cl = Cluster("reload-secret-0123456789abcdef0123456789abcdef")


def instance(name):
    games = os.path.join(tmp, name)
    shutil.copytree(os.path.join(ROOT, "games"), games)
    return cl.instance(name, "--games", games), games


def catalog(srv, name):
    st, _, items = http("GET", f"{srv.url}/api/games")
    return next((i for i in items if i["name"] == name), None)


try:
    (a, games_a), (b, games_b) = instance("alpha"), instance("beta")
    t.ok(wait_for(lambda: listed(a) == listed(b) == ["alpha", "beta"]), "two instances")
    # The relay's subscription is confirmed shortly after the start: wait for the readiness.
    t.ok(wait_for(lambda: http("GET", b.url + "/health/ready")[0] == 200), "both ready")
    serving = catalog(b, "tictactoe")["version"]
    path = os.path.join(games_a, "tictactoe", "game.lua")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("return", "return {{", 1))
    here = wait_for(lambda: (catalog(a, "tictactoe") or {}).get("refused"))
    t.ok(here, "alpha refuses its broken edit")
    there = wait_for(lambda: (catalog(b, "tictactoe") or {}).get("refused"))
    t.ok(there and there.get("instance") == "alpha" and there.get("version") == here.get("version"),
         f"beta's catalog reports alpha's refusal of that version: {there}")
    t.eq(catalog(b, "tictactoe").get("version"), serving, "and beta keeps serving its version")
    t.ok(catalog(b, "tictactoe").get("available"), "which stays available")
    # A valid edit reaching both instances (one shared games/ in docker-compose.yml): each
    # validates it and both swap in the same version.
    old = catalog(a, "connect4")["version"]
    for games in (games_a, games_b):
        with open(os.path.join(games, "connect4", "game.lua"), "a") as f:
            f.write("\n-- edited for the cluster reload test\n")
    new = wait_for(lambda: (lambda x, y: x if x == y and x != old else None)(
        catalog(a, "connect4").get("version"), catalog(b, "connect4").get("version")))
    t.ok(new, f"a valid edit: both instances serve the same new version ({old} -> {new})")
finally:
    cl.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)
t.done()
