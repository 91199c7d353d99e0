#!/usr/bin/python3
# docker/nginx.conf for real: Debian's nginx on loopback in front of three instances. The file
# is the one the compose setup mounts; only the upstream's server lines, the listen address and
# (so that no root-owned directory is needed) the temp paths are replaced.
# The client talks to nginx from 127.0.0.2 (and 127.0.1.x) while nginx and the instances use
# 127.0.0.1, which
# the instances trust as their proxy: the client address they see must be 127.0.0.2, whatever
# X-Forwarded-For the client forges.
import asyncio, atexit, http.client, json, os, re, shutil, socket, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import ROOT, Client, Server, Tap, free_port, play_until_over, run
from nginx_front import Nginx

t = Tap()
CLIENT_IP = "127.0.0.2"
SECRET = "nginx-test-secret-0123456789abcdef0123456789"

servers = [Server("--jwt-secret", SECRET, "--trusted-proxies", "127.0.0.1") for _ in range(3)]
for s in servers:
    s.start()

front = Nginx(servers)
port = front.port
rendered = open(front.conf_path).read()
t.eq((front.n_servers, front.n_listen), (3, 1), "the shipped file has three upstream servers and one listen")
check = front.check()
t.ok(check.returncode == 0, "nginx -t accepts the file", check.stderr)
front.start()


@atexit.register
def cleanup():
    """nginx and the instances go with the test, whatever ends it."""
    front.stop()
    for s in servers:
        s.stop()



def request(method, path, body=None, headers=None):
    """One HTTP request to nginx from CLIENT_IP: (status, parsed JSON or text)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(CLIENT_IP, 0))
    data = json.dumps(body).encode() if body is not None else None
    hdrs = dict(headers or {})
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=hdrs)
    r = c.getresponse()
    raw = r.read().decode(errors="replace")
    c.close()
    try:
        return r.status, json.loads(raw)
    except ValueError:
        return r.status, raw


deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        if request("GET", "/health/live")[0] == 200:
            break
    except OSError:
        pass
    time.sleep(0.1)
st, _ = request("GET", "/health/live")
t.eq(st, 200, "/health/live through nginx")
st, cat = request("GET", "/api/games")
t.ok(st == 200 and any(g.get("name") == "tictactoe" for g in cat), "the catalog through nginx")


class Edge:
    ws_url = f"ws://127.0.0.1:{port}/ws"


async def play_through_nginx():
    c = await Client.connect(Edge, local_addr=(CLIENT_IP, 0), extra_headers={"X-Forwarded-For": "203.0.113.66"})
    created = await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"}, id_="g1")
    gid = created["payload"]["gameId"]
    over, _ = await play_until_over(c, gid)
    t.ok("result" in over["payload"], "a WebSocket game through nginx plays to its end")
    await c.close()
    # Clients are pinned by address: sixteen addresses land on more than one instance (all on
    # one would take odds of 3 * (1/3)^16), each address always on the same one.
    for i in range(16):
        for _ in range(2):
            o = await Client.connect(Edge, local_addr=(f"127.0.1.{i + 1}", 0))
            await o.close()


run(play_through_nginx())


def opened(srv):
    return [l for l in srv.log_lines() if l.get("msg") == "socket opened"]


sockets = [opened(s) for s in servers]
t.ok(sum(1 for x in sockets if x) >= 2, f"clients were spread over the instances: {[len(x) for x in sockets]}")
homes = {}
for k, x in enumerate(sockets):
    for l in x:
        homes.setdefault(l.get("peer"), set()).add(k)
t.ok(all(len(v) == 1 for v in homes.values()), "each client address always reached the same instance")
t.ok(CLIENT_IP in homes and all(p == CLIENT_IP or p.startswith("127.0.1.") for p in homes),
     f"the instances saw the clients' addresses, not nginx's nor the forged one: {sorted(homes)[:3]}...")
t.ok(re.search(r"location = /ws \{[^}]*proxy_read_timeout 3600s;[^}]*proxy_send_timeout 3600s;", rendered),
     "the /ws location keeps sockets open for an hour")

# A burst on the auth endpoints: nginx answers 429 once the burst is spent, however slow the
# instances are (limit_req decides on arrival). Straight to an instance the same burst is not
# refused by its own login throttles (20 failures a minute per address, 5 per account: each
# direct attempt names another account).
statuses = []
lock = threading.Lock()


def login():
    st, _ = request("POST", "/api/auth/login", {"username": "nobody", "password": "wrong password"})
    with lock:
        statuses.append(st)


threads = [threading.Thread(target=login) for _ in range(40)]
for th in threads:
    th.start()
for th in threads:
    th.join()
t.ok(statuses.count(429) >= 10 and set(statuses) <= {401, 429},
     f"40 logins at once through nginx: limit_req answers 429 past the burst ({statuses.count(429)} of 40)")
direct = []
for i in range(12):
    c = http.client.HTTPConnection("127.0.0.1", servers[0].port, timeout=30)
    c.request("POST", "/api/auth/login", body=json.dumps({"username": f"nobody{i}", "password": "x" * 8}),
              headers={"Content-Type": "application/json"})
    direct.append(c.getresponse().status)
    c.close()
t.ok(429 not in direct, f"12 failed logins straight to an instance are not refused: {sorted(set(direct))}")

t.done()
