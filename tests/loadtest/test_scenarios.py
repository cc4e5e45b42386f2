"""Each scenario runs briefly against a real in-process node and reports its figures."""

from __future__ import annotations

from typing import Any

import pytest

from loadtest.options import Options
from loadtest.runner import run
from realtime.node import Node
from tests.fixtures.node import API_KEY, JWT_SECRET, NodeFactory


@pytest.fixture
async def load_node(node_factory: NodeFactory) -> Node:
    """A node whose per-connection rate limit lets a load generator through."""
    return await node_factory(limit_rate=100_000.0, limit_burst=100_000)


def options_for(node: Node, scenario: str, **changes: Any) -> Options:
    base: dict[str, Any] = {
        "scenario": scenario,
        "urls": (node.ws_url,),
        "api_urls": (node.api_url,),
        "api_key": API_KEY,
        "secret": JWT_SECRET,
        "connections": 10,
        "rate": 100.0,
        "duration": 1.0,
        "drain": 10.0,
        "live": False,
    }
    base.update(changes)
    return Options(**base)


async def test_dm_delivers_every_acked_message_once(load_node: Node) -> None:
    report = await run(options_for(load_node, "dm"))
    summary = report["summary"]
    assert summary["sent"] == 100
    assert summary["acked"] == 100
    assert summary["delivered"] == 100
    assert (summary["lost"], summary["duplicates"], summary["errors"]) == (0, 0, 0)
    assert summary["latency_ms"]["count"] == 100


async def test_dm_reports_server_cpu_per_delivery_from_metrics(load_node: Node) -> None:
    report = await run(options_for(load_node, "dm"))
    assert report["server"]["cpu_seconds"] >= 0
    assert report["summary"]["cpu_us_per_delivery"] >= 0
    assert report["server"]["rss_end"] > 0


async def test_dm_with_the_websockets_client_delivers_every_message(load_node: Node) -> None:
    report = await run(options_for(load_node, "dm", client="websockets"))
    assert report["summary"]["delivered"] == 100
    assert report["summary"]["lost"] == 0


async def test_fanout_reaches_every_member_but_the_sender(load_node: Node) -> None:
    report = await run(options_for(load_node, "fanout", rate=20.0))
    summary = report["summary"]
    assert summary["acked"] == 20
    assert summary["expected_deliveries"] == 20 * 9
    assert summary["delivered"] == 20 * 9
    assert (summary["lost"], summary["duplicates"]) == (0, 0)


async def test_reactions_reach_every_other_member_and_report_cpu_per_update(
        load_node: Node) -> None:
    report = await run(options_for(load_node, "reactions", connections=8, rate=50.0))
    summary = report["summary"]
    assert summary["sent"] == summary["acked"] == summary["updates"] == 50
    assert summary["expected_deliveries"] == 50 * 7
    assert summary["delivered"] == 50 * 7
    assert (summary["lost"], summary["duplicates"], summary["errors"]) == (0, 0, 0)
    assert summary["latency_ms"]["count"] > 0
    assert summary["cpu_us_per_update"] >= 0


async def test_reactions_with_edits_make_an_entry_per_edit(load_node: Node) -> None:
    report = await run(options_for(load_node, "reactions", connections=4, rate=40.0,
                                   edits=True))
    summary = report["summary"]
    assert summary["sent"] == summary["updates"] == 40
    assert summary["delivered"] == 40 * 3
    assert (summary["lost"], summary["errors"]) == (0, 0)
    assert summary["latency_ms"]["count"] == 40 * 3


async def test_typing_events_reach_the_partner(load_node: Node) -> None:
    report = await run(options_for(load_node, "typing", rate=50.0))
    summary = report["summary"]
    assert summary["sent"] == 50
    assert summary["errors"] == 0
    assert summary["received"] > 0


async def test_likes_viewers_end_on_the_exact_final_count(load_node: Node) -> None:
    report = await run(options_for(load_node, "likes", likers=7, rate=50.0))
    summary = report["summary"]
    assert summary["acked"] == 50
    assert summary["errors"] == 0
    assert summary["final_count_exact"] is True
    assert summary["viewers_with_exact_final"] == 10


async def test_idle_holds_every_connection_and_reports_memory(load_node: Node) -> None:
    report = await run(options_for(load_node, "idle", connections=20))
    summary = report["summary"]
    assert summary["still_open"] == 20
    assert "memory_per_connection_kb" in summary


async def test_reconnect_resyncs_every_client_without_loss_or_duplicates(
    load_node: Node,
) -> None:
    report = await run(options_for(load_node, "reconnect", senders=3, duration=1.5))
    summary = report["summary"]
    assert summary["resynced"] == summary["receivers"] == 10
    assert summary["acked"] == 150
    assert (summary["lost"], summary["duplicates"]) == (0, 0)
