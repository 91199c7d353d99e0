#!/usr/bin/python3
# A socket that plays game after game stays attached to its 8 most recent finished games only
# (every lookup walked the list of all its games of the last 10 minutes): chat in the last one
# works, leave_game in the first answers NOT_IN_GAME, and resume attaches it again.
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Server, Tap, play_until_over, run

t = Tap()


async def main(srv):
    c = await Client.connect(srv)
    gids = []
    for _ in range(12):
        m = await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"})
        gids.append(m["payload"]["gameId"])
        over, _ = await play_until_over(c, gids[-1])
    t.eq(len(gids), 12, "twelve games played on one socket")
    m = await c.request("chat_message", {"gameId": gids[-1], "text": "gg"})
    t.eq(m["type"], "chat_message", "still attached to the last finished game")
    m = await c.request("chat_message", {"gameId": gids[-8], "text": "gg"})
    t.eq(m["type"], "chat_message", "and to the eighth most recent")
    m = await c.request("leave_game", {"gameId": gids[0]})
    t.eq((m["type"], m["payload"].get("code")), ("error", "NOT_IN_GAME"), "not to the first one")
    m = await c.request("resume", {"gameId": gids[0], "lastSeq": 0})
    t.eq(m["type"], "replay", "resume attaches it again")
    m = await c.request("leave_game", {"gameId": gids[0]})
    t.eq(m["type"], "player_left", "after which it can leave it")
    await c.close()


with Server("--input-rate", "100000") as srv:
    run(main(srv))
t.done()
