"""A raw WebSocket relay on aiohttp: the transport's ceiling that the node is compared to.

``python -m loadtest.baseline_relay --port P`` serves ``ws://HOST:P/ws?user=U`` and
``/metrics``. A connection names its user (and, with ``&groups=g1,g2``, the groups it
belongs to) in the query string; there is no authentication, storage or ack. A text frame
``{"to": U, "body": B}`` goes to every socket of user U, ``{"group": G, "body": B}`` to
every other socket in group G, both as ``{"from": SENDER, "body": B}``, encoded once.

``/metrics`` is prometheus_client's default registry, whose process collector exposes
``process_cpu_seconds_total`` and ``process_resident_memory_bytes`` as the node does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections import defaultdict

import msgspec
from aiohttp import WSMsgType, web
from prometheus_client.aiohttp import make_aiohttp_handler

from loadtest.help_text import prog

__all__ = ["Relay", "main"]


class _Frame(msgspec.Struct):
    body: str
    to: str | None = None
    group: str | None = None


class _Out(msgspec.Struct):
    body: str
    from_: str = msgspec.field(name="from")


class Relay:
    """Routes frames between the WebSockets it holds; one instance per process."""

    def __init__(self) -> None:
        self.users: defaultdict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self.groups: defaultdict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self.sockets: set[web.WebSocketResponse] = set()
        self._decode = msgspec.json.Decoder(_Frame).decode
        self._encode = msgspec.json.Encoder().encode

    def app(self) -> web.Application:
        """The aiohttp application: ``/ws`` and ``/metrics``."""
        app = web.Application()
        app.router.add_get("/ws", self.serve)
        app.router.add_get("/metrics", make_aiohttp_handler())
        app.on_shutdown.append(self._close_all)
        return app

    async def serve(self, request: web.Request) -> web.StreamResponse:
        user = request.query.get("user", "")
        if not user:
            raise web.HTTPBadRequest(text="user is required")
        groups = [g for g in request.query.get("groups", "").split(",") if g]
        # Same settings as the node's WebSocket side: no compression, no heartbeat cost.
        ws = web.WebSocketResponse(compress=False, max_msg_size=2**16)
        await ws.prepare(request)
        self.sockets.add(ws)
        self.users[user].add(ws)
        for group in groups:
            self.groups[group].add(ws)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._route(user, ws, msg.data)
        finally:
            self.sockets.discard(ws)
            _forget(self.users, user, ws)
            for group in groups:
                _forget(self.groups, group, ws)
        return ws

    async def _route(self, user: str, source: web.WebSocketResponse, data: str) -> None:
        try:
            frame = self._decode(data)
        except msgspec.DecodeError:
            return
        out = self._encode(_Out(body=frame.body, from_=user)).decode()
        if frame.to is not None:
            targets = self.users.get(frame.to, ())
        elif frame.group is not None:
            targets = self.groups.get(frame.group, ())
        else:
            return
        for ws in list(targets):
            if ws is not source and not ws.closed:
                with contextlib.suppress(ConnectionError):
                    await ws.send_str(out)

    async def _close_all(self, app: web.Application) -> None:
        for ws in list(self.sockets):
            await ws.close(code=1001)


def _forget(
    index: defaultdict[str, set[web.WebSocketResponse]], key: str, ws: web.WebSocketResponse
) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(ws)
        if not members:
            del index[key]


async def run(host: str, port: int, ready: asyncio.Event | None = None) -> None:
    """Serve until SIGTERM or SIGINT (or until cancelled)."""
    runner = web.AppRunner(Relay().app(), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    print(f"relay serving ws://{host}:{port}/ws", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("relay"), description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9765)
    args = parser.parse_args(argv)
    import uvloop

    uvloop.run(run(args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
