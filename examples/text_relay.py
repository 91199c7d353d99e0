#!/usr/bin/python3
"""A reference relay for Monkeytown's text bridge: stdin lines in, server lines out on stdout.

The text bridge (docs/protocol.md, "Text bridge") is a WebSocket at /text on the server's port
where every frame is one line: each line you send is a bridge command (/help, /games, /new,
/join, /watch, /leave, /say) or goes to the game you joined, and each line the server sends is
at most --text-max-bytes bytes (200 by default). A chat bot (a Discord relay, a Meshtastic
gateway) does what this script does, with its channel in place of stdin and stdout:

    python3 examples/text_relay.py --url ws://localhost:8080/text --guest
    python3 examples/text_relay.py --url ws://localhost:8080/text --token $TOKEN

--token is a player's token (POST /api/auth/login, /api/auth/register or /api/auth/guest);
--guest asks the server for a new guest's token first (POST /api/auth/guest) and prints it on
stderr so a later run can be the same player. With neither, the socket itself makes a guest.

The relay sends each stdin line as it is read and prints each server line as it arrives. At
the end of stdin it keeps printing until the server has been quiet for --wait seconds, then
closes. Only the Python standard library and `websockets` (Debian: python3-websockets) are used.
"""

import argparse
import asyncio
import json
import sys
import urllib.parse
import urllib.request

import websockets


def guest_token(ws_url):
    """A new guest's token from POST /api/auth/guest on the server the WebSocket URL names."""
    u = urllib.parse.urlsplit(ws_url)
    scheme = "https" if u.scheme == "wss" else "http"
    req = urllib.request.Request(f"{scheme}://{u.netloc}/api/auth/guest", data=b"{}", method="POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = json.loads(r.read())
    print(f"guest {body['name']} token {body['token']}", file=sys.stderr, flush=True)
    return body["token"]


async def pump_stdin(ws):
    """Sends each stdin line (without its newline) as one text frame, until end of input."""
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        line = line.rstrip("\r\n")
        if line:
            await ws.send(line)


async def pump_server(ws, quiet, stdin_done):
    """Prints each server line; once stdin_done is set, returns after `quiet` seconds of silence."""
    while True:
        try:
            line = await asyncio.wait_for(ws.recv(), quiet if stdin_done.is_set() else 3600)
        except asyncio.TimeoutError:
            if stdin_done.is_set():
                return
            continue
        print(line, flush=True)


async def relay(url, token, quiet):
    if token:
        url += ("&" if "?" in url else "?") + "token=" + urllib.parse.quote(token)
    async with websockets.connect(url) as ws:
        stdin_done = asyncio.Event()
        printer = asyncio.create_task(pump_server(ws, quiet, stdin_done))
        reader = asyncio.create_task(pump_stdin(ws))
        done, _ = await asyncio.wait({printer, reader}, return_when=asyncio.FIRST_COMPLETED)
        if reader in done:
            reader.result()
            stdin_done.set()
            await printer
        else:
            reader.cancel()
            printer.result()  # the server closed: websockets raises ConnectionClosed here


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="ws://127.0.0.1:8080/text", help="the bridge's WebSocket URL")
    who = ap.add_mutually_exclusive_group()
    who.add_argument("--token", help="a player's token")
    who.add_argument("--guest", action="store_true", help="log in as a new guest first")
    ap.add_argument("--wait", type=float, default=2.0,
                    help="seconds of server silence to wait for after the end of stdin")
    args = ap.parse_args()
    token = guest_token(args.url) if args.guest else args.token
    try:
        asyncio.run(relay(args.url, token, args.wait))
    except websockets.exceptions.InvalidStatusCode as e:
        print(f"the server refused the connection: HTTP {e.status_code}", file=sys.stderr)
        return 1
    except websockets.exceptions.ConnectionClosed as e:
        print(f"the server closed the connection: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
