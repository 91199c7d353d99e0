#!/usr/bin/python3
"""A bridge between Monkeytown and a model that plays for an external agent.

An operator issues the agent a token (an admin's call):

    curl -X POST -H "Authorization: Bearer $ADMIN_TOKEN" -d '{"name": "llm-monster"}' \\
        http://localhost:8080/api/admin/agents            # -> {"name", "playerId", "token"}

then runs this bridge with it:

    python3 examples/agent_bridge.py --url ws://localhost:8080/ws --token $AGENT_TOKEN

Players then play against it with create_game {game, vsAgent: "llm-monster"} while the bridge
is connected. For each turn of one of its seats the server sends

    agent_turn {gameId, seat, view, legal?, deadline}

(the seat's view of the game, its legal actions when the game lists them, and the wall-clock
deadline in Unix milliseconds), and the bridge answers

    agent_move {gameId, action, reasoning?}

A late or illegal answer is replaced by a random legal move (docs/protocol.md, External agents).
Only the Python standard library and `websockets` (Debian: python3-websockets) are used.
"""

import argparse
import asyncio
import json
import random
import sys
import time

import websockets


def model(view, legal, seat):
    """A local stand-in for a model: picks one of the legal actions and says why in a sentence.

    A real bridge sends the view and the legal actions to an LLM here and parses its answer,
    for example (any HTTP client; an OpenAI-compatible endpoint shown):

        prompt = ("You play seat %d. The game state is %s. Legal actions: %s. Answer with JSON "
                  '{"action": <one of the legal actions>, "reasoning": <one sentence>}.'
                  % (seat, json.dumps(view), json.dumps(legal)))
        req = urllib.request.Request("http://localhost:11434/v1/chat/completions",
                                     json.dumps({"model": "...", "messages": [
                                         {"role": "user", "content": prompt}]}).encode(),
                                     {"Content-Type": "application/json"})
        answer = json.loads(json.load(urllib.request.urlopen(req, timeout=20))
                            ["choices"][0]["message"]["content"])
        return answer["action"], answer["reasoning"]

    Keep the call within the deadline: the server plays a random legal move when it passes.
    """
    if not legal:
        return None, None  # a game without a legal list: a real model must make up an action
    # Prefer the centre and the corners (a board game's habit), else any legal action.
    def score(action):
        cell = action.get("cell") if isinstance(action, dict) else None
        return {5: 2, 1: 1, 3: 1, 7: 1, 9: 1}.get(cell, 0) + random.random() / 10
    action = max(legal, key=score)
    return action, "I take %s: of the %d legal moves it looks strongest." % (
        json.dumps(action, separators=(",", ":")), len(legal))


async def serve(url, token, once):
    async with websockets.connect(url + "?token=" + token, max_size=2 ** 22) as ws:
        welcome = json.loads(await ws.recv())
        if welcome.get("type") != "welcome" or welcome["payload"].get("role") != "agent":
            sys.exit("not an agent token: %s" % welcome)
        print("connected as agent %s" % welcome["payload"]["name"], flush=True)
        turns = 0
        async for raw in ws:
            msg = json.loads(raw)
            if msg.get("type") == "error":
                print("server error: %s" % msg["payload"], flush=True)
                continue
            if msg.get("type") != "agent_turn":
                continue
            p = msg["payload"]
            left_ms = p["deadline"] - time.time() * 1000
            action, why = model(p["view"], p.get("legal"), p["seat"])
            if action is None:
                continue  # no answer: the server plays a random legal move at the deadline
            if left_ms <= 0:
                print("turn of %s came too late to answer" % p["gameId"], flush=True)
            turns += 1
            await ws.send(json.dumps({"type": "agent_move", "id": "t%d" % turns,
                                      "payload": {"gameId": p["gameId"], "action": action,
                                                  "reasoning": why}}))
            if once and turns >= once:
                break


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="ws://127.0.0.1:8080/ws", help="the server's WebSocket")
    ap.add_argument("--token", required=True, help="the agent token (POST /api/admin/agents)")
    ap.add_argument("--once", type=int, default=0, help="stop after this many moves (0: never)")
    args = ap.parse_args()
    try:
        asyncio.run(serve(args.url, args.token, args.once))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
