"""The persistence scenario appends through a real PostgreSQL store and reports its figures."""

from __future__ import annotations

from loadtest.scenarios.persistence import PersistenceOptions, run


def small(dsn: str, rate: float | None = None) -> PersistenceOptions:
    return PersistenceOptions(
        database_url=dsn, threads=3, tasks=6, duration=0.5, warmup=0.1, rate=rate
    )


async def test_closed_loop_commits_appends_and_reports_cost_and_batches(postgres_dsn: str) -> None:
    summary = (await run(small(postgres_dsn)))["summary"]
    assert summary["appended"] > 0
    assert summary["failed"] == 0
    assert summary["cpu_us_per_append"] > 0
    assert summary["batch_size"]["batches"] > 0
    assert summary["latency"]["p50_ms"] >= 0


async def test_open_loop_commits_appends_at_an_offered_rate(postgres_dsn: str) -> None:
    report = await run(small(postgres_dsn, rate=100.0))
    assert report["options"]["rate"] == 100.0
    assert report["summary"]["appended"] > 0
    assert report["summary"]["failed"] == 0
