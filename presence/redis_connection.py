"""One way to reach Redis from a URL, for presence, the broker and the node directory.

A ``redis+cluster://`` (or ``rediss+cluster://``) URL names a Redis Cluster; a plain
``redis://`` or ``rediss://`` URL names one server, unless that server reports
``cluster_enabled:1``, in which case it is a node of a cluster and is reached as one.
Each caller makes its own clients (pool sizes, timeouts and client names differ); this
module only decides what the URL names.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from redis.asyncio import Redis

log = logging.getLogger(__name__)

CLOSE_TIMEOUT: Final = 2.0
"""Longest wait for a redis-py client to close (see :func:`close_within`)."""

CLUSTER_SCHEMES: Final = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
"""URL schemes that name a Redis Cluster, and the plain scheme redis-py expects instead."""


def plain_url(url: str) -> tuple[str, bool]:
    """The URL as redis-py expects it, and whether its scheme names a cluster."""
    scheme, sep, rest = url.partition("://")
    if scheme in CLUSTER_SCHEMES:
        return f"{CLUSTER_SCHEMES[scheme]}{sep}{rest}", True
    return url, False


async def single_server(url: str, open_plain: Callable[[str], Redis]) -> tuple[str, Redis | None]:
    """What ``url`` names: the URL redis-py expects, with a client made by ``open_plain``
    when it is one server, or with None when it is a cluster (the caller then makes its
    cluster client). Raises what the server's ``INFO`` raises when it cannot be reached.
    """
    url, named_cluster = plain_url(url)
    if named_cluster:
        return url, None
    client = open_plain(url)
    try:
        info = await client.info("cluster")
    except BaseException:
        await client.aclose()
        raise
    if int(info.get("cluster_enabled", 0)) == 1:
        await client.aclose()
        return url, None
    return url, client


def url_address(url: str) -> str:
    """``host:port`` of a Redis URL, without credentials (for logs and errors)."""
    rest = url.partition("://")[2]
    return rest.rpartition("@")[2].partition("/")[0].partition("?")[0] or "localhost"


async def close_within(closing: Awaitable[None], what: str) -> None:
    """Await a redis-py close for at most :data:`CLOSE_TIMEOUT`.

    Closing a connection waits for its socket to close, which can take forever
    (redis/redis-py#3941; seen as a node close that hung after a Redis outage). Past the
    bound the close is given up: the sockets go with their objects. Every redis-py
    client of a node is closed through here, so no close can hang a shutdown.
    """
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await closing
    except TimeoutError:
        log.warning("%s: the connection did not close in time, dropped", what)


async def cancel_and_wait(task: asyncio.Task[Any], what: str) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling again every
    :data:`CLOSE_TIMEOUT` seconds while it runs on.

    redis-py can swallow a cancellation (a retry loop or a connection's disconnect that
    catches it), and a task that swallowed it would hang the close awaiting it. Cancelling
    again ends it at its next await, and the task is still awaited: nothing is left
    running behind the close.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=CLOSE_TIMEOUT)
        if not task.done():
            log.warning("%s: still running after a cancellation, cancelled again", what)
    if not task.cancelled():
        exc = task.exception()
        if exc is not None:
            log.warning("%s ended with %r", what, exc)
