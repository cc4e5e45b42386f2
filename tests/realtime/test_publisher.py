"""Publications the broker refuses: owed ones are retried, ephemeral ones are not."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from realtime.broker.base import BrokerUnavailable
from realtime.broker.memory import MemoryBroker
from realtime.events import MessageEvent, TypingChange, decode_event
from realtime.services.publisher import Publisher


class FlakyBroker(MemoryBroker):
    """The in-process broker, refusing the next ``refuse`` publications (an overloaded
    or briefly unreachable Redis)."""

    def __init__(self, refuse: int) -> None:
        super().__init__()
        self.refuse = refuse

    async def publish(self, channels: Sequence[str], data: bytes) -> None:
        if self.refuse > 0:
            self.refuse -= 1
            raise BrokerUnavailable("refused")
        await super().publish(channels, data)


class Recorder:
    def __init__(self) -> None:
        self.events: asyncio.Queue[object] = asyncio.Queue()

    def publication(self, channel: str, data: bytes) -> None:
        self.events.put_nowait(decode_event(data))

    def broker_reset(self) -> None:
        pass


MESSAGE = MessageEvent(thread="t", seq=1, pos=1, msg="1", sender="ann", body="hi", meta=None,
                       ts=1, cid=None, origin=None)


async def started(refuse: int) -> tuple[Publisher, Recorder]:
    broker = FlakyBroker(refuse)
    recorder = Recorder()
    await broker.start(recorder)
    await broker.subscribe("rt:{u:bob}")
    publisher = Publisher(broker)
    await publisher.start()
    return publisher, recorder


async def test_a_refused_message_is_published_again() -> None:
    publisher, recorder = await started(refuse=2)
    try:
        assert await publisher.to_users(["bob"], MESSAGE) is False
        assert await asyncio.wait_for(recorder.events.get(), 5) == MESSAGE
    finally:
        await publisher.close()


async def test_a_refused_typing_change_is_dropped() -> None:
    publisher, recorder = await started(refuse=1)
    try:
        await publisher.to_users(["bob"], TypingChange(thread="t", user="ann", on=True,
                                                       origin=None))
        await publisher.to_users(["bob"], MESSAGE)  # the sentinel goes through at once
        assert await asyncio.wait_for(recorder.events.get(), 5) == MESSAGE
        assert recorder.events.empty()
    finally:
        await publisher.close()
