#!/usr/bin/python3
# Hot reload from a git work tree: a new agent version committed and pulled goes live for new
# games (agent_evolved with commit and subject), a running game keeps its version, a game edited
# mid-play keeps serving the old version to the running room, broken versions are refused with
# file:line while the old one keeps serving, removal retires a script, and no socket drops.
import asyncio, os, shutil, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import ROOT, Client, Server, Tap, http, play_until_over, run

t = Tap()
tmp = tempfile.mkdtemp(prefix="mt-reload-")
repo, work = os.path.join(tmp, "live"), os.path.join(tmp, "work")
GIT = ["git", "-c", "user.name=Agent Smith", "-c", "user.email=agent@example.invalid",
       "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]


def git(cwd, *args):
    return subprocess.run(GIT + list(args), cwd=cwd, check=True, capture_output=True, text=True).stdout


os.makedirs(repo)
shutil.copytree(os.path.join(ROOT, "games"), os.path.join(repo, "games"))
shutil.copytree(os.path.join(ROOT, "agents"), os.path.join(repo, "agents"))
git(repo, "init", "-q")
git(repo, "add", "-A")
git(repo, "commit", "-qm", "initial scripts")
git(tmp, "clone", "-q", repo, work)
git(repo, "config", "receive.denyCurrentBranch", "ignore")


def catalog(kind, name):
    st, _, items = http("GET", f"{srv.url}/api/{kind}")
    return next((i for i in items if i["name"] == name), None)


def wait_for(pred, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return None


def edit(path, old, new):
    with open(path) as f:
        text = f.read()
    assert old in text, (path, old)
    with open(path, "w") as f:
        f.write(text.replace(old, new))


async def main():
    watcher = await Client.connect(srv)
    await watcher.request("subscribe", {"topic": "evolution"})
    pinger = await Client.connect(srv)

    old_agent = catalog("agents", "random")
    t.ok(old_agent and len(old_agent.get("commit", "")) == 40, "agent versions carry the commit")

    # A game in progress against the old agent version.
    c = await Client.connect(srv)
    g1 = (await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"}))["payload"]["gameId"]
    await c.expect("game_state", where=lambda m: m["payload"]["status"] == "active")

    # An agent author commits a new behaviour in their clone; the server's tree pulls it.
    edit(os.path.join(work, "agents", "random.lua"), 'personality = "', 'personality = "Evolved. ')
    git(work, "commit", "-qam", "random: evolved personality")
    git(repo, "pull", "-q", work, "main")
    head = git(repo, "rev-parse", "HEAD").strip()
    ev = await watcher.expect("agent_evolved", timeout=10)
    p = ev["payload"]
    t.eq(p["agent"], "random", "agent_evolved names the agent")
    t.ok(p["version"] != old_agent["version"], "with the new version id")
    t.eq(p.get("commit"), head, "and the commit")
    t.eq(p.get("summary"), "random: evolved personality", "and the commit's subject")
    new_agent = catalog("agents", "random")
    t.ok(new_agent["personality"].startswith("Evolved."), "the catalog shows the new version")

    # The running game still plays to its end; new games get the new version.
    over, _ = await play_until_over(c, g1)
    t.ok(True, "the game that started before the reload finished")
    st, _, log = http("GET", f"{srv.url}/api/games/{g1}/events")
    t.ok(log["events"], "its log is there")

    # A game edited mid-play: the running room keeps the old version, new rooms get the new one.
    a, b = await Client.connect(srv), await Client.connect(srv)
    g2 = (await a.request("create_game", {"game": "connect4"}))["payload"]["gameId"]
    await b.request("join_game", {"gameId": g2})
    old_game = catalog("games", "connect4")
    gamefile = os.path.join(repo, "games", "connect4", "game.lua")
    edit(gamefile, 'title = "Connect Four"', 'title = "Connect Four II"')
    new_game = wait_for(lambda: (lambda g: g if g["version"] != old_game["version"] else None)(
        catalog("games", "connect4")))
    t.ok(new_game is not None and new_game["title"] == "Connect Four II", "edited game goes live")
    t.ok("commit" not in new_game, "an uncommitted edit has no commit")
    st, _, summary = http("GET", f"{srv.url}/api/games/{g2}")
    t.eq(summary["version"], old_game["version"], "the running room keeps its version")
    await a.send("player_input", {"gameId": g2, "action": {"column": 4}})
    moved = await b.expect("game_event")
    t.eq(moved["payload"]["event"].get("column"), 4, "and keeps playing")
    g3 = (await a.request("create_game", {"game": "connect4", "vsAgent": "random"}))["payload"]["gameId"]
    st, _, summary = http("GET", f"{srv.url}/api/games/{g3}")
    t.eq(summary["version"], new_game["version"], "a new room gets the new version")

    # A broken version is refused; the last good one keeps serving.
    edit(gamefile, "local game = {", "local game = {{")
    refused = wait_for(lambda: (lambda g: g if g.get("refused") else None)(catalog("games", "connect4")))
    t.ok(refused is not None, "a syntax error is refused")
    t.ok(refused and refused["refused"].get("line", 0) > 0 and refused["refused"]["file"].endswith("game.lua"),
         "the refusal names file and line", refused and refused.get("refused"))
    t.eq(refused and refused["version"], new_game["version"], "the previous version keeps serving")
    r4 = await a.request("create_game", {"game": "connect4"})
    t.eq(r4["type"], "game_created", "new games still start (on the good version)")
    logs = [l for l in srv.log_lines() if "refused" in l.get("msg", "")]
    t.ok(any(l.get("name") == "connect4" for l in logs), "the refusal is logged")

    # A version whose self-test fails is refused too.
    edit(gamefile, "local game = {{", "local game = {")
    fixed = wait_for(lambda: (lambda g: g if not g.get("refused") else None)(catalog("games", "connect4")))
    t.ok(fixed is not None, "the fixed version goes live again")

    # Removing an agent retires it for new games.
    os.unlink(os.path.join(repo, "agents", "heuristic.lua"))
    gone = wait_for(lambda: catalog("agents", "heuristic") is None)
    t.ok(gone, "a removed agent leaves the catalog")
    e = await a.request("create_game", {"game": "tictactoe", "vsAgent": "heuristic"})
    t.eq(e["payload"]["code"], "NOT_FOUND", "and cannot be played any more")

    ans = await pinger.request("heartbeat", {"timestamp": 1})
    t.eq(ans["type"], "heartbeat", "sockets opened before the reloads still answer")
    drops = [l for l in srv.log_lines() if l.get("msg") == "socket closed"]
    t.ok(len(drops) <= 1, "no socket was dropped by a reload", drops)
    for x in (watcher, pinger, c, a, b):
        await x.close()


srv = Server("--games", os.path.join(repo, "games"), "--agents", os.path.join(repo, "agents"),
             "--reload-debounce", "100")
with srv:
    run(main())
shutil.rmtree(tmp, ignore_errors=True)
t.done()
