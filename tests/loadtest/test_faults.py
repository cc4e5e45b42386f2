"""The fault run's verdict, and ``python -m loadtest fault`` end to end on a small cluster."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from loadtest.cluster import ROOT, base_env
from loadtest.scenarios.fault_traffic import Acked, Stored, verify
from protocol.frames import Message


def acked(seq: int, cid: str) -> Acked:
    return Acked("ann", "t", seq, cid, 0.0)


def message(seq: int) -> Message:
    return Message(thread="t", seq=seq, msg=f"m{seq}", from_="ann", body="", meta=None, ts=0)


def test_a_verdict_counts_nothing_when_every_acked_message_is_stored_and_received_once() -> None:
    verdict = verify([acked(1, "c1"), acked(2, "c2")], [Stored("t", 1, "c1"), Stored("t", 2, "c2")],
                     {"ben": {("t", 1), ("t", 2)}}, {"ben": [message(1), message(2)]})
    assert verdict.line() == "2 acked, 0 lost, 0 duplicated"


def test_a_verdict_counts_an_acked_message_missing_from_the_store_as_lost() -> None:
    verdict = verify([acked(1, "c1")], [], {}, {})
    assert (verdict.lost, verdict.not_stored) == (1, [("t", 1)])


def test_a_verdict_counts_a_message_stored_under_another_cid_as_lost() -> None:
    verdict = verify([acked(1, "c1")], [Stored("t", 1, "other")], {}, {})
    assert verdict.lost == 1


def test_a_verdict_counts_a_message_a_member_never_got_as_lost() -> None:
    verdict = verify([acked(1, "c1")], [Stored("t", 1, "c1")], {"ben": {("t", 1)}}, {"ben": []})
    assert (verdict.lost, verdict.missing) == (1, {"ben": [("t", 1)]})


def test_a_verdict_counts_a_message_received_twice_as_duplicated() -> None:
    verdict = verify([acked(1, "c1")], [Stored("t", 1, "c1")], {"ben": {("t", 1)}},
                     {"ben": [message(1), message(1)]})
    assert (verdict.lost, verdict.duplicated) == (0, 1)


def test_a_verdict_counts_a_cid_stored_under_two_seqs_as_duplicated() -> None:
    verdict = verify([acked(1, "c1")], [Stored("t", 1, "c1"), Stored("t", 2, "c1")], {}, {})
    assert (verdict.duplicated, verdict.stored_twice) == (1, ["c1"])


async def test_the_fault_command_kills_a_node_under_traffic_and_reports_the_verdict(
        tmp_path: Path) -> None:
    report = tmp_path / "fault.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtest", "fault", "--kind", "node-kill", "--nodes", "2",
        "--pairs", "4", "--rate", "40", "--duration", "4", "--outage", "1", "--settle", "20",
        "--json", str(report), cwd=ROOT, env=base_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    result = json.loads(report.read_text())
    assert result["kind"] == "node-kill"
    assert result["verdict"]["acked"] > 0
    assert result["line"] == f"{result['verdict']['acked']} acked, 0 lost, 0 duplicated"
    assert f"node-kill: {result['line']}" in text
