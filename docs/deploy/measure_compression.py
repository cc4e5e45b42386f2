"""Measure what permessage-deflate costs a node: CPU per delivered message, bytes on the
wire per message, and memory per connection.

    python docs/deploy/measure_compression.py [--messages 5000]

Runs ``realtime serve`` twice (``--compression false``, then ``true``) on an embedded
store; a receiver that offers permessage-deflate reads every message a sender sends it;
the node's CPU time comes from /proc (Linux), the received bytes from the client's socket.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from realtime.auth import mint_token  # noqa: E402
from tests.ops.served import environment, realtime_command, serving  # noqa: E402

WORDS = ("are we still on for dinner tonight I can bring the wine if you book table "
         "sure what time works see you at eight running late sorry traffic is bad "
         "did you watch the game last night no spoilers please").split()


def body(i: int, rng: random.Random) -> str:
    """A chat-sized message, different every time (compressing one body over and over
    would flatter deflate)."""
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 20))) + f" #{i}"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_bytes(ws: ClientConnection) -> list[int]:
    """A counter of the bytes ``ws`` reads from its socket."""
    total = [0]
    receive = ws.protocol.receive_data

    def counted(data: bytes) -> None:
        total[0] += len(data)
        receive(data)

    ws.protocol.receive_data = counted  # type: ignore[method-assign]
    return total


async def run(compression: bool, messages: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = environment(Path(tmp), compression=str(compression).lower(),
                          limit_rate="1000000", limit_burst="1000000")
        async with serving(realtime_command("serve"), env) as node:
            secret = env["REALTIME_JWT_SECRET"]
            url = node.ws_url + "?token="
            async with connect(url + mint_token(secret, "bob", ttl=600), proxy=None,
                               compression="deflate", max_size=None) as bob, \
                    connect(url + mint_token(secret, "alice", ttl=600), proxy=None,
                            compression=None) as alice:
                await bob.recv()
                await alice.recv()
                received = count_bytes(bob)
                before = cpu_seconds(node.proc.pid)

                rng = random.Random(1)
                frames: list[str] = []

                async def send() -> None:
                    for i in range(messages):
                        await alice.send(json.dumps({"type": "send", "to": "bob",
                                                     "cid": f"c{i}", "body": body(i, rng),
                                                     "id": i}))

                async def read() -> None:
                    while len(frames) < messages:
                        frame = await bob.recv()
                        if json.loads(frame)["type"] == "message":
                            frames.append(str(frame))

                async def drain_acks() -> None:
                    acked = 0
                    while acked < messages:
                        acked += json.loads(await alice.recv())["type"] == "ack"

                await asyncio.gather(send(), read(), drain_acks())
                cpu = cpu_seconds(node.proc.pid) - before
            node.terminate()
            await node.exit_code()
    return {"cpu_us_per_message": cpu / messages * 1e6,
            "bytes_per_message": received[0] / messages,
            "deflate_us_per_frame": deflate_time(frames) / messages * 1e6}


def deflate_time(frames: list[str]) -> float:
    """Seconds to compress ``frames`` as aiohttp does for one connection (level 1,
    context takeover, a sync flush per frame): the part of the CPU due to deflate."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
    started = time.process_time()
    for frame in frames:
        compressor.compress(frame.encode())
        compressor.flush(zlib.Z_SYNC_FLUSH)
    return time.process_time() - started


def compressor_memory() -> int:
    """Bytes one connection's compressor holds (aiohttp: level 1, 15-bit window)."""
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
    compressor.compress(body(0, random.Random(1)).encode() * 4)
    compressor.flush(zlib.Z_SYNC_FLUSH)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    return sum(s.size_diff for s in after.compare_to(before, "filename"))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    args = parser.parse_args()
    off = await run(False, args.messages)
    on = await run(True, args.messages)
    for name, result in (("off", off), ("on", on)):
        print(f"compression {name:>3}: node CPU {result['cpu_us_per_message']:6.1f} µs and "
              f"{result['bytes_per_message']:6.1f} B on the wire per message")
    print(f"deflate alone: {on['deflate_us_per_frame']:.1f} µs per frame")
    print(f"compressor state per connection: {compressor_memory() / 1024:.0f} KiB")


if __name__ == "__main__":
    asyncio.run(main())
