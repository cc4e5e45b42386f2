"""Tokens from an identity provider (JWKS), at the handshake and in ``refresh``.

A local provider (tests/fixtures/jwks.py) serves its keys; the node checks RS256, ES256
and EdDSA tokens against them, with issuer and audience, beside the HS256 secret. Every
bad token is refused: at the handshake with HTTP 401, in a ``refresh`` with
``unauthorized``, and the connection keeps its identity.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import jwt
import pytest

from realtime.auth import mint_token
from realtime.node import Node
from tests.fixtures.jwks import AUDIENCE, ISSUER, Provider, new_key
from tests.fixtures.node import NodeFactory
from tests.fixtures.wire import refusal, wire


@pytest.fixture
async def node(node_factory: NodeFactory, provider: Provider) -> Node:
    return await node_factory(jwt_jwks_url=provider.url, jwt_issuer=ISSUER,
                              jwt_audience=AUDIENCE, jwt_jwks_min_interval=0.0)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_keyed_with_public_key(provider: Provider) -> str:
    """The classic algorithm confusion: an HMAC token whose secret is the RSA public
    key (which anyone can read from the JWKS), naming that key's kid."""
    key = provider.key("RS256")
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    claims = _b64(json.dumps({"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE,
                              "exp": int(time.time()) + 600}).encode())
    signing_input = f"{header}.{claims}"
    mac = hmac.new(key.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def unsigned(provider: Provider) -> str:
    header = _b64(json.dumps({"alg": "none", "kid": provider.key("RS256").kid}).encode())
    claims = _b64(json.dumps({"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE,
                              "exp": int(time.time()) + 600}).encode())
    return f"{header}.{claims}."


def rs256_header_on_an_ec_key(provider: Provider) -> str:
    """An RS256 token naming the kid of the provider's EC key."""
    rogue = new_key("RS256", provider.key("ES256").kid)
    return provider.token("mallory", key=rogue)


BAD_TOKENS: dict[str, Callable[[Provider], str]] = {
    "signed with a key the provider does not publish": lambda p: p.token(
        "mallory", key=new_key("RS256", p.key("RS256").kid)),
    "for another audience": lambda p: p.token("mallory", aud="another-app"),
    "from another issuer": lambda p: p.token("mallory", iss="https://evil.example.test/"),
    "with an unknown kid": lambda p: p.token("mallory", key=new_key("RS256", "nobody")),
    "hs256 keyed with the rsa public key": hs256_keyed_with_public_key,
    "rs256 on the ec key's kid": rs256_header_on_an_ec_key,
    "unsigned (alg none)": unsigned,
    "expired": lambda p: p.token("mallory", ttl=-60),
    "without a kid": lambda p: jwt.encode(
        {"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600},
        p.key("RS256").private, algorithm="RS256"),
}


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
async def test_a_provider_token_opens_a_session_as_its_sub(
    node: Node, provider: Provider, alg: str,
) -> None:
    async with wire(node, "alice", token=provider.token("alice", alg=alg)) as alice:
        assert alice.welcome["user"] == "alice"


async def test_the_hs256_secret_still_works_beside_the_provider(node: Node) -> None:
    async with wire(node, "bob") as bob:  # node.token(): HS256 with the node's secret
        assert bob.welcome["user"] == "bob"


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
async def test_a_bad_token_is_refused_at_the_handshake(
    node: Node, provider: Provider, case: str,
) -> None:
    token = BAD_TOKENS[case](provider)
    status, body = await refusal(node, headers={"Authorization": f"Bearer {token}"})
    assert status == 401 and body["code"] == "unauthorized", body


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
async def test_a_bad_token_in_a_refresh_is_unauthorized_and_changes_nothing(
    node: Node, provider: Provider, case: str,
) -> None:
    async with wire(node, "mallory", token=provider.token("mallory", ttl=600)) as mallory:
        reply = await mallory.request({"type": "refresh", "id": "r",
                                       "token": BAD_TOKENS[case](provider)})
        pong = await mallory.request({"type": "ping"})
    assert reply["type"] == "error" and reply["code"] == "unauthorized", reply
    assert pong["type"] == "pong"


async def test_a_refresh_with_a_provider_token_is_acked_with_its_exp(
    node: Node, provider: Provider,
) -> None:
    fresh = provider.token("alice", alg="EdDSA", ttl=900)
    exp = jwt.decode(fresh, options={"verify_signature": False})["exp"]
    async with wire(node, "alice", token=provider.token("alice", ttl=60)) as alice:
        ack = await alice.request({"type": "refresh", "id": "r", "token": fresh})
    assert ack == {"type": "ack", "id": "r", "exp": exp * 1000}


async def test_after_a_rotation_new_keys_work_and_old_ones_are_refused(
    node: Node, provider: Provider,
) -> None:
    stale = provider.token("alice")
    provider.rotate()
    async with wire(node, "alice", token=provider.token("alice")) as alice:
        assert alice.welcome["user"] == "alice"
    status, _ = await refusal(node, headers={"Authorization": f"Bearer {stale}"})
    assert status == 401


async def test_a_rotation_is_seen_by_a_refresh_too(node: Node, provider: Provider) -> None:
    async with wire(node, "alice", token=provider.token("alice")) as alice:
        provider.rotate()
        ack = await alice.request({"type": "refresh", "token": provider.token("alice")})
    assert ack["type"] == "ack"


async def test_without_issuer_and_audience_settings_they_are_not_checked(
    node_factory: NodeFactory, provider: Provider,
) -> None:
    node = await node_factory(jwt_jwks_url=provider.url)
    token = provider.token("alice", iss="https://other.example.test/", aud="other")
    async with wire(node, "alice", token=token) as alice:
        assert alice.welcome["user"] == "alice"


async def test_a_node_with_a_provider_and_no_secret_refuses_hs256_tokens(
    node_factory: NodeFactory, provider: Provider,
) -> None:
    node = await node_factory(jwt_jwks_url=provider.url, jwt_secret="")
    hs256 = mint_token("any-secret-an-attacker-might-pick-0123456789", "mallory")
    status, _ = await refusal(node, headers={"Authorization": f"Bearer {hs256}"})
    assert status == 401
    async with wire(node, "alice", token=provider.token("alice")) as alice:
        assert alice.welcome["user"] == "alice"


async def test_a_slow_provider_holds_up_only_the_handshake_that_waits_for_its_keys(
    node: Node, provider: Provider,
) -> None:
    provider.rotate()
    provider.gate = asyncio.Event()
    waiting = asyncio.create_task(open_and_greet(node, provider.token("alice")))
    await provider.asked.wait()  # alice's handshake waits for the provider's keys...
    async with wire(node, "bob") as bob:  # ...while bob connects and is served
        assert (await bob.request({"type": "ping"}))["type"] == "pong"
    assert not waiting.done()
    provider.gate.set()
    assert await waiting == "alice"


async def open_and_greet(node: Node, token: str) -> str:
    async with wire(node, "alice", token=token) as alice:
        return str(alice.welcome["user"])


async def test_the_leeway_accepts_a_provider_token_expired_within_it(
    node_factory: NodeFactory, provider: Provider,
) -> None:
    node = await node_factory(jwt_jwks_url=provider.url, jwt_leeway=60.0)
    async with wire(node, "alice", token=provider.token("alice", ttl=-30)) as alice:
        assert alice.welcome["user"] == "alice"
    status, body = await refusal(node, headers={
        "Authorization": f"Bearer {provider.token('alice', ttl=-90)}"})
    assert (status, body["message"]) == (401, "token expired")
