"""A bot that answers every message it receives with an echo, in the same thread.

    pip install ./realtime_client        # the client alone: websockets and msgspec
    python examples/echo_bot.py --url ws://localhost:8765/ws --token "$(realtime token bot)"

The token may also come from REALTIME_TOKEN, the URL from REALTIME_URL. The bot
reconnects by itself and, resuming from its cursor, answers messages sent while it was
away too; it prints one line per message answered, and stops on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from realtime_client import Client, ClientError, Message


async def run(url: str, token: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Client(url, token) as client:
        assert client.welcome is not None
        me = client.welcome.user
        print(f"ready as {me}", flush=True)
        answering = asyncio.create_task(answer(client, me))
        await stop.wait()
        answering.cancel()
        await asyncio.gather(answering, return_exceptions=True)


async def answer(client: Client, me: str) -> None:
    async for event in client.events():
        if not isinstance(event, Message) or event.from_ in (None, me):
            continue  # system messages and our own echoes get no answer
        try:
            # The cid makes a retry after a drop store the echo once.
            await client.send(f"echo: {event.body}", thread=event.thread,
                              cid=f"echo-{event.thread}-{event.seq}")
        except ClientError as exc:
            print(f"could not answer {event.from_}: {exc.code}", flush=True)
            continue
        print(f"answered {event.from_} in {event.thread}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("REALTIME_URL",
                                                        "ws://localhost:8765/ws"))
    parser.add_argument("--token", default=os.environ.get("REALTIME_TOKEN"))
    args = parser.parse_args()
    if not args.token:
        parser.error("a token is needed: --token or REALTIME_TOKEN")
    asyncio.run(run(args.url, args.token))


if __name__ == "__main__":
    main()
