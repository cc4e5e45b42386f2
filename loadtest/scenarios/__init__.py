"""The scenarios, by name: each module has ``prepare``, ``Worker`` and ``summarize``."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["scenario_module"]


def scenario_module(name: str) -> ModuleType:
    """The module of scenario ``name`` (``dm``, ``fanout``, ``typing``, ``likes``,
    ``idle``, ``reconnect``, ``reactions``)."""
    return importlib.import_module(f"loadtest.scenarios.{name}")
