#!/usr/bin/python3
# The web client's files: content types, ETag and 304, gzip when accepted (with an ETag of its
# own and Vary: Accept-Encoding), the page's security headers, and no way out of the web
# directory (raw, encoded or through a symlink).
import gzip, http.client as http_client, os, socket, sys, tempfile
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import ROOT, Server, Tap

t = Tap()


def get(srv, path, headers=None):
    conn = http_client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, r.headers, body


def raw_get(srv, path):
    """Sends the path byte for byte (no client-side normalisation)."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return int(data.split(b" ", 2)[1]) if data else 0  # 0: the server hung up (lws refuses NULs)


web = tempfile.mkdtemp(prefix="mt-web-")
with open(os.path.join(web, "index.html"), "w") as f:
    f.write("<!doctype html><title>t</title>" + "<p>hello</p>" * 200)
with open(os.path.join(web, "app.js"), "w") as f:
    f.write("export const x = 1;\n" * 100)
secret = tempfile.NamedTemporaryFile("w", delete=False, suffix=".txt")
secret.write("do not serve")
secret.close()
os.symlink(secret.name, os.path.join(web, "leak.txt"))
with open(os.path.join(web, ".env.json"), "w") as f:  # a dotfile with a served extension
    f.write('{"secret": 1}')

with Server("--web-dir", web) as srv:
    st, h, body = get(srv, "/")
    t.eq(st, 200, "GET / serves index.html")
    t.ok(h["Content-Type"].startswith("text/html"), "as text/html")
    csp = h.get("Content-Security-Policy", "")
    t.ok("default-src 'self'" in csp and "frame-ancestors 'none'" in csp, "with a CSP: " + csp)
    t.eq(h.get("X-Content-Type-Options"), "nosniff", "and nosniff")
    etag = h.get("ETag")
    t.ok(bool(etag), "and an ETag")
    st, h, body = get(srv, "/", {"If-None-Match": etag})
    t.eq((st, body), (304, b""), "If-None-Match with the ETag -> 304, no body")
    st, h, body = get(srv, "/app.js", {"Accept-Encoding": "gzip, deflate"})
    t.eq(h.get("Content-Encoding"), "gzip", "gzip when the client accepts it")
    t.eq(gzip.decompress(body), b"export const x = 1;\n" * 100, "the gzip body is the file")
    t.ok(h["Content-Type"].startswith("text/javascript"), "JavaScript content type")
    st, h, body = get(srv, "/app.js")
    t.ok(h.get("Content-Encoding") is None and body.startswith(b"export"), "identity without Accept-Encoding")

    # Each encoding is its own representation: its own ETag, Vary on both, 304 per encoding.
    gz_hdr = {"Accept-Encoding": "gzip"}
    _, h_id, _ = get(srv, "/app.js")
    _, h_gz, _ = get(srv, "/app.js", gz_hdr)
    id_tag, gz_tag = h_id.get("ETag"), h_gz.get("ETag")
    t.ok(id_tag and gz_tag and id_tag != gz_tag, f"gzip and identity have their own ETags: {id_tag} {gz_tag}")
    t.eq((h_id.get("Vary"), h_gz.get("Vary")), ("Accept-Encoding", "Accept-Encoding"),
         "both say Vary: Accept-Encoding")
    st, h, body = get(srv, "/app.js", {**gz_hdr, "If-None-Match": gz_tag})
    t.eq((st, body, h.get("ETag"), h.get("Vary")), (304, b"", gz_tag, "Accept-Encoding"),
         "the gzip ETag with gzip accepted -> 304 with that ETag and Vary")
    st, h, body = get(srv, "/app.js", {"If-None-Match": id_tag})
    t.eq((st, h.get("ETag")), (304, id_tag), "the identity ETag without gzip -> 304")
    st, h, body = get(srv, "/app.js", {**gz_hdr, "If-None-Match": id_tag})
    t.eq((st, h.get("Content-Encoding"), h.get("ETag")), (200, "gzip", gz_tag),
         "the identity ETag when gzip is accepted -> 200 gzip, not 304")
    t.eq(gzip.decompress(body), b"export const x = 1;\n" * 100, "with the gzip body")
    st, h, body = get(srv, "/app.js", {"If-None-Match": gz_tag})
    t.eq((st, h.get("Content-Encoding"), body[:6]), (200, None, b"export"),
         "the gzip ETag without gzip -> 200 identity, not 304")
    st, h, body = get(srv, "/app.js", {**gz_hdr, "If-None-Match": f'"nope", W/{gz_tag}'})
    t.eq(st, 304, "If-None-Match: a list, and a weak W/ tag, match")
    st, h, body = get(srv, "/app.js", {**gz_hdr, "If-None-Match": "*"})
    t.eq(st, 304, "If-None-Match: * matches")
    st, h, body = get(srv, "/app.js", {"Accept-Encoding": "gzip;q=0, identity"})
    t.eq((h.get("Content-Encoding"), h.get("ETag")), (None, id_tag), "gzip;q=0 -> identity")
    st, h, body = get(srv, "/app.js", {"Accept-Encoding": "br, GZIP ; q=0.5"})
    t.eq((h.get("Content-Encoding"), h.get("ETag")), ("gzip", gz_tag), "GZIP;q=0.5 among others -> gzip")
    with open(os.path.join(web, "tiny.txt"), "w") as f:
        f.write("too small to compress")
    st, h, body = get(srv, "/tiny.txt", gz_hdr)
    t.eq((h.get("Content-Encoding"), h.get("Vary")), (None, None),
         "a file with one form only: no gzip, no Vary")
    for path in ["/../etc/passwd", "/%2e%2e/etc/passwd", "/%2E%2E%2Fetc%2Fpasswd", "/..%2fetc/passwd",
                 "/.%2e/.%2e/etc/passwd", "/leak.txt", "/.hidden", "/.env.json", "//etc/passwd"]:
        t.eq(raw_get(srv, path), 404, f"{path} -> 404")
    t.ok(raw_get(srv, "/app.js%00.html") in (0, 400, 404), "an encoded NUL is refused")
    st, _, _ = get(srv, "/nope.css")
    t.eq(st, 404, "a missing file -> 404")
os.unlink(secret.name)
t.done()
