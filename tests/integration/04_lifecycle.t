#!/usr/bin/python3
# Process lifecycle: --help/--version, invalid configuration exits 2 naming the key, flag > env
# > file precedence, JSON log lines, graceful shutdown closing sockets with 1001 and exiting 0.
import asyncio, json, os, signal, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import websockets
from mt import BIN, Client, Server, Tap, free_port, http, run

t = Tap()

r = subprocess.run([BIN, "--help"], capture_output=True, text=True)
t.eq(r.returncode, 0, "--help exits 0")
t.ok("--port" in r.stdout and "MONKEYTOWN_" in r.stdout, "--help lists flags and env")
r = subprocess.run([BIN, "--version"], capture_output=True, text=True)
t.ok(r.returncode == 0 and r.stdout.startswith("monkeytown "), "--version prints the version")

for args, env, key in [(["--port", "99999"], {}, "port"),
                       (["--log-level", "chatty"], {}, "log-level"),
                       ([], {"MONKEYTOWN_MAX_CONNECTIONS": "-5"}, "max-connections"),
                       (["--bogus"], {}, "--bogus")]:
    r = subprocess.run([BIN, *args], capture_output=True, text=True, env={**os.environ, **env},
                       timeout=10)
    t.eq(r.returncode, 2, f"invalid {key} exits 2")
    t.ok(key in r.stderr, f"message names {key}", r.stderr)

cfg = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
cfg.write("max-connections = abc\n")
cfg.close()
r = subprocess.run([BIN, "--config", cfg.name], capture_output=True, text=True, timeout=10)
t.eq(r.returncode, 2, "invalid config file value exits 2")
t.ok("max-connections" in r.stderr and "config file" in r.stderr, "names key and file", r.stderr)

# Precedence: the file says one port, the environment another, the flag a third.
p_file, p_env, p_flag = free_port(), free_port(), free_port()
with open(cfg.name, "w") as f:
    f.write(f"port = {p_file}\n")
srv = Server("--config", cfg.name, env={"MONKEYTOWN_PORT": str(p_env)}, port=p_flag)
srv.start()
st, _, _ = http("GET", f"http://127.0.0.1:{p_flag}/health/live")
t.eq(st, 200, "flag beats env and file")
srv.stop()
srv = Server("--config", cfg.name, env={"MONKEYTOWN_PORT": str(p_env)})
srv.args = [a for a in srv.args if a not in ("--port", str(srv.port))]
srv.port = p_env
srv.start()
t.ok(True, "env beats file")
srv.stop()
os.unlink(cfg.name)

srv = Server().start()
# A second server on a port in use stops at once with an error (it must not run, or spin,
# without a listening socket).
with tempfile.TemporaryDirectory() as d:
    r = subprocess.run([BIN, "--host", "127.0.0.1", "--port", str(srv.port), "--data-dir", d,
                        "--games", srv.args[srv.args.index("--games") + 1]],
                       capture_output=True, text=True, timeout=15)
    t.ok(r.returncode not in (0, 2) and r.returncode > 0, f"port in use: exits non-zero ({r.returncode})")
    t.ok("cannot listen" in r.stdout + r.stderr, "and says it cannot listen")
lines = srv.log_lines()
t.ok(lines and all({"time", "level", "msg"} <= set(l) for l in lines), "log lines are JSON")
t.ok(any(l.get("url") == srv.url + "/" for l in lines), "start-up log prints the URL")


async def shutdown():
    clients = [await Client.connect(srv) for _ in range(5)]
    ans = await clients[0].request("heartbeat", {"timestamp": 1})
    t.eq(ans["type"], "heartbeat", "server answering before SIGTERM")
    start = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    codes = []
    for c in clients:
        try:
            await asyncio.wait_for(c.ws.recv(), 5)
        except websockets.ConnectionClosed as e:
            codes.append(e.code)
    t.eq(codes, [1001] * 5, "every socket closed with 1001")
    rc = await asyncio.get_running_loop().run_in_executor(None, srv.proc.wait, 10)
    t.eq(rc, 0, "exit status 0 after SIGTERM")
    t.ok(time.monotonic() - start < 5, "exited within 5 s")


run(shutdown())
t.done()
