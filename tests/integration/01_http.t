#!/usr/bin/python3
# HTTP on the shared port: health endpoints, JSON 404/405/413, /metrics in Prometheus format.
import http.client as http_client
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Server, Tap, http

t = Tap()
with Server("--max-body-bytes", "1024") as srv:
    st, h, body = http("GET", srv.url + "/health/live")
    t.eq(st, 200, "live is 200")
    t.eq(body.get("status"), "alive", "live says alive")
    t.ok(isinstance(body.get("uptime"), (int, float)), "live has uptime")

    st, h, body = http("GET", srv.url + "/health/ready")
    t.eq(st, 200, "ready is 200")
    t.eq(body.get("status"), "ready", "ready says ready")
    t.ok(all(c.get("healthy") is True for c in body["checks"].values()), "every check healthy",
         body)

    st, h, body = http("GET", srv.url + "/no/such/path")
    t.eq(st, 404, "unknown path is 404")
    t.eq(body["error"]["code"], "NOT_FOUND", "404 body is a JSON error")
    t.ok("json" in h.get("Content-Type"), "404 is JSON")

    st, h, body = http("DELETE", srv.url + "/health/live")
    t.eq(st, 405, "wrong method is 405")
    t.ok("GET" in (h.get("Allow") or ""), "405 names the allowed method", dict(h))

    st, h, body = http("POST", srv.url + "/api/auth/guest", body=b"x" * 5000)
    t.eq(st, 413, "oversized body is 413")
    t.eq(body["error"]["code"], "TOO_LARGE", "413 body is a JSON error")

    conn = http_client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.putrequest("POST", "/api/auth/guest")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"2\r\n{}\r\n0\r\n\r\n")
    t.eq(conn.getresponse().status, 411, "a chunked body without Content-Length -> 411")
    conn.close()

    st, h, text = http("GET", srv.url + "/metrics")
    t.eq(st, 200, "metrics is 200")
    t.ok(h.get("Content-Type", "").startswith("text/plain"), "metrics is text/plain")
    lines = text.splitlines()
    types = {}
    for line in lines:
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
    for name, kind in [("ws_connections", "gauge"), ("ws_events_total", "counter"),
                       ("ws_event_latency_ms", "histogram"), ("active_game_sessions", "gauge"),
                       ("players_online", "gauge"), ("errors_total", "counter"),
                       ("redis_latency_ms", "histogram"), ("tick_duration_ms", "histogram"),
                       ("tick_lateness_ms", "histogram")]:
        t.eq(types.get(name), kind, f"metric {name} is a {kind}")
    helps = {l.split(" ")[2] for l in lines if l.startswith("# HELP ")}
    t.eq(helps, set(types), "every metric has HELP and TYPE")
    # Every sample line parses as name{labels} value and belongs to a declared metric.
    bad = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        name_part, _, value = line.rpartition(" ")
        base = name_part.split("{")[0]
        for suffix in ("_bucket", "_sum", "_count"):
            if base.endswith(suffix) and base[: -len(suffix)] in types:
                base = base[: -len(suffix)]
        try:
            float(value)
        except ValueError:
            bad.append(line)
        if base not in types:
            bad.append(line)
    t.eq(bad, [], "every sample line is well-formed")
    t.ok('http_requests_total{status="404"} 1' in text, "requests are counted by status")
t.done()
