"""Push tokens registered over the socket."""

import pytest

from realtime.node import Node
from realtime_client import Client, ClientError


async def test_a_device_frame_registers_the_token_for_push(node: Node) -> None:
    async with Client(node.ws_url, node.token("ann")) as ann:
        await ann.device("fcm-token-1", "android")
    devices = await node.store.devices_of(["ann"])
    assert [(d.user, d.token, d.platform) for d in devices] == [("ann", "fcm-token-1",
                                                                 "android")]


async def test_a_device_frame_with_an_unknown_platform_is_bad_request(node: Node) -> None:
    async with Client(node.ws_url, node.token("ann")) as ann:
        with pytest.raises(ClientError) as refused:
            await ann.device("fcm-token-1", "symbian")
    assert refused.value.code == "bad_request"
    assert await node.store.devices_of(["ann"]) == []
