"""Token verification, minting, and where a handshake's token is found."""

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest

from realtime.auth import AuthError, Identity, TokenVerifier, bearer_token, mint_token

SECRET = "a-test-secret-that-is-at-least-32-bytes-long"
NOW = 1_700_000_000


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _rsa_pem_pair() -> tuple[str, str]:
    rsa = pytest.importorskip(
        "cryptography.hazmat.primitives.asymmetric.rsa", reason="RSA needs cryptography"
    )
    from cryptography.hazmat.primitives import serialization

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def test_a_minted_token_verifies_to_its_user_and_expiry() -> None:
    now = time.time()
    token = mint_token(SECRET, "alice", ttl=60, now=now)
    assert TokenVerifier(SECRET).verify(token) == Identity(user="alice", exp=int(now) + 60)


def test_an_expired_token_is_rejected_as_expired() -> None:
    token = mint_token(SECRET, "alice", ttl=60, now=NOW)
    with pytest.raises(AuthError, match=r"^token expired$"):
        TokenVerifier(SECRET).verify(token)


def test_leeway_accepts_a_token_just_past_its_expiry() -> None:
    token = mint_token(SECRET, "alice", ttl=60, now=time.time() - 65)
    assert TokenVerifier(SECRET, leeway=30).verify(token).user == "alice"


def test_a_token_signed_with_another_key_is_invalid() -> None:
    token = mint_token("another-secret-that-is-at-least-32-bytes", "alice")
    with pytest.raises(AuthError, match=r"^invalid token$"):
        TokenVerifier(SECRET).verify(token)


def test_an_unsigned_alg_none_token_is_invalid() -> None:
    header = _b64({"alg": "none", "typ": "JWT"})
    claims = _b64({"sub": "alice", "exp": int(time.time()) + 60})
    with pytest.raises(AuthError, match=r"^invalid token$"):
        TokenVerifier(SECRET).verify(f"{header}.{claims}.")


def test_an_rs256_token_is_rejected_by_an_hs256_verifier() -> None:
    private, _ = _rsa_pem_pair()
    token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, private, algorithm="RS256")
    with pytest.raises(AuthError, match=r"^invalid token$"):
        TokenVerifier(SECRET).verify(token)


def test_an_hs256_token_keyed_with_the_public_key_is_rejected_by_an_rs256_verifier() -> None:
    private, public = _rsa_pem_pair()
    verifier = TokenVerifier(public, algorithms=["RS256"])
    good = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, private, algorithm="RS256")
    assert verifier.verify(good).user == "alice"
    # The classic confusion: HMAC "signed" with the public key, which the attacker knows.
    forged = ".".join(
        [_b64({"alg": "HS256", "typ": "JWT"}), _b64({"sub": "mallory", "exp": NOW * 2})]
    )
    mac = hmac.new(public.encode(), forged.encode(), hashlib.sha256).digest()
    forged += "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    with pytest.raises(AuthError, match=r"^invalid token$"):
        verifier.verify(forged)


def test_a_verifier_cannot_mix_hmac_and_asymmetric_algorithms() -> None:
    with pytest.raises(ValueError):
        TokenVerifier(SECRET, algorithms=["HS256", "RS256"])


@pytest.mark.parametrize("algorithms", [[], ["none"]])
def test_a_verifier_needs_a_real_algorithm(algorithms: list[str]) -> None:
    with pytest.raises(ValueError):
        TokenVerifier(SECRET, algorithms=algorithms)


def test_a_token_without_exp_is_rejected() -> None:
    token = jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match=r"^token lacks exp$"):
        TokenVerifier(SECRET).verify(token)


def test_a_token_without_sub_is_rejected() -> None:
    token = jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match=r"^token lacks sub$"):
        TokenVerifier(SECRET).verify(token)


@pytest.mark.parametrize("sub", ["", "has space", "a/b", "x" * 65, "ünï", 42])
def test_a_sub_that_is_not_a_user_id_is_rejected(sub: object) -> None:
    token = jwt.encode({"sub": sub, "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match=r"^invalid user id in token$"):
        TokenVerifier(SECRET).verify(token)


def test_a_token_not_yet_valid_is_rejected() -> None:
    now = int(time.time())
    token = jwt.encode({"sub": "alice", "exp": now + 120, "nbf": now + 60}, SECRET, "HS256")
    with pytest.raises(AuthError, match=r"^token not yet valid$"):
        TokenVerifier(SECRET).verify(token)


def test_garbage_is_an_invalid_token_and_the_error_never_echoes_it() -> None:
    with pytest.raises(AuthError) as caught:
        TokenVerifier(SECRET).verify("not.a.jwt-secret-looking-thing")
    assert "jwt-secret-looking-thing" not in str(caught.value)


def test_minting_refuses_an_invalid_user_id() -> None:
    with pytest.raises(ValueError):
        mint_token(SECRET, "no spaces allowed")


def test_bearer_header_wins_over_the_query() -> None:
    headers = {"Authorization": "Bearer from-header"}
    assert bearer_token(headers, {"token": "from-query"}) == "from-header"


@pytest.mark.parametrize("value", ["bearer tok", "BEARER tok", "  Bearer   tok  "])
def test_the_bearer_scheme_is_matched_case_insensitively(value: str) -> None:
    assert bearer_token({"authorization": value}, {}) == "tok"


def test_the_query_token_is_used_without_a_bearer_header() -> None:
    assert bearer_token({}, {"token": "from-query"}) == "from-query"


def test_a_non_bearer_authorization_falls_back_to_the_query() -> None:
    headers = {"Authorization": "Basic dXNlcjpwYXNz"}
    assert bearer_token(headers, {"token": "from-query"}) == "from-query"


@pytest.mark.parametrize(
    ("headers", "query"),
    [({}, {}), ({"Authorization": "Bearer "}, {}), ({}, {"token": ""})],
)
def test_no_token_anywhere_is_none(headers: dict[str, str], query: dict[str, str]) -> None:
    assert bearer_token(headers, query) is None
