#!/usr/bin/python3
# SIGHUP: the process stays up, re-reads its config file, applies the reloadable settings
# (log-level and a rate limit here), says which changed settings need a restart, and rescans the
# scripts; a file with an invalid value keeps every running setting and logs an error.
import asyncio, os, signal, sys, tempfile, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Server, Tap, http, run

t = Tap()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def wait_log(srv, pred, after, timeout=10):
    """The first log line past index after that pred accepts, or None."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        lines = srv.log_lines()[after:]
        hit = next((l for l in lines if pred(l)), None)
        if hit:
            return hit
        time.sleep(0.05)
    return None


def hangup(srv, pred):
    mark = len(srv.log_lines())
    srv.proc.send_signal(signal.SIGHUP)
    return wait_log(srv, pred, mark), mark


async def open_guest(srv):
    c = await Client.connect(srv)
    await c.close()


def debug_lines_since(srv, mark):
    return [l for l in srv.log_lines()[mark:] if l.get("level") == "debug"]


conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False).name
write(conf, "log-level = info\nguest-rate = 100\n")
srv = Server("--config", conf)
i = srv.args.index("--log-level")  # the harness's flag would beat the file
del srv.args[i:i + 2]
srv.start()

mark = len(srv.log_lines())
run(open_guest(srv))
t.eq(debug_lines_since(srv, mark), [], "log-level info from the file: no debug lines")

# Reload: log-level and guest-rate change (reloadable), max-message-bytes too (needs a restart).
write(conf, "log-level = debug\nguest-rate = 1\nmax-message-bytes = 4096\n")
done, mark = hangup(srv, lambda l: "settings reloaded" in l.get("msg", ""))
t.ok(done is not None, "SIGHUP reloads the settings", srv.logs()[-2000:])
t.eq(srv.proc.poll(), None, "and the process is still running")
t.eq(http("GET", srv.url + "/health/live")[0], 200, "and serving")
t.ok(done and set(done.get("changed", "").split(",")) == {"log-level", "guest-rate"},
     f"the line names what changed ({done and done.get('changed')})")
warn = wait_log(srv, lambda l: "restart" in l.get("msg", ""), mark)
t.ok(warn and warn.get("settings") == "max-message-bytes", "a changed setting that needs a restart is named", warn)
mark = len(srv.log_lines())
run(open_guest(srv))
t.ok(any(l.get("msg") == "socket opened" for l in debug_lines_since(srv, mark)),
     "log-level debug applies: the socket is logged at debug")
st, h, _ = http("POST", srv.url + "/api/auth/guest")
t.eq(st, 429, "guest-rate 1 applies: the next guest from this address is refused")

# An invalid value: nothing changes, an error is logged, the process stays.
write(conf, "log-level = warn\nguest-rate = lots\n")
err, mark = hangup(srv, lambda l: l.get("level") == "error")
t.ok(err is not None and "guest-rate" in err.get("error", ""), "an invalid value is logged as an error naming it", err)
t.eq(srv.proc.poll(), None, "the process is still running")
st, _, _ = http("POST", srv.url + "/api/auth/guest")
t.eq(st, 429, "guest-rate keeps its running value (1)")
st, _, reg = http("POST", srv.url + "/api/auth/register", {"username": "hup_user", "password": "hup password"})
mark = len(srv.log_lines())


async def with_token():
    c = await Client.connect(srv, token=reg["token"])
    await c.close()
run(with_token())
t.ok(any(l.get("msg") == "socket opened" for l in debug_lines_since(srv, mark)),
     "log-level keeps its running value (debug), not the file's warn")
t.eq(srv.stop(), 0, "SIGTERM still stops it cleanly (exit 0)")
os.unlink(conf)
t.done()
