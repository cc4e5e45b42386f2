"""docs/metrics.md lists exactly the ``realtime_*`` metrics a node serves at /metrics."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from realtime.node import Node
from tests.fixtures.node import NodeFactory

ROOT = Path(__file__).resolve().parents[2]
REDIS_ONLY = {"realtime_broker_publishes_total", "realtime_broker_reconnects_total",
              "realtime_broker_subscriptions", "realtime_broker_connections_down"}


def documented() -> set[str]:
    text = (ROOT / "docs" / "metrics.md").read_text()
    return set(re.findall(r"^\| `(realtime_[a-z_]+)` \|", text, re.MULTILINE))


async def served(node: Node) -> set[str]:
    """The names of the ``realtime_`` families /metrics describes (its TYPE lines)."""
    async with aiohttp.ClientSession() as http, \
            http.get(f"{node.api_url}/metrics") as answer:
        text = await answer.text()
    return set(re.findall(r"^# TYPE (realtime_[a-z_]+) ", text, re.MULTILINE))


async def test_docs_list_exactly_the_metrics_a_clustered_node_serves(
        node_factory: NodeFactory, redis_url: str) -> None:
    node = await node_factory(redis_url=redis_url)
    assert await served(node) == documented()


async def test_a_single_node_serves_all_but_the_redis_broker_metrics(
        node_factory: NodeFactory) -> None:
    node = await node_factory()
    assert await served(node) == documented() - REDIS_ONLY
