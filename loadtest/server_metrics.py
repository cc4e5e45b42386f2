"""The target's own CPU and memory, read from its Prometheus ``/metrics``.

Reading them over HTTP (not from /proc) measures a remote node or a whole cluster the
same way as a local one: with several ``--api-url``, the figures are summed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["ServerSample", "scrape"]


@dataclass(frozen=True)
class ServerSample:
    """Process CPU seconds and resident bytes, summed over the targets, at ``at`` (wall)."""

    cpu_seconds: float
    rss_bytes: float
    at: float

    def __sub__(self, other: ServerSample) -> ServerSample:
        return ServerSample(self.cpu_seconds - other.cpu_seconds,
                            self.rss_bytes - other.rss_bytes, self.at - other.at)


async def scrape(api_urls: list[str]) -> ServerSample | None:
    """Read every target's ``/metrics``; ``None`` when there is no target to read."""
    if not api_urls:
        return None
    cpu = rss = 0.0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        for url in api_urls:
            async with session.get(url.rstrip("/") + "/metrics") as response:
                response.raise_for_status()
                text = await response.text()
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == "process_cpu_seconds_total":
                        cpu += sample.value
                    elif sample.name == "process_resident_memory_bytes":
                        rss += sample.value
    return ServerSample(cpu, rss, time.time())
