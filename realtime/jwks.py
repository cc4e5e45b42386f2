"""Signing keys of an identity provider, fetched from its JWKS document and cached.

Identity providers (Firebase Authentication, Auth0, Cognito, Keycloak, ...) sign their
tokens with keys they publish as a JSON Web Key Set and rotate now and then. A token names
its key by ``kid``. :class:`JwksKeys` answers "which key is ``kid``?":

- from its cache while the document is younger than ``max_age``;
- otherwise, or when ``kid`` is unknown (the provider has rotated), by fetching the
  document again, at most once per ``min_interval`` seconds however many tokens ask, so
  a flood of made-up ``kid`` values costs one fetch, not one per token;
- concurrent askers share one fetch in flight.

Fetching uses aiohttp, so a slow provider never blocks the event loop; a failed fetch
keeps the keys already known. Keys are parsed with PyJWT's :class:`jwt.PyJWK` (RSA, EC
and OKP keys need ``cryptography``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import aiohttp
import jwt

__all__ = ["JwksKeys", "parse_jwks"]

log = logging.getLogger(__name__)

_MAX_DOCUMENT: Final = 1 << 20
"""Bytes a JWKS document may have: real ones are a few KiB."""


def parse_jwks(document: object) -> dict[str, jwt.PyJWK]:
    """The usable signing keys of a JWKS document, by ``kid``.

    Keys without a ``kid``, meant for encryption (``use`` other than ``sig``), or of a
    type or algorithm PyJWT cannot use are skipped (and logged): one odd key in a
    provider's set must not hide the others.

    :raises ValueError: if ``document`` is not an object with a ``keys`` list.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("a JWKS document is an object with a 'keys' list")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, Mapping):
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or entry.get("use", "sig") != "sig":
            continue
        try:
            keys[kid] = jwt.PyJWK(dict(entry))
        except jwt.PyJWTError as exc:
            log.warning("JWKS key %r skipped: %s", kid, exc)
    return keys


class JwksKeys:
    """The keys of one JWKS URL. ``await start()`` once, ``await close()`` at the end.

    ``clock`` (monotonic seconds) is passed in so that tests can move time.
    """

    def __init__(
        self,
        url: str,
        *,
        max_age: float = 300.0,
        min_interval: float = 10.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._max_age = max_age
        self._min_interval = min_interval
        self._timeout = timeout
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        """When the keys were last fetched successfully."""
        self._tried_at: float | None = None
        """When a fetch last started, successful or not: the rate bound counts from it."""
        self._inflight: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self.fetches = 0
        """Fetches started so far (tests and metrics)."""

    async def start(self) -> None:
        """Open the HTTP session and fetch the keys once.

        A provider that is down at start does not stop the node: the keys are fetched
        again when the first token asks for one.
        """
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            headers={"Accept": "application/json"},
        )
        await self._refresh()

    async def close(self) -> None:
        """Stop any fetch in flight and close the HTTP session. Idempotent."""
        if self._inflight is not None:
            self._inflight.cancel()
            await asyncio.gather(self._inflight, return_exceptions=True)
            self._inflight = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key called ``kid``, or ``None`` if the provider does not publish one.

        Fetches the document first when the cache is older than ``max_age`` or does not
        know ``kid``, unless a fetch started less than ``min_interval`` ago.
        """
        now = self._clock()
        stale = self._fetched_at is None or now - self._fetched_at >= self._max_age
        if (stale or kid not in self._keys) and self._may_fetch(now):
            await self._refresh()
        return self._keys.get(kid)

    def _may_fetch(self, now: float) -> bool:
        if self._inflight is not None:
            return True  # joining a fetch costs nothing
        return self._tried_at is None or now - self._tried_at >= self._min_interval

    async def _refresh(self) -> None:
        """Fetch the document, or wait for the fetch already under way."""
        if self._inflight is None:
            self._tried_at = self._clock()
            self.fetches += 1
            self._inflight = asyncio.create_task(self._fetch(), name="jwks-fetch")
            self._inflight.add_done_callback(self._fetch_done)
        # shield: one asker being cancelled (its client left) must not cancel the fetch
        # that others wait on.
        await asyncio.shield(self._inflight)

    def _fetch_done(self, task: asyncio.Task[None]) -> None:
        if self._inflight is task:
            self._inflight = None

    async def _fetch(self) -> None:
        if self._session is None:
            raise RuntimeError("JwksKeys.start() was not called")
        try:
            async with self._session.get(self.url) as response:
                if response.status != 200:
                    raise ValueError(f"HTTP {response.status}")
                body = await response.content.read(_MAX_DOCUMENT + 1)
                if len(body) > _MAX_DOCUMENT:
                    raise ValueError("document larger than 1 MiB")
                document: Any = json.loads(body)
            keys = parse_jwks(document)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            # Keep what we had: a provider's hiccup must not sign everybody out.
            log.warning("JWKS fetch from %s failed: %s", self.url, exc or type(exc).__name__)
            return
        self._keys = keys
        self._fetched_at = self._clock()
        log.info("JWKS from %s: %d signing keys", self.url, len(keys))
