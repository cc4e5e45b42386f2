"""Prometheus metrics of a node, defined once, with the names operators already know.

Every metric lives in prometheus_client's default registry, next to its process
collector (``process_cpu_seconds_total``, ``process_resident_memory_bytes``), and is
served by the internal API at ``/metrics``. Labels are bounded sets (frame types, error
and close codes): never a user, thread or post id.

The helpers below are called on hot paths (every frame a session reads), so each
keeps the labelled child it resolved in a dict: one dict lookup per call, not a
``labels()`` call. The series counted per frame or per message are lock-free
(:mod:`realtime.metric_types`): they are only ever touched on the event loop thread.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    disable_created_metrics,
)
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from realtime.metric_types import LoopCounter, LoopHistogram

__all__ = [
    "APPEND_DURATION",
    "BROKER_PUBLISH_DURATION",
    "CLOSES",
    "COMMAND_DURATION",
    "CONTENT_TYPE",
    "ERRORS",
    "MESSAGES_RECEIVED",
    "MESSAGES_SENT",
    "NODE",
    "closed",
    "command",
    "error",
    "exposition",
    "received",
    "sent",
    "watch_node",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST

# A ``*_created`` series per counter and histogram doubles what a scrape carries and no
# dashboard reads it.
disable_created_metrics()

MESSAGES_SENT = LoopCounter(
    "realtime_messages_sent", "Frames delivered to sessions from publications, by frame type.",
    ["type"],
)
MESSAGES_RECEIVED = LoopCounter(
    "realtime_messages_received", "Valid frames read from clients, by frame type.", ["type"],
)
COMMAND_DURATION = LoopHistogram(
    "realtime_client_command_duration_seconds",
    "Time to handle one client frame, by frame type (a send: until it is handed to the "
    "store; its commit is realtime_store_append_duration_seconds).",
    ["method"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
             0.5, 1.0, 2.5),
)
ERRORS = Counter("realtime_errors", "Error frames sent to clients, by error code.", ["code"])
CLOSES = Counter("realtime_closes", "WebSocket sessions closed, by close code.", ["code"])
APPEND_DURATION = LoopHistogram(
    "realtime_store_append_duration_seconds",
    "Time from handing a message to the store to its commit (group commit included).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
_received: dict[type, Any] = {}
_commands: dict[type, Any] = {}
_sent: dict[type, Any] = {}
_errors: dict[str, Any] = {}

# The frame each event of realtime.events becomes (named here: events imports nothing
# of this module, and this module must not import the node's internals).
_EVENT_FRAMES = {
    "MessageEvent": "message",
    "ReceiptEvent": "receipt",
    "TypingChange": "typing",
    "NotificationEvent": "notification",
    "PresenceChange": "presence",
    "LikesCount": "likes",
}


def _frame_type(cls: type) -> str:
    # A frame's wire name is its msgspec tag ("send", "history", ...): a bounded set.
    tag = getattr(getattr(cls, "__struct_config__", None), "tag", None)
    return tag if isinstance(tag, str) else cls.__name__.lower()


def received(cls: type) -> None:
    """Count a valid client frame of class ``cls``; call once per frame read."""
    child = _received.get(cls)
    if child is None:
        child = _received[cls] = MESSAGES_RECEIVED.labels(type=_frame_type(cls))
    child.inc()


def command(cls: type, seconds: float) -> None:
    """Record that handling a client frame of class ``cls`` took ``seconds``."""
    child = _commands.get(cls)
    if child is None:
        child = _commands[cls] = COMMAND_DURATION.labels(method=_frame_type(cls))
    child.observe(seconds)


def sent(event_cls: type) -> None:
    """Count one frame delivered to a session from a publication of ``event_cls``."""
    child = _sent.get(event_cls)
    if child is None:
        name = _EVENT_FRAMES.get(event_cls.__name__, event_cls.__name__.lower())
        child = _sent[event_cls] = MESSAGES_SENT.labels(type=name)
    child.inc()


def error(code: str) -> None:
    """Count one ``error`` frame with ``code`` sent to a client."""
    child = _errors.get(code)
    if child is None:
        child = _errors[code] = ERRORS.labels(code=code)
    child.inc()


def closed(code: int | None) -> None:
    """Count one session closing with ``code``: the code this node closes it with, or
    the client's when the client closed first (None: the socket ended without one)."""
    CLOSES.labels(code=str(code) if code is not None else "none").inc()


class Observed(Protocol):
    """What the collectors read from a node when scraped, and nothing else."""

    @property
    def connection_count(self) -> int: ...
    @property
    def users_here(self) -> int: ...
    @property
    def publish_failures(self) -> int: ...
    @property
    def broker(self) -> object: ...
    @property
    def draining(self) -> bool: ...
    @property
    def push_worker(self) -> object | None: ...
    @property
    def push(self) -> Any: ...


class NodeCollector(Collector):
    """Reads, when scraped, what the node already counts: its sessions, its users, the
    publications its broker refused, and the counters a broker keeps (the Redis broker:
    publications sent, channels subscribed, outages recovered from, connections down).

    One node per process is the deployment; with several (tests), the last one watched
    is reported. The node is held weakly, so a closed node is not kept alive.
    """

    def __init__(self) -> None:
        self._node: weakref.ref[Observed] | None = None

    def watch(self, node: Observed) -> None:
        self._node = weakref.ref(node)

    def describe(self) -> Iterable[Metric]:
        # Lets the registry check the names once, without reading a node.
        return self._families(0, 0, 0, None)

    def collect(self) -> Iterable[Metric]:
        node = self._node() if self._node is not None else None
        if node is None:
            return self._families(0, 0, 0, None)
        return self._families(node.connection_count, node.users_here,
                              node.publish_failures, node.broker)

    @staticmethod
    def _families(clients: int, users: int, publish_errors: int,
                  broker: object | None) -> list[Metric]:
        families: list[Metric] = [
            GaugeMetricFamily("realtime_node_num_clients",
                              "WebSocket sessions open on this node.", value=clients),
            GaugeMetricFamily("realtime_node_num_users",
                              "Distinct users with a session on this node.", value=users),
            CounterMetricFamily("realtime_broker_publish_errors",
                                "Publications the broker refused (left to sync).",
                                value=publish_errors),
        ]
        # Brokers that count nothing (in-process) export nothing beyond the above; the
        # names are still described, so a dashboard finds them on every node.
        for name, kind, help_text, attribute in _BROKER_FAMILIES:
            value = getattr(broker, attribute, None) if broker is not None else 0
            if isinstance(value, int | float):
                families.append(kind(name, help_text, value=value))
        return families


_BROKER_FAMILIES: tuple[tuple[str, Any, str, str], ...] = (
    ("realtime_broker_publishes", CounterMetricFamily,
     "Channel publications the broker sent (one per recipient channel).", "publishes"),
    ("realtime_broker_reconnects", CounterMetricFamily,
     "Broker outages recovered from (each followed by a catch-up from the store).",
     "reconnects"),
    ("realtime_broker_subscriptions", GaugeMetricFamily,
     "Broker channels this node is subscribed to.", "subscriptions"),
    ("realtime_broker_connections_down", GaugeMetricFamily,
     "Broker connections lost right now (0 when all is well).", "connections_down"),
)
"""(metric, family, help, broker attribute) of each number a broker may keep."""


NODE = NodeCollector()
REGISTRY.register(NODE)


def watch_node(node: Observed) -> None:
    """Report ``node``'s sessions, users and broker errors from now on."""
    NODE.watch(node)


def exposition() -> bytes:
    """The text exposition of every metric in the default registry."""
    return _generate_latest(REGISTRY)


BROKER_PUBLISH_DURATION = LoopHistogram(
    "realtime_broker_publish_duration_seconds",
    "Time to hand one publication (all its recipient channels) to the broker.",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
             0.5, 1.0, 2.5),
)


class PipelineCollector(Collector):
    """Reads, when scraped, the drain state of the watched node and the counters of its
    push worker (``node.push_worker``, a :class:`push.worker.PushWorker`, when push is on;
    zeros otherwise, so every node exports the same names)."""

    _PUSH: tuple[tuple[str, Any, str, str], ...] = (
        ("realtime_push_sent", CounterMetricFamily,
         "Push notifications FCM accepted.", "sent"),
        ("realtime_push_retried", CounterMetricFamily,
         "Push sends that failed and were scheduled again.", "retried"),
        ("realtime_push_failed", CounterMetricFamily,
         "Push jobs given up on (rejected payload, credentials, too many attempts).",
         "failed"),
        ("realtime_push_unregistered", CounterMetricFamily,
         "Device tokens FCM reported dead (the device was forgotten).", "unregistered"),
        ("realtime_push_errors", CounterMetricFamily,
         "Push outbox or callback failures (the job comes back after its lease).", "errors"),
        ("realtime_push_in_flight", GaugeMetricFamily,
         "Push sends started and not yet settled.", "in_flight"),
    )

    def describe(self) -> Iterable[Metric]:
        return self._families(None)

    def collect(self) -> Iterable[Metric]:
        node = NODE._node() if NODE._node is not None else None
        return self._families(node)

    def _families(self, node: Observed | None) -> list[Metric]:
        draining = bool(node is not None and node.draining)
        families: list[Metric] = [
            GaugeMetricFamily("realtime_node_draining",
                              "1 from the start of a drain (readiness is false), else 0.",
                              value=int(draining)),
        ]
        worker = getattr(node, "push_worker", None)
        for name, kind, help_text, attribute in self._PUSH:
            value = getattr(worker, attribute, 0) if worker is not None else 0
            families.append(kind(name, help_text, value=value))
        push = getattr(node, "push", None)
        families.append(GaugeMetricFamily(
            "realtime_push_outbox_depth", "Push jobs waiting in the outbox (sampled).",
            value=push.outbox_depth if push is not None else 0))
        families.append(GaugeMetricFamily(
            "realtime_push_outbox_oldest_age_seconds",
            "Seconds the oldest waiting push job has waited (sampled).",
            value=push.outbox_oldest_age if push is not None else 0.0))
        return families


REGISTRY.register(PipelineCollector())
