#!/usr/bin/python3
# What a game folder ships for the browser (src/api/api_gamefiles.c): GET /games/:name/web/:file
# and GET /games/:name/rules.md serve the folder's view and rules with the right content types,
# ETag and gzip, for games the catalog accepted only; anything else is 404: unknown and refused
# games, missing files, traversal (raw or encoded), dotfiles, subfolders, symlinks that leave the
# folder, unknown types, files over the size cap.
import gzip, http.client as http_client, os, shutil, sys, tempfile
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import ROOT, Server, Tap

t = Tap()
CAP = 512 * 1024  # API_GAMEFILES_MAX


def request(srv, path, method="GET", headers=None):
    """Sends the path byte for byte (http.client does not normalise it)."""
    conn = http_client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request(method, path, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, r.headers, body


games = tempfile.mkdtemp(prefix="mt-games-")
shutil.copytree(os.path.join(ROOT, "games", "tictactoe"), os.path.join(games, "tictactoe"))
ttt_web = os.path.join(games, "tictactoe", "web")
# A game the catalog refuses (its game.lua does not parse), with a view all the same.
shutil.copytree(os.path.join(ROOT, "tests", "integration", "fixtures", "games", "syntax"),
                os.path.join(games, "syntax"))
os.makedirs(os.path.join(games, "syntax", "web"))
with open(os.path.join(games, "syntax", "web", "view.js"), "w") as f:
    f.write("export function createView() {}\n")
# Things in a served folder that must not be served.
secret = tempfile.NamedTemporaryFile("w", delete=False, suffix=".js")
secret.write("// do not serve")
secret.close()
os.symlink(secret.name, os.path.join(ttt_web, "leak.js"))
with open(os.path.join(ttt_web, ".hidden.js"), "w") as f:
    f.write("// a dotfile")
with open(os.path.join(ttt_web, "notes.lua"), "w") as f:
    f.write("-- no content type for this")
with open(os.path.join(ttt_web, "big.js"), "w") as f:
    f.write("/" * (CAP + 1))
with open(os.path.join(ttt_web, "max.js"), "w") as f:
    f.write("/" * CAP)
os.makedirs(os.path.join(ttt_web, "sub"))
with open(os.path.join(ttt_web, "sub", "deep.js"), "w") as f:
    f.write("// one level only")

with Server("--games", games) as srv:
    st, h, body = request(srv, "/games/tictactoe/web/view.js")
    with open(os.path.join(ttt_web, "view.js"), "rb") as f:
        t.eq((st, body), (200, f.read()), "the game's view.js is served as it is on disk")
    t.eq(h.get("Content-Type"), "text/javascript; charset=utf-8", "as JavaScript (a module import needs it)")
    t.eq(h.get("X-Content-Type-Options"), "nosniff", "with nosniff")
    etag = h.get("ETag")
    t.eq(request(srv, "/games/tictactoe/web/view.js", headers={"If-None-Match": etag})[0], 304,
         "with an ETag: 304 when it matches")
    st, h, body = request(srv, "/games/tictactoe/web/view.js", headers={"Accept-Encoding": "gzip"})
    t.eq((h.get("Content-Encoding"), gzip.decompress(body)[:2]), ("gzip", b"//"), "gzip when accepted")
    st, h, _ = request(srv, "/games/tictactoe/web/view.css")
    t.eq((st, h.get("Content-Type")), (200, "text/css; charset=utf-8"), "its stylesheet as text/css")
    st, h, body = request(srv, "/games/tictactoe/rules.md")
    t.eq((st, h.get("Content-Type")), (200, "text/markdown; charset=utf-8"), "rules.md as text/markdown")
    t.ok(body.startswith(b"# Tic-tac-toe"), "with the rules' text")
    st, h, body = request(srv, "/games/tictactoe/rules.md", method="HEAD")
    t.eq((st, body, h.get("Content-Length")), (200, b"", str(os.path.getsize(os.path.join(games, "tictactoe", "rules.md")))),
         "HEAD answers the headers only")
    st, _, _ = request(srv, "/games/tictactoe/web/max.js")
    t.eq(st, 200, f"a file of exactly {CAP} bytes is served")

    st, h, body = request(srv, "/games/nosuch/web/view.js")
    t.eq((st, h.get("Content-Type")), (404, "application/json"), "an unknown game -> 404 (a JSON error)")
    t.ok(b"NOT_FOUND" in body, "code NOT_FOUND")
    t.eq(request(srv, "/games/nosuch/rules.md")[0], 404, "an unknown game's rules -> 404")
    t.eq(request(srv, "/games/syntax/web/view.js")[0], 404, "a game the catalog refused serves nothing")
    t.eq(request(srv, "/games/tictactoe/web/missing.js")[0], 404, "a missing file -> 404")
    cases = {
        "/games/tictactoe/web/../game.lua": "a raw .. segment",
        "/games/tictactoe/web/..%2fgame.lua": "an encoded ../",
        "/games/tictactoe/web/%2e%2e%2f%2e%2e%2f..%2fsrc%2fmain.c": "an encoded climb out of the games folder",
        "/games/tictactoe/web/..%2f..%2f..%2fetc%2fpasswd": "an encoded climb to /etc",
        "/games/..%2f..%2fetc/web/passwd": "traversal in the game name",
        "/games/%2e%2e/rules.md": "an encoded .. as the game",
        "/games/tictactoe/web/leak.js": "a symlink out of the folder",
        "/games/tictactoe/web/.hidden.js": "a dotfile",
        "/games/tictactoe/web/notes.lua": "a file type the server does not serve",
        "/games/tictactoe/web/big.js": f"a file over {CAP} bytes",
        "/games/tictactoe/web/sub/deep.js": "a file in a subfolder",
        "/games/tictactoe/web/": "the folder itself",
        "/games/tictactoe/game.lua": "the game's script",
        "/games/tictactoe/web/view.js%00.css": "an encoded NUL",
    }
    for path, what in cases.items():
        try:
            st = request(srv, path)[0]
        except http_client.RemoteDisconnected:
            st = 0  # the server hung up (lws refuses NULs)
        t.ok(st in (0, 400, 404), f"{what}: {path} -> {st}")
    st, _, _ = request(srv, "/games/tictactoe/web/view.js", method="POST")
    t.eq(st, 405, "POST -> 405")
    t.eq(request(srv, "/games/tictactoe/web/view.js")[0], 200, "the server still serves after all that")
os.unlink(secret.name)
shutil.rmtree(games)
t.done()
