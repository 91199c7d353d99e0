"""What the cluster tests share: real redis-server and PostgreSQL on loopback, instances in
cluster mode on them, and the questions the tests ask of an instance."""
import asyncio, os, subprocess
from mt import ROOT, Server, http
from redis_server import Redis
import pg as pglib


def available():
    return pglib.available()


class Cluster:
    """Redis and PostgreSQL started, the database made; instances added by instance()."""

    def __init__(self, secret):
        self.secret = secret
        self.redis, self.db = Redis().start(), pglib.Postgres().init().start()
        self.db.createdb("monkeytown")
        self.servers = []

    def instance(self, name, *extra, lease_ms=1500, heartbeat_ms=500, start=True):
        s = Server("--cluster", "--instance-id", name, "--redis-url", self.redis.url,
                   "--database-url", self.db.url("monkeytown"), "--sql-dir", os.path.join(ROOT, "sql"),
                   "--jwt-secret", self.secret, "--instance-lease-ms", str(lease_ms),
                   "--cluster-heartbeat-ms", str(heartbeat_ms), *extra)
        self.servers.append(s)
        if start:
            s.start()
        return s

    def owner(self, gid):
        """The instance the room directory names for gid, and the entry's fence (None, None
        without an entry)."""
        r = subprocess.run(["redis-cli", "-p", str(self.redis.port), "--raw", "GET", f"mt:room:{gid}"],
                           capture_output=True, text=True, timeout=10)
        parts = r.stdout.split()
        return (parts[0], int(parts[2])) if len(parts) == 3 else (None, None)

    def cleanup(self):
        for s in self.servers:
            s.stop()
        self.redis.cleanup()
        self.db.remove()


def metric(srv, name):
    """The sum of a /metrics series (name with or without its labels)."""
    st, _, text = http("GET", srv.url + "/metrics")
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
               if l.startswith(name + "{") or l.startswith(name + " "))


def listed(srv):
    """The ids srv's last heartbeat listed, or None."""
    try:
        st, _, body = http("GET", srv.url + "/api/cluster", timeout=5)
    except OSError:
        return None
    return sorted(i["id"] for i in body["instances"]) if st == 200 else None


def ready(srv):
    return http("GET", srv.url + "/health/ready")[0] == 200


async def join(client, gid, **payload):
    """join_game from another instance, asked again while the room's directory claim (made as
    the room opens, asynchronously) is not answered yet. Returns the last answer."""
    answer = None
    for _ in range(50):
        answer = await client.request("join_game", {"gameId": gid, **payload})
        if answer["type"] != "error":
            break
        await asyncio.sleep(0.1)
    return answer
