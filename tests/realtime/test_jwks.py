"""An identity provider's keys: fetched, cached, refreshed on rotation at a bounded rate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from realtime.jwks import JwksKeys, parse_jwks
from tests.fixtures.jwks import Provider


class Clock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def keys(provider: Provider, clock: Clock) -> AsyncIterator[JwksKeys]:
    k = JwksKeys(provider.url, max_age=300, min_interval=10, clock=clock)
    await k.start()
    yield k
    await k.close()


async def test_every_published_key_is_found_by_kid_after_one_fetch(
    keys: JwksKeys, provider: Provider,
) -> None:
    found = [await keys.key(k.kid) for k in provider.keys]
    assert [k.key_id for k in found if k is not None] == ["rsa-1", "ec-1", "ed-1"]
    assert provider.requests == 1


async def test_an_unknown_kid_fetches_the_rotated_keys(
    keys: JwksKeys, provider: Provider, clock: Clock,
) -> None:
    provider.rotate()
    clock.now += 10
    new = provider.key("RS256")
    assert (await keys.key(new.kid)) is not None
    assert provider.requests == 2


async def test_keys_no_longer_published_are_forgotten_after_a_fetch(
    keys: JwksKeys, provider: Provider, clock: Clock,
) -> None:
    old = provider.rotate()
    clock.now += 10
    await keys.key(provider.key("RS256").kid)
    assert (await keys.key(old[0].kid)) is None


async def test_unknown_kids_within_the_interval_cost_no_fetch(
    keys: JwksKeys, provider: Provider, clock: Clock,
) -> None:
    clock.now += 9.9
    for n in range(100):
        assert (await keys.key(f"made-up-{n}")) is None
    assert provider.requests == 1


async def test_concurrent_askers_share_one_fetch(
    keys: JwksKeys, provider: Provider, clock: Clock,
) -> None:
    provider.rotate()
    clock.now += 10
    kid = provider.key("ES256").kid
    found = await asyncio.gather(*(keys.key(kid) for _ in range(20)))
    assert all(k is not None for k in found)
    assert provider.requests == 2


async def test_keys_older_than_max_age_are_fetched_again(
    keys: JwksKeys, provider: Provider, clock: Clock,
) -> None:
    clock.now += 300
    assert (await keys.key("rsa-1")) is not None
    assert provider.requests == 2


async def test_a_failed_fetch_keeps_the_keys_already_known(
    keys: JwksKeys, provider: Provider, clock: Clock,
) -> None:
    await provider.close()
    clock.now += 300
    assert (await keys.key("rsa-1")) is not None


async def test_a_provider_down_at_start_is_asked_again_later(clock: Clock) -> None:
    provider = Provider()
    await provider.start()
    url = provider.url
    await provider.close()
    keys = JwksKeys(url, min_interval=10, clock=clock)
    await keys.start()
    try:
        assert (await keys.key("rsa-1")) is None
        assert keys.fetches == 1  # within the interval: not asked again
        clock.now += 10
        assert (await keys.key("rsa-1")) is None
        assert keys.fetches == 2
    finally:
        await keys.close()


def test_a_jwks_document_skips_keys_it_cannot_use() -> None:
    provider = Provider()
    usable = [k.public_jwk for k in provider.keys]
    document = {"keys": [
        *usable,
        {"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"},  # no kid
        {**usable[0], "kid": "enc", "use": "enc"},  # for encryption
        {"kty": "RSA", "kid": "broken", "n": "!", "e": "AQAB"},
        "not a key",
    ]}
    assert sorted(parse_jwks(document)) == ["ec-1", "ed-1", "rsa-1"]


@pytest.mark.parametrize("document", [[], {"keys": "x"}, {"nokeys": []}, None])
def test_a_document_without_a_keys_list_is_refused(document: object) -> None:
    with pytest.raises(ValueError):
        parse_jwks(document)
