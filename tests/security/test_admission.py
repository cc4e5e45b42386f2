"""The admission checks on their own: handshake rate per address, Origin, trusted proxies.

Pure: every instant is made up, so nothing here waits.
"""

from __future__ import annotations

import pytest

from protocol.errors import ErrorCode
from realtime.admission import Admission, HandshakeLimiter, OriginPolicy, TrustedProxies

# -- the handshake rate --------------------------------------------------------------


def test_an_address_may_make_burst_handshakes_at_once_and_no_more() -> None:
    limiter = HandshakeLimiter(rate=1.0, burst=3)
    assert [limiter.admit("192.0.2.1", 0.0) for _ in range(4)] == [None, None, None, 1]


def test_the_refusal_says_when_to_retry() -> None:
    limiter = HandshakeLimiter(rate=0.25, burst=1)
    limiter.admit("192.0.2.1", 0.0)
    assert limiter.admit("192.0.2.1", 1.0) == 3


def test_handshakes_are_allowed_again_as_the_bucket_refills() -> None:
    limiter = HandshakeLimiter(rate=2.0, burst=1)
    limiter.admit("192.0.2.1", 0.0)
    assert limiter.admit("192.0.2.1", 0.1) is not None
    assert limiter.admit("192.0.2.1", 0.6) is None


def test_each_address_has_its_own_bucket() -> None:
    limiter = HandshakeLimiter(rate=1.0, burst=1)
    limiter.admit("192.0.2.1", 0.0)
    assert limiter.admit("192.0.2.2", 0.0) is None


def test_ipv6_addresses_of_one_64_share_a_bucket() -> None:
    limiter = HandshakeLimiter(rate=1.0, burst=1)
    limiter.admit("2001:db8:1:2::1", 0.0)
    assert limiter.admit("2001:db8:1:2:ffff::9", 0.0) is not None
    assert limiter.admit("2001:db8:1:3::1", 0.0) is None


def test_an_ipv4_mapped_address_counts_as_its_ipv4_address() -> None:
    limiter = HandshakeLimiter(rate=1.0, burst=1)
    limiter.admit("192.0.2.1", 0.0)
    assert limiter.admit("::ffff:192.0.2.1", 0.0) is not None


def test_the_table_of_addresses_stays_within_its_bound() -> None:
    limiter = HandshakeLimiter(rate=1.0, burst=1, max_addresses=100)
    for i in range(1000):
        limiter.admit(f"10.0.{i // 256}.{i % 256}", 0.0)
    assert len(limiter) == 100


def test_the_least_recently_seen_address_is_forgotten_first() -> None:
    limiter = HandshakeLimiter(rate=1.0, burst=1, max_addresses=2)
    limiter.admit("192.0.2.1", 0.0)
    limiter.admit("192.0.2.2", 0.0)
    limiter.admit("192.0.2.1", 0.0)  # refused, and seen again
    limiter.admit("192.0.2.3", 0.0)  # evicts .2, not .1
    assert limiter.admit("192.0.2.1", 0.0) is not None


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_a_limiter_needs_a_positive_rate_and_burst(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        HandshakeLimiter(rate=rate, burst=burst)


# -- the Origin allow-list -----------------------------------------------------------


def test_an_empty_allow_list_allows_any_origin() -> None:
    assert OriginPolicy.parse("").allows("https://evil.example")


def test_a_handshake_without_origin_is_allowed() -> None:
    assert OriginPolicy.parse("https://chat.example.com").allows(None)


def test_a_listed_origin_is_allowed_ignoring_case_and_a_trailing_slash() -> None:
    policy = OriginPolicy.parse("https://Chat.Example.com/, http://localhost:3000")
    assert policy.allows("https://chat.example.com")
    assert policy.allows("http://localhost:3000")


@pytest.mark.parametrize("origin", [
    "https://evil.example",
    "http://chat.example.com",  # another scheme
    "https://chat.example.com:8443",  # another port
    "https://chat.example.com.evil.example",
    "null",
    "",
])
def test_an_origin_not_listed_is_refused(origin: str) -> None:
    assert not OriginPolicy.parse("https://chat.example.com").allows(origin)


def test_a_wildcard_allows_subdomains_only_over_its_scheme() -> None:
    policy = OriginPolicy.parse("https://*.example.com")
    assert policy.allows("https://a.example.com")
    assert policy.allows("https://a.b.example.com")
    assert not policy.allows("https://example.com")
    assert not policy.allows("http://a.example.com")
    assert not policy.allows("https://a.example.com.evil.example")
    assert not policy.allows("https://evil.example/.example.com")


def test_a_lone_star_allows_any_origin() -> None:
    assert OriginPolicy.parse("https://chat.example.com,*").allows("https://evil.example")


@pytest.mark.parametrize("entry", ["chat.example.com", "https://a.com/path", "null",
                                   "https://a.*.example.com", "*.example.com"])
def test_an_entry_that_is_not_an_origin_is_refused_at_start(entry: str) -> None:
    with pytest.raises(ValueError):
        OriginPolicy.parse(entry)


# -- trusted proxies -----------------------------------------------------------------


def test_without_trusted_proxies_forwarded_for_is_ignored() -> None:
    assert TrustedProxies.parse("").client("10.0.0.5", "198.51.100.7") == "10.0.0.5"


def test_a_trusted_proxy_names_the_client() -> None:
    proxies = TrustedProxies.parse("10.0.0.0/8")
    assert proxies.client("10.0.0.5", "198.51.100.7") == "198.51.100.7"


def test_an_untrusted_peer_cannot_name_the_client() -> None:
    proxies = TrustedProxies.parse("10.0.0.0/8")
    assert proxies.client("198.51.100.9", "198.51.100.7") == "198.51.100.9"


def test_addresses_a_client_wrote_before_the_proxies_are_ignored() -> None:
    proxies = TrustedProxies.parse("10.0.0.0/8")
    # The client claimed 203.0.113.1; the proxy appended where the request came from.
    assert proxies.client("10.0.0.5", "203.0.113.1, 198.51.100.7, 10.0.0.9") == "198.51.100.7"


def test_garbage_where_the_client_should_be_falls_back_to_the_peer() -> None:
    proxies = TrustedProxies.parse("10.0.0.0/8")
    assert proxies.client("10.0.0.5", "not-an-address") == "10.0.0.5"


def test_a_proxy_entry_that_is_not_an_address_is_refused_at_start() -> None:
    with pytest.raises(ValueError):
        TrustedProxies.parse("10.0.0.0/8, proxy.internal")


# -- the checks together -------------------------------------------------------------


def test_the_rate_is_checked_before_the_origin() -> None:
    admission = Admission(rate=1.0, burst=1, allowed_origins="https://chat.example.com")
    first = admission.check("192.0.2.1", origin="https://evil.example", forwarded_for=None,
                            now=0.0)
    second = admission.check("192.0.2.1", origin="https://chat.example.com",
                             forwarded_for=None, now=0.0)
    assert first is not None and first.code is ErrorCode.FORBIDDEN
    assert second is not None and second.code is ErrorCode.RATE_LIMITED


def test_a_rate_of_zero_limits_nothing() -> None:
    admission = Admission(rate=0.0, burst=1)
    assert all(admission.check("192.0.2.1", origin=None, forwarded_for=None, now=0.0) is None
               for _ in range(1000))
