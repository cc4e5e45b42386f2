"""``/metrics``: Prometheus text with the names operators know, moving with the traffic.

Counters live in the process-wide registry, shared by every node a test run starts, so
each test compares a value before and after its own action.
"""

from __future__ import annotations

import json

import aiohttp
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from realtime.node import Node
from tests.fixtures.node import API_KEY

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

NAMES = [
    "realtime_node_num_clients",
    "realtime_node_num_users",
    "realtime_messages_sent_total",
    "realtime_messages_received_total",
    "realtime_client_command_duration_seconds",
    "realtime_errors_total",
    "realtime_closes_total",
    "realtime_store_append_duration_seconds",
    "realtime_broker_publish_errors_total",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
]


async def scrape(node: Node) -> Samples:
    async with aiohttp.ClientSession() as http, http.get(f"{node.api_url}/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.parametrize("name", NAMES)
async def test_metrics_declares_it(node: Node, name: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{node.api_url}/metrics") as response:
        text = await response.text()
    declared = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    assert name in declared


async def test_num_clients_and_users_count_open_sessions(node: Node) -> None:
    url = f"{node.ws_url}?token="
    async with connect(url + node.token("alice")) as a1, \
            connect(url + node.token("alice")) as a2, \
            connect(url + node.token("bob")) as b:
        for ws in (a1, a2, b):
            await ws.recv()
        samples = await scrape(node)
    assert value(samples, "realtime_node_num_clients") == 3
    assert value(samples, "realtime_node_num_users") == 2


async def test_a_frame_read_is_counted_by_type_and_timed(node: Node) -> None:
    before = await scrape(node)
    async with connect(f"{node.ws_url}?token={node.token('alice')}") as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "ping", "id": 1}))
        await ws.recv()
        after = await scrape(node)
    received = "realtime_messages_received_total"
    timed = "realtime_client_command_duration_seconds_count"
    assert value(after, received, type="ping") == value(before, received, type="ping") + 1
    assert value(after, timed, method="ping") == value(before, timed, method="ping") + 1


async def test_an_error_frame_is_counted_by_code(node: Node) -> None:
    before = await scrape(node)
    async with connect(f"{node.ws_url}?token={node.token('alice')}") as ws:
        await ws.recv()
        await ws.send("not json")
        assert json.loads(await ws.recv())["code"] == "bad_request"
        after = await scrape(node)
    name = "realtime_errors_total"
    assert value(after, name, code="bad_request") == value(before, name,
                                                           code="bad_request") + 1


async def test_a_delivered_notification_is_counted_as_sent(node: Node) -> None:
    before = await scrape(node)
    async with connect(f"{node.ws_url}?token={node.token('alice')}") as ws, \
            aiohttp.ClientSession(headers={"X-API-Key": API_KEY}) as http:
        await ws.recv()
        await http.post(f"{node.api_url}/v1/notify", json={"users": ["alice"], "data": {}})
        assert json.loads(await ws.recv())["type"] == "notification"
        after = await scrape(node)
    name = "realtime_messages_sent_total"
    assert value(after, name, type="notification") == value(before, name,
                                                            type="notification") + 1


async def test_a_commit_is_timed(node: Node) -> None:
    before = await scrape(node)
    async with connect(f"{node.ws_url}?token={node.token('alice')}") as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "send", "to": "bob", "cid": "c", "body": "x",
                                  "id": 1}))
        assert json.loads(await ws.recv())["type"] == "ack"
        after = await scrape(node)
    name = "realtime_store_append_duration_seconds_count"
    assert value(after, name) == value(before, name) + 1


async def test_a_closed_session_is_counted_by_close_code(node: Node) -> None:
    def closes() -> float:
        return REGISTRY.get_sample_value("realtime_closes_total", {"code": "1012"}) or 0.0

    before = closes()
    async with connect(f"{node.ws_url}?token={node.token('alice')}") as ws:
        await ws.recv()
        # A drain returns once every session has ended: no wait on the metric itself.
        await node.drain()
    assert closes() == before + 1
