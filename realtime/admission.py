"""Admission: the checks a WebSocket handshake passes before its token is looked at.

Both are cheap, and both run before any signature is verified, so that a flood of
handshakes costs the node as little as possible:

- **Handshake rate per client address.** A :class:`~realtime.ratelimit.TokenBucket` per
  address, kept in a table of bounded size that forgets the least recently seen address
  first. Past the rate: HTTP 429 ``rate_limited`` with ``Retry-After``. IPv6 addresses
  are counted per /64, the block one subscriber usually holds, so that walking through
  the addresses of one block gains nothing.
- **Origin allow-list.** Browsers send ``Origin`` on every WebSocket handshake and let
  any page open a WebSocket to any site; the allow-list keeps pages of other sites from
  using a visitor's token (cross-site WebSocket hijacking). A listed-elsewhere Origin:
  HTTP 403 ``forbidden``. A handshake without ``Origin`` is not a browser's (native
  apps, backends, the load harness) and passes.

Behind a load balancer every handshake comes from the balancer's address. Name it in
``trusted_proxies`` and the client address is taken from ``X-Forwarded-For`` instead,
and only when the peer is such a proxy: anyone else could write that header.

Pure apart from the table it keeps: the caller passes the clock in.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protocol.errors import ErrorCode
from realtime.ratelimit import TokenBucket

__all__ = ["Admission", "HandshakeLimiter", "OriginPolicy", "Refusal", "TrustedProxies"]

MAX_ADDRESSES = 65_536
"""Addresses the handshake limiter remembers (a few MiB at most)."""

IPV6_PREFIX = 64

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a handshake is refused: the code (and so the HTTP status) and a message safe
    to show the client; ``retry_after`` in whole seconds when waiting helps."""

    code: ErrorCode
    message: str
    retry_after: int | None = None


class HandshakeLimiter:
    """Handshakes per second per client address: ``rate`` per second, ``burst`` at once.

    Remembers at most ``max_addresses`` addresses; the least recently seen is forgotten
    first, which only ever gives that address a full bucket again.
    """

    __slots__ = ("_buckets", "_burst", "_max", "_rate")

    def __init__(self, rate: float, burst: int, *, max_addresses: int = MAX_ADDRESSES) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        if burst < 1:
            raise ValueError("burst must be >= 1")
        if max_addresses < 1:
            raise ValueError("max_addresses must be >= 1")
        self._rate = rate
        self._burst = burst
        self._max = max_addresses
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def admit(self, address: str, now: float) -> int | None:
        """Count one handshake from ``address`` at instant ``now`` (monotonic seconds).

        Return ``None`` if it is within the limit, else the seconds after which one
        more would be.
        """
        key = _bucket_key(address)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self._rate, self._burst, now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        if bucket.take(now):
            return None
        return max(1, math.ceil((1 - bucket.tokens) / self._rate))


def _bucket_key(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


class OriginPolicy:
    """Which browser origins may open a WebSocket.

    ``allowed`` lists origins as browsers send them (``https://chat.example.com``,
    ``http://localhost:3000``); ``https://*.example.com`` allows every subdomain of
    ``example.com`` over https; ``*`` allows any. Matching ignores case and a trailing
    slash. An empty list allows any origin.

    :raises ValueError: if an entry is not of that form.
    """

    __slots__ = ("_any", "_exact", "_wildcards")

    def __init__(self, allowed: Iterable[str]) -> None:
        entries = [_normal(entry) for entry in allowed if entry.strip()]
        self._any = not entries or "*" in entries
        self._exact: frozenset[str] = frozenset(e for e in entries if "*" not in e)
        self._wildcards: list[tuple[str, str]] = []
        for entry in entries:
            if entry == "*":
                continue
            parts = urlsplit(entry)
            if not parts.scheme or not parts.netloc or parts.path or parts.query:
                raise ValueError(f"not an origin: {entry!r} (expected scheme://host[:port])")
            if "*" in entry:
                prefix = f"{parts.scheme}://*."
                if not entry.startswith(prefix) or "*" in entry[len(prefix):]:
                    raise ValueError(f"a wildcard must be the first label: {entry!r}")
                self._wildcards.append((f"{parts.scheme}://", entry[len(prefix) - 1:]))

    @classmethod
    def parse(cls, setting: str) -> OriginPolicy:
        """The policy a comma-separated ``allowed_origins`` setting describes."""
        return cls(setting.split(","))

    @property
    def allows_any(self) -> bool:
        return self._any

    def allows(self, origin: str | None) -> bool:
        """Whether a handshake carrying ``origin`` (``None``: no Origin header) may proceed."""
        if origin is None or self._any:
            return True
        origin = _normal(origin)
        if origin in self._exact:
            return True
        for scheme, suffix in self._wildcards:
            if origin.startswith(scheme) and origin.endswith(suffix):
                labels = origin[len(scheme):-len(suffix)]
                if labels and all(_is_label(label) for label in labels.split(".")):
                    return True
        return False


def _normal(origin: str) -> str:
    return origin.strip().lower().rstrip("/")


def _is_label(label: str) -> bool:
    return bool(label) and all(c.isalnum() or c == "-" for c in label) and label.isascii()


class TrustedProxies:
    """The proxies (addresses or CIDR networks) whose ``X-Forwarded-For`` is believed.

    :raises ValueError: if an entry is not an address or a network.
    """

    __slots__ = ("_networks",)

    def __init__(self, entries: Iterable[str]) -> None:
        networks: list[Network] = []
        for entry in entries:
            if entry.strip():
                try:
                    networks.append(ipaddress.ip_network(entry.strip(), strict=False))
                except ValueError:
                    raise ValueError(f"not an address or network: {entry.strip()!r}") from None
        self._networks = tuple(networks)

    @classmethod
    def parse(cls, setting: str) -> TrustedProxies:
        """The proxies a comma-separated ``trusted_proxies`` setting names."""
        return cls(setting.split(","))

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def client(self, peer: str, forwarded_for: str | None) -> str:
        """The client address of a request from ``peer`` carrying ``forwarded_for``.

        Each proxy appends the address it got the request from, so the list is read
        from the right: the first address that is not a trusted proxy is the client.
        Anything left of it was written by the client and is ignored.
        """
        if not forwarded_for or not self.trusts(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",")]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop if _is_address(hop) else peer
        return hops[0] if _is_address(hops[0]) else peer


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class Admission:
    """The admission checks of one node, in the order :meth:`check` runs them.

    ``rate`` handshakes per second per client address with a ``burst`` (``rate`` 0:
    no limit); ``allowed_origins`` and ``trusted_proxies`` as their settings read.

    :raises ValueError: if a setting cannot be read.
    """

    __slots__ = ("limiter", "origins", "proxies")

    def __init__(self, *, rate: float, burst: int, allowed_origins: str = "",
                 trusted_proxies: str = "", max_addresses: int = MAX_ADDRESSES) -> None:
        self.limiter = (HandshakeLimiter(rate, burst, max_addresses=max_addresses)
                        if rate > 0 else None)
        self.origins = OriginPolicy.parse(allowed_origins)
        self.proxies = TrustedProxies.parse(trusted_proxies)

    def check(self, peer: str | None, *, origin: str | None, forwarded_for: str | None,
              now: float) -> Refusal | None:
        """Admit one handshake, or say why not. Call it first thing on every handshake:
        refused ones count against the rate too, or guessing tokens would be free."""
        if self.limiter is not None and peer:
            client = self.proxies.client(peer, forwarded_for)
            wait = self.limiter.admit(client, now)
            if wait is not None:
                return Refusal(ErrorCode.RATE_LIMITED,
                               "too many handshakes from this address, retry later", wait)
        if not self.origins.allows(origin):
            return Refusal(ErrorCode.FORBIDDEN, "this origin may not connect")
        return None
