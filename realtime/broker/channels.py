"""Channel names. Every channel the node uses is named here and nowhere else.

Names carry a Redis Cluster hash tag (the part in braces), so a cluster with sharded
pub/sub spreads channels over its shards by user or topic, never by node.
"""

from __future__ import annotations

_USER = "rt:{u:"
_TOPIC = "rt:{t:"


def user_channel(user: str) -> str:
    """The channel of everything addressed to ``user``'s sessions."""
    return f"{_USER}{user}}}"


def topic_channel(topic: str) -> str:
    """The channel of a followed topic (``post:<id>``, ``presence:<user>``)."""
    return f"{_TOPIC}{topic}}}"



THREADS_CHANNEL = "rt:{threads}"
"""Every node subscribes it: the id of a thread whose members changed, so that each node
drops the thread from its cache at once (see ``MessagingService.change_members``)."""

_REPLY = "rt:{r:"


def reply_channel(node: str) -> str:
    """The channel of answers addressed to node ``node`` (a disconnect's counts)."""
    return f"{_REPLY}{node}}}"
