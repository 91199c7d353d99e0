#!/usr/bin/python3
# docker-compose.yml checked offline with Debian's docker-compose: the file and its single
# profile are valid with .env.example; three instances in cluster mode with distinct ids, each
# with its own data volume and a health check; every MONKEYTOWN_ variable it sets is an option
# of the server (src/core/config.c), so no setting is silently ignored.
import os, re, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import ROOT, Tap
import yaml

t = Tap()


def compose(*args):
    return subprocess.run(["docker-compose", "--project-directory", ROOT, "-f",
                           os.path.join(ROOT, "docker-compose.yml"), "--env-file",
                           os.path.join(ROOT, ".env.example"), *args],
                          capture_output=True, text=True, timeout=60)


p = compose("config", "-q")
t.ok(p.returncode == 0, "docker-compose config accepts the file with .env.example", p.stderr)
p = compose("--profile", "single", "config", "-q")
t.ok(p.returncode == 0, "and its single-instance profile", p.stderr)
p = compose("--profile", "single", "config")
doc = yaml.safe_load(p.stdout) if p.returncode == 0 else {"services": {}}
services = doc["services"]

options = set(re.findall(r'\{"([a-z0-9-]+)", OPT_', open(os.path.join(ROOT, "src/core/config.c")).read()))
known = {"MONKEYTOWN_" + o.upper().replace("-", "_") for o in options}
instances = {n: s for n, s in services.items() if n.startswith("monkeytown-")}
t.eq(sorted(instances), ["monkeytown-1", "monkeytown-2", "monkeytown-3"], "three instances")
ids = [s["environment"].get("MONKEYTOWN_INSTANCE_ID") for s in instances.values()]
t.eq(sorted(ids), sorted(instances), "each with its own instance id")
t.ok(all(s["environment"].get("MONKEYTOWN_CLUSTER") == "true" and s["environment"].get("MONKEYTOWN_REDIS_URL")
         and s["environment"].get("MONKEYTOWN_DATABASE_URL") and s["environment"].get("MONKEYTOWN_TRUSTED_PROXIES")
         for s in instances.values()), "in cluster mode, with Redis, PostgreSQL and nginx as trusted proxy")
secrets = {s["environment"].get("MONKEYTOWN_JWT_SECRET") for s in instances.values()}
t.ok(len(secrets) == 1 and len(secrets.pop() or "") >= 32, "sharing one token secret of 32 characters or more")
datas = [next((v for v in s.get("volumes", []) if "/var/lib/monkeytown" in str(v)), None) for s in instances.values()]
t.ok(all(datas) and len({str(d).split(":")[0] if isinstance(d, str) else d.get("source") for d in datas}) == 3,
     "each with a data volume of its own")
t.ok(all(any("/opt/monkeytown/games" in str(v) for v in s.get("volumes", [])) and
         any("/opt/monkeytown/agents" in str(v) for v in s.get("volumes", [])) for s in instances.values()),
     "games and agents mounted, so hot reload reaches every instance")
for name in ("nginx", "redis", "postgres", "redis-commander", *instances, "monkeytown"):
    t.ok(name in services and "healthcheck" in services[name], f"{name} has a health check")
t.ok("--appendonly" in services["redis"].get("command", []) and "everysec" in services["redis"].get("command", []),
     "Redis keeps an append-only file, synced every second")
t.ok(any("docker/nginx.conf" in str(v) for v in services["nginx"].get("volumes", [])),
     "nginx runs docker/nginx.conf")
used = {k for s in services.values() for k in (s.get("environment") or {}) if k.startswith("MONKEYTOWN_")}
t.eq(sorted(used - known), [], f"every MONKEYTOWN_ variable is a server option ({len(used)} used)")
env_keys = {l.split("=")[0] for l in open(os.path.join(ROOT, ".env.example")) if "=" in l and not l.startswith("#")}
wanted = set(re.findall(r"\$\{([A-Z_]+)", open(os.path.join(ROOT, "docker-compose.yml")).read()))
t.eq(sorted(wanted - env_keys), [], ".env.example names every variable the file reads")
t.done()
