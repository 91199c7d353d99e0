#!/usr/bin/python3
"""A cluster behind nginx for the browser tests (e2e.js's ClusterFront runs this file): a real
redis-server and PostgreSQL 15 on loopback, N `monkeytown --cluster` instances on them and
docker/nginx.conf in front, all started with the integration tests' own helpers
(tests/integration/lib: cluster.py, nginx_front.py), so the browser tests run the very setup
42_cluster_nginx.t and 43_failover.t check.

    /usr/bin/python3 cluster_front.py [--games DIR] alpha beta gamma

Once everything answers, prints one JSON line on stdout:
    {"url": <nginx's http URL>, "instances": [{"id", "url", "pid", "log"}, ...]}
or, when PostgreSQL 15 cannot run here, {"skip": <why>}. Then reads commands on stdin, one a
line, each answered by one JSON line:
    kill <id>    SIGKILL the instance and reap it: {"killed": <id>, "status": <wait status>}
At the end of stdin (the test finished, or died) or on SIGTERM, stops nginx, the instances,
Redis and PostgreSQL and removes their directories."""
import json, os, shutil, signal, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "integration", "lib"))
from mt import http, wait_for
from cluster import Cluster, available, listed, ready
from nginx_front import Nginx

# Any 32+ characters: the instances share it, so a token one issued is good on every other.
SECRET = "e2e-cluster-secret-0123456789abcdef0123456789"


def say(obj):
    print(json.dumps(obj), flush=True)


def main(ids, extra):
    if not available():
        return say({"skip": "needs root and PostgreSQL 15 (apt-get install postgresql)"})
    missing = [b for b in ("redis-server", "nginx") if not shutil.which(b)]
    if missing:
        return say({"skip": f"needs {' and '.join(missing)}"})
    cl, front = None, None
    try:
        cl = Cluster(SECRET)
        # nginx is the only client the instances see: trusting it makes them count the
        # browser's address (X-Forwarded-For), as in production.
        servers = [cl.instance(i, "--trusted-proxies", "127.0.0.1", *extra) for i in ids]
        front = Nginx(servers).start()
        front_url = f"http://127.0.0.1:{front.port}"

        def up():
            try:
                return http("GET", front_url + "/api/cluster", timeout=5)[0] == 200
            except OSError:
                return False
        ok = wait_for(lambda: all(listed(s) == sorted(ids) for s in servers) and
                      all(ready(s) for s in servers) and up(), timeout=60)
        if not ok:
            raise RuntimeError("the cluster did not come up:\n" + "\n".join(s.logs()[-3000:] for s in servers))
        by_id = dict(zip(ids, servers))
        say({"url": front_url,
             "instances": [{"id": i, "url": s.url, "pid": s.proc.pid, "log": s.log_path}
                           for i, s in by_id.items()]})
        for line in sys.stdin:
            cmd = line.split()
            if len(cmd) == 2 and cmd[0] == "kill" and cmd[1] in by_id:
                proc = by_id[cmd[1]].proc
                proc.send_signal(signal.SIGKILL)
                say({"killed": cmd[1], "status": proc.wait()})
            elif cmd:
                say({"error": f"unknown command: {line.strip()}"})
    finally:
        if front:
            front.stop()
        if cl:
            cl.cleanup()


def on_term(*_):
    raise SystemExit(0)  # runs main's cleanup


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    args = sys.argv[1:]
    extra = args[:2] if args[:1] == ["--games"] else []
    main(args[len(extra):] or ["alpha", "beta"], extra)
