#!/usr/bin/python3
# One room can never have two owners, with the races forced (--cluster, real redis-server and
# PostgreSQL on loopback, three instances). alpha owns 12 live tic-tac-toe games, each between a
# socket on alpha and one on beta or gamma, watched by a spectator on the other survivor who
# chats without pause, so requests are relayed to the rooms the whole time. alpha is paused
# (SIGSTOP) past its lease: beta and gamma both run the takeover on every heartbeat, and alpha
# is woken (SIGCONT) the moment they see its lease lapse, so that it renews its lease and claims
# its rooms again while they are taking them (creating, relaying and renewing at once). Then:
# each room has exactly one owner (the directory's entry names a live instance, the instances
# hold 12 rooms between them, alpha gave up exactly the rooms the others rebuilt), the fence in
# PostgreSQL is the directory's, every socket saw one history (no seq twice, none skipped), and
# every game plays to its end with a stored log that is the one its players hold. Every wait
# polls with a generous deadline: the race's outcome may differ from run to run, the checks not.
import asyncio, os, signal, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Tap, http, run, wait_for
from cluster import Cluster, available, join, listed, metric
from players import Player, guest, play, resume, stored_mismatches
import websockets

if not available():
    print("1..0 # SKIP needs root and PostgreSQL 15 (apt-get install postgresql)")
    sys.exit(0)

t = Tap()
cl = Cluster("owner-races-secret-0123456789abcdef01234567")
ARGS = ("--guest-rate", "0", "--input-rate", "100000", "--chat-rate", "100000",
        "--seat-hold", "300", "--waiting-rooms-per-address", "1000", "--log-level", "warn")
GAMES = 12
NAMES = ("alpha", "beta", "gamma")


def held(servers):
    """The rooms each instance holds now (its active_game_sessions), or None without answer."""
    try:
        return {name: int(metric(s, "active_game_sessions")) for name, s in zip(NAMES, servers)}
    except (OSError, ValueError):
        return None


async def two_humans(a, other):
    p1, p2 = Player(guest(a), "tictactoe"), Player(guest(a), "tictactoe")
    c1, c2 = await Client.connect(a, token=p1.token), await Client.connect(other, token=p2.token)
    p1.game = p2.game = (await c1.request("create_game", {"game": "tictactoe"}))["payload"]["gameId"]
    j = await join(c2, p1.game)  # asked again while the room's claim is out
    assert j["type"] == "game_state", j
    p1.adopt(c1.seen)
    p2.adopt(c2.seen)
    return [(p1, c1), (p2, c2)]


async def chatter(w, srv, c, stop):
    """A spectator that chats without pause until stop is set: each line is answered (its log
    event) or refused while the room moves (SERVER_BUSY, NOT_FOUND). Told to reconnect (1012:
    the room's owner left the listing), it resumes on a new socket of its instance and chats on.
    Returns the sockets' close codes and the number of lines answered."""
    n, codes, said = 0, [], 0
    while not stop.is_set():
        try:
            n += 1
            await c.send("chat_message", {"gameId": w.game, "text": f"line {n}"}, f"c{n}")
            end = time.monotonic() + 10
            while time.monotonic() < end:
                m = await c.recv(10)
                w.see(m)
                if m.get("re") == f"c{n}":
                    said += m["type"] == "chat_message"
                    break
            await asyncio.sleep(0.05)  # well under --replay-buffer lines in a minute
        except websockets.ConnectionClosed as e:
            codes.append(e.rcvd.code if e.rcvd else None)
            c = await resume(srv, w)
    await c.close()
    return codes, said


async def reader(p, c, stop):
    """A player that does not move during the race: reads (and checks) what it is sent."""
    try:
        while not stop.is_set():
            try:
                p.see(await c.recv(0.5))
            except asyncio.TimeoutError:
                pass
    except websockets.ConnectionClosed:
        pass


async def race(a, b, g, wake):
    """One round: wake is None to wake alpha as the others drop it, or the seconds after the
    pause (about when its lease lapses, racing its renewal against their takeover)."""
    seats, watchers = [], []
    for i in range(GAMES):
        other, third = ((b, g), (g, b))[i % 2]
        pair = await two_humans(a, other)
        seats += pair
        w = Player(guest(third), "tictactoe")
        w.game = pair[0][0].game
        cw = await Client.connect(third, token=w.token)
        ans = await cw.request("join_game", {"gameId": w.game, "as": "spectator"})
        assert ans["type"] == "game_state" and "seq" in ans, ans
        w.last_seq = ans["seq"]  # where the log stood as it joined
        watchers.append((w, third, cw))
    # Rows alpha has not written yet would die with it if it never woke (a takeover reads
    # PostgreSQL): the race starts from a stored state.
    t.ok(wait_for(lambda: metric(a, "store_queue_rows") == 0, timeout=30), f"{GAMES} games stored")
    before = {p.game: cl.owner(p.game) for p, _ in seats[::2]}
    t.ok(all(o == "alpha" for o, _ in before.values()), "alpha owns every room")

    stop = asyncio.Event()
    chat = [asyncio.create_task(chatter(w, srv, c, stop)) for w, srv, c in watchers]
    reads = [asyncio.create_task(reader(p, c, stop)) for p, c in seats]
    await asyncio.sleep(0.3)
    # The rooms of the rounds before, ended but still open on alpha, move too: "ended".
    count = lambda: (sum(metric(s, f'rooms_taken_over_total{{outcome="{o}"}}')
                         for s in (b, g) for o in ("rebuilt", "ended")),
                     metric(a, 'rooms_taken_over_total{outcome="disowned"}'))
    base = count()
    taken, disowned = lambda: count()[0] - base[0], lambda: count()[1] - base[1]
    a.proc.send_signal(signal.SIGSTOP)
    if wake is None:  # the moment beta or gamma sees the lease lapse: that heartbeat takes over
        lapsed = await asyncio.get_running_loop().run_in_executor(
            None, lambda: wait_for(lambda: "alpha" not in (listed(b) or ["alpha"]) or
                                   "alpha" not in (listed(g) or ["alpha"]), timeout=30, step=0.02))
        t.ok(lapsed, "alpha paused past its lease, and woken as the others drop it")
    else:
        await asyncio.sleep(wake)
    a.proc.send_signal(signal.SIGCONT)
    # The race settles: alpha either kept a room (its claim or renewal came first) or gave it up.
    def settled():
        """The holders, once alpha gave up what the others took, the instances hold the rooms
        once each, and the directory names those holders; None before."""
        if taken() != disowned():
            return None
        h, named = held((a, b, g)), [cl.owner(gid)[0] for gid in before]
        return h if h and sum(h.values()) == GAMES and h == {n: named.count(n) for n in NAMES} else None

    def stable():
        """settled() twice in a row, a lease apart (a takeover still to come would show)."""
        first = settled()
        time.sleep(2)
        return first if first and settled() == first else None

    h = await asyncio.get_running_loop().run_in_executor(None, lambda: wait_for(stable, timeout=60))
    t.ok(h, f"the three instances hold the {GAMES} rooms between them, once each: {h or held((a, b, g))}")
    t.eq((taken(), disowned()), (taken(), taken()),
         "alpha gave up exactly the rooms beta and gamma took over")
    t.diag(f"woken {'as dropped' if wake is None else f'{wake} s after the pause'}: "
           f"{h}, {taken():.0f} taken over")
    await asyncio.sleep(1)  # chat on, across the settled rooms, for a moment
    stop.set()
    said = await asyncio.gather(*chat)
    await asyncio.gather(*reads)
    t.ok(all(n > 0 for _, n in said), f"every spectator's chat lines were answered ({[n for _, n in said]})")
    t.diag(f"the spectators' sockets were closed with {sorted({c for cs, _ in said for c in cs}, key=str)}")

    after = {gid: cl.owner(gid) for gid in before}
    by_owner = {n: sum(1 for o, _ in after.values() if o == n) for n in NAMES}
    t.eq(by_owner, h, "each room's directory entry names the instance that holds it")
    moved = [gid for gid in before if after[gid][0] != "alpha"]
    t.ok(all(after[gid][1] > before[gid][1] for gid in moved),
         f"each moved room's fence rose ({len(moved)} moved)")
    fences = dict(cl.db.query("monkeytown", "SELECT id, fence FROM games WHERE id IN (" +
                              ",".join(f"'{gid}'" for gid in before) + ")"))
    wrong = [(gid[:8], fences.get(gid), after[gid][1]) for gid in before
             if int(fences.get(gid, -1)) != after[gid][1]]
    t.ok(wait_for(lambda: not [gid for gid in before if int(dict(cl.db.query(
        "monkeytown", f"SELECT id, fence FROM games WHERE id = '{gid}'")).get(gid, -1)) != after[gid][1]],
        timeout=30), f"PostgreSQL holds each room at its owner's fence (first look: {wrong})")
    return seats, watchers


async def finish(seats, b, g):
    """Every player carries on from what it holds, on a new socket on beta or gamma (alpha may
    have closed its socket, or still hold the room: the relay reaches it either way)."""
    async def one(i, p, c):
        await c.close()
        c = await resume((b, g)[i % 2], p)
        await play(p, c, time.monotonic() + 240, think=(0.01, 0.03))
        await c.close()

    await asyncio.gather(*(one(i, p, c) for i, (p, c) in enumerate(seats)))


async def scenario(a, b, g, wake):
    seats, watchers = await race(a, b, g, wake)
    t.eq({w.game[:8]: w.faults for w, _, _ in watchers if w.faults}, {},
         "every chatting spectator saw one history through the race (no seq twice, none skipped)")
    await finish(seats, b, g)
    return seats


try:
    a, b, g = (cl.instance(n, *ARGS) for n in NAMES)
    t.ok(wait_for(lambda: all(listed(s) == list(NAMES) for s in (a, b, g))), "three instances")
    t.ok(wait_for(lambda: all(http("GET", s.url + "/health/ready")[0] == 200 for s in (a, b, g))), "ready")
    # The lease is 1.5 s, renewed every 0.5 s: woken at 1.4 s alpha may still hold it, at 1.8 s
    # it has lapsed and the others may or may not have run their takeover yet.
    for wake in (None, 1.4, 1.8):
        seats = run(scenario(a, b, g, wake))
        t.eq({p.game[:8]: p.faults for p, _ in seats if p.faults}, {},
             "every player saw each seq exactly once, in order")
        t.eq([p.game[:8] for p, _ in seats if p.over is None], [], "every game played to its end")
        t.eq(stored_mismatches(b, [p for p, _ in seats]), [],
             "each stored log is contiguous from 1 and is the one its players hold")
        t.eq(sorted(set(metric(s, 'cluster_directory_ops_total{op="claim_refused"}') for s in (b, g))), [0.0],
             "beta and gamma never claimed a room another live instance held")
finally:
    cl.cleanup()
t.done()
