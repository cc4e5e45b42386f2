"""Figures that several scenarios report the same way."""

from __future__ import annotations

from typing import Any

from loadtest.options import Options
from loadtest.recorder import Measurements, percentiles

__all__ = ["delivery_summary", "error_count"]


def error_count(m: Measurements) -> int:
    """How many ``error`` frames the server answered."""
    return sum(v for k, v in m.counters.items() if k.startswith("error_"))


def delivery_summary(m: Measurements, options: Options, server: dict[str, Any] | None,
                     *, unacked: bool) -> dict[str, Any]:
    """Rates, loss, duplicates, delivery latency and server CPU per delivery.

    ``lost`` counts messages acked (on the relay: sent) and never received;
    ``unanswered``, with ``unacked``, the sends that got neither an ack nor an error
    before the drain ended (a node answers every send; the relay answers none).
    """
    c = m.counters
    delivered = c["delivered"]
    lost = c["lost"]
    unanswered = max(0, c["sent"] - c["acked"] - error_count(m)) if unacked else 0
    out: dict[str, Any] = {
        "offered_rate": options.rate,
        "sent": c["sent"],
        "acked": c["acked"],
        "delivered": delivered,
        "delivered_per_s": delivered / options.duration,
        "lost": lost,
        "unanswered": unanswered,
        "duplicates": c["duplicates"],
        "errors": error_count(m),
        "connect_failed": c["connect_failed"],
        "latency_ms": percentiles(m.histogram("delivery")),
    }
    if server is not None and delivered:
        out["cpu_us_per_delivery"] = server["cpu_seconds"] * 1e6 / delivered
    return out
