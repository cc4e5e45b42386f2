"""Live progress of a run in the terminal (rich), from the workers' counters."""

from __future__ import annotations

import time
from collections import Counter

from rich.console import Console
from rich.live import Live
from rich.table import Table

from loadtest.options import Options

__all__ = ["Progress"]

_SHOWN = ("connect_failed", "sent", "acked", "delivered", "received", "updates", "lost",
          "duplicates", "connected", "skipped")


class Progress:
    """Shows the phase, the elapsed time and the summed counters while a run goes on."""

    def __init__(self, *, enabled: bool = True, console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console or Console(stderr=True)
        self._live: Live | None = None
        self._phase = ""
        self._title = ""
        self._t0 = 0.0
        self._last: Counter[str] = Counter()
        self._last_at = 0.0
        self._rates: dict[str, float] = {}

    def phase(self, name: str, options: Options, t0_ns: int | None = None) -> None:
        if not self.enabled:
            return
        self._phase = name
        self._title = (f"{options.scenario} -> {options.target} "
                       f"({options.connections} conns, {options.rate:g}/s)")
        if t0_ns is not None:
            self._t0 = time.monotonic() + (t0_ns - time.monotonic_ns()) / 1e9
        if name == "done":
            if self._live is not None:
                self._live.stop()
                self._live = None
            return
        if self._live is None:
            self._live = Live(self._render(Counter()), console=self.console,
                              refresh_per_second=4, transient=True)
            self._live.start()

    def update(self, counters: list[dict[str, int]]) -> None:
        if not self.enabled or self._live is None:
            return
        total: Counter[str] = Counter()
        for c in counters:
            total.update(c)
        now = time.monotonic()
        if self._last_at and now > self._last_at:
            span = now - self._last_at
            self._rates = {k: (total[k] - self._last[k]) / span for k in total}
        self._last, self._last_at = total, now
        self._live.update(self._render(total))

    def _render(self, total: Counter[str]) -> Table:
        elapsed = time.monotonic() - self._t0 if self._t0 and self._phase == "load" else 0.0
        table = Table(title=f"{self._title}: {self._phase} {elapsed:5.1f} s")
        table.add_column("counter")
        table.add_column("total", justify="right")
        table.add_column("per s", justify="right")
        for key in sorted(total):
            if key in _SHOWN or key.startswith("error_"):
                table.add_row(key, f"{total[key]:,}", f"{self._rates.get(key, 0.0):,.0f}")
        return table
