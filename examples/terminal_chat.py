"""A chat in a terminal: type lines to send them, see what others say as it arrives.

    python examples/terminal_chat.py --to bob --token "$(realtime token alice)"
    python examples/terminal_chat.py --thread <group thread id> --token ...

Lines starting with "/" are commands: /history shows the last messages of the thread,
/quit leaves (so does Ctrl-D). Messages from the thread arrive live; those sent while the
connection was down arrive when it comes back, once each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import datetime

from realtime_client import Client, ClientError, Message, TypingEvent


def show(message: Message) -> None:
    when = datetime.fromtimestamp(message.ts / 1000).strftime("%H:%M")
    who = message.from_ or "*"
    print(f"[{when}] {who}: {message.body}", flush=True)


async def chat(client: Client, thread: str | None, to: str | None) -> None:
    assert client.welcome is not None
    me = client.welcome.user
    print(f"connected as {me}; type a line to send it, /quit to leave", flush=True)

    async def incoming() -> None:
        nonlocal thread
        async for event in client.events():
            if isinstance(event, Message) and (thread is None or event.thread == thread):
                if event.from_ != me:
                    show(event)
            elif isinstance(event, TypingEvent) and event.thread == thread and event.on:
                print(f"  ({event.user} is typing)", flush=True)

    listener = asyncio.create_task(incoming())
    try:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line or line.strip() == "/quit":
                break
            text = line.rstrip("\n")
            if not text:
                continue
            try:
                if text == "/history":
                    if thread is not None:
                        page = await client.history(thread, limit=20)
                        for message in page.messages:
                            show(message)
                    continue
                ack = await client.send(text, thread=thread, to=None if thread else to)
                thread = ack.thread
            except ClientError as exc:
                print(f"! {exc.code}: {exc.message}", flush=True)
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)


async def run(url: str, token: str, thread: str | None, to: str | None) -> None:
    async with Client(url, token) as client:
        await chat(client, thread, to)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", help="user to chat with (a DM)")
    target.add_argument("--thread", help="thread to chat in")
    parser.add_argument("--url", default=os.environ.get("REALTIME_URL",
                                                        "ws://localhost:8765/ws"))
    parser.add_argument("--token", default=os.environ.get("REALTIME_TOKEN"))
    args = parser.parse_args()
    if not args.token:
        parser.error("a token is needed: --token or REALTIME_TOKEN")
    try:
        asyncio.run(run(args.url, args.token, args.thread, args.to))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
