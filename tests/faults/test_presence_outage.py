"""A client that connects while Redis (shared presence) is down is told to come back."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.fixtures.node import NodeFactory


async def test_a_connection_while_redis_is_down_closes_with_1013_not_1011(
    node_factory: NodeFactory, redis_server: Any, redis_url: str,
) -> None:
    node = await node_factory(redis_url=redis_url)
    redis_server.stop()
    try:
        async with connect(f"{node.ws_url}?token={node.token('ann')}") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1013
    finally:
        redis_server.start()
