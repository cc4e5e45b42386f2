"""Client identity from JSON Web Tokens.

A client proves who it is with a JWT whose ``sub`` is its user id and whose ``exp``
says until when. :class:`TokenVerifier` checks such a token and returns an
:class:`Identity`; :func:`mint_token` makes one (for the CLI and for tests);
:func:`bearer_token` finds one in a handshake request.

Identity comes from a verified token, never from a frame.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from protocol.validation import is_user_id

__all__ = [
    "MAX_TOKEN_LIFETIME",
    "AuthError",
    "Identity",
    "KeySource",
    "TokenVerifier",
    "bearer_token",
    "mint_token",
]


MAX_TOKEN_LIFETIME = 30 * 86400
"""Seconds from now a token's ``exp`` may be at most: a later one is refused (so an
``exp`` is always a safe integer, also in milliseconds in ``refresh``'s ack)."""


# Families of JWS algorithms. A verifier accepts algorithms from one family only: if a
# single key could be read both as an HMAC secret and as a public key, a token signed
# with HMAC using the (public) key as secret would pass as an RSA one.
_HMAC = frozenset({"HS256", "HS384", "HS512"})
_ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


@dataclass(frozen=True)
class Identity:
    """Who a verified token speaks for.

    ``user`` is the token's ``sub``; ``exp`` its expiry in epoch seconds, as in JWT.
    """

    user: str
    exp: int


class AuthError(Exception):
    """Raised when a token cannot be accepted.

    The message is a short reason that is safe to show the client ("token expired",
    "invalid token", ...); it never contains the token itself.
    """


class KeySource(Protocol):
    """Where keys named by a token's ``kid`` come from (:class:`realtime.jwks.JwksKeys`)."""

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key called ``kid``, or ``None`` if there is none."""
        ...


# Which algorithms a provider's key of each JWK type may verify: a token cannot choose an
# algorithm its key was not made for (an RSA key never verifies an HMAC token, and a
# symmetric "oct" key in a published set verifies nothing).
_BY_KEY_TYPE = {
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "EC": frozenset({"ES256", "ES384", "ES512"}),
    "OKP": frozenset({"EdDSA"}),
}


class TokenVerifier:
    """Verifies client tokens: signed with one configured key, or by an identity provider.

    Only the configured ``algorithms`` are accepted for ``secret``, whatever the token's
    header says, so ``alg: none`` and algorithm confusion are impossible. ``exp`` and
    ``sub`` are required, and ``sub`` must be a valid user id. ``leeway`` (seconds)
    tolerates clock skew on ``exp``, ``nbf`` and ``iat``. ``issuer`` and ``audience``, when
    set, must equal the token's ``iss`` and be among its ``aud``; with ``keys`` they
    apply to the provider's tokens only, not to those of an HMAC ``secret``.

    With an HMAC algorithm (the default, HS256) ``secret`` is the shared secret; with an
    asymmetric one it is the public key in PEM form; an empty ``secret`` accepts no token
    through it. ``keys``, when given, verifies RS256, ES256 and EdDSA tokens (and their
    siblings) with the provider key their ``kid`` names; such a key verifies only the
    algorithms of its own type.

    :raises ValueError: if ``algorithms`` is empty, names ``none``, or mixes HMAC and
        asymmetric algorithms.
    """

    __slots__ = ("_algorithms", "_audience", "_issuer", "_key", "_keys", "_leeway")

    def __init__(
        self,
        secret: str,
        *,
        algorithms: Sequence[str] = ("HS256",),
        leeway: float = 0,
        issuer: str = "",
        audience: str = "",
        keys: KeySource | None = None,
    ) -> None:
        algs = list(algorithms)
        if not algs:
            raise ValueError("at least one algorithm is required")
        unknown = [a for a in algs if a not in _HMAC | _ASYMMETRIC]
        if unknown:
            raise ValueError(f"unsupported algorithms: {unknown}")
        if not (set(algs) <= _HMAC or set(algs) <= _ASYMMETRIC):
            raise ValueError("HMAC and asymmetric algorithms cannot share one key")
        self._key = secret
        self._algorithms = algs
        self._leeway = leeway
        self._issuer = issuer
        self._audience = audience
        self._keys = keys

    def verify(self, token: str) -> Identity:
        """Check ``token`` against the configured ``secret`` and return whom it identifies.

        :raises AuthError: if the token is malformed, signed with another key or
            algorithm, expired, not yet valid, from another issuer or for another
            audience, or lacks a valid ``exp`` or ``sub``.
        """
        if not self._key:
            raise AuthError("invalid token")
        # A secret's tokens are the operator's own (``realtime token``, services): the
        # issuer and audience describe the identity provider, when there is one.
        own = self._keys is not None and self._algorithms[0] in _HMAC
        return self._decode(token, self._key, self._algorithms, provider=not own)

    async def authenticate(self, token: str) -> Identity:
        """Check ``token`` with whichever key it is for and return whom it identifies.

        Call this on every handshake and on every ``refresh``. A token whose header
        names an asymmetric algorithm and a ``kid`` is checked against the identity
        provider's keys (which may be fetched first, without blocking the loop); any
        other token against ``secret``, as :meth:`verify` does.

        :raises AuthError: as :meth:`verify`, and if the ``kid`` is unknown.
        """
        if self._keys is None:
            return self.verify(token)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("invalid token") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in _ASYMMETRIC or (alg in self._algorithms and self._key):
            return self.verify(token)
        if not isinstance(kid, str) or not kid:
            raise AuthError("invalid token")
        key = await self._keys.key(kid)
        if key is None:
            raise AuthError("unknown signing key")
        if alg not in _BY_KEY_TYPE.get(key.key_type or "", ()) or alg != key.algorithm_name:
            # The header chose an algorithm the key was not published for (a key that
            # declares no "alg" verifies its type's usual one: RS256, ES256 for P-256...).
            raise AuthError("invalid token")
        return self._decode(token, key.key, [alg], provider=True)

    def _decode(self, token: str, key: Any, algorithms: list[str], *,
                provider: bool) -> Identity:
        issuer = self._issuer if provider else ""
        audience = self._audience if provider else ""
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                leeway=self._leeway,
                issuer=issuer or None,
                audience=audience or None,
                options={"require": ["exp", "sub"], "verify_aud": bool(audience)},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("token not yet valid") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token lacks {exc.claim}") from None
        except jwt.InvalidIssuerError:
            raise AuthError("token from another issuer") from None
        except jwt.InvalidAudienceError:
            raise AuthError("token for another audience") from None
        except jwt.exceptions.InvalidSubjectError:
            raise AuthError("invalid user id in token") from None
        except jwt.PyJWTError:
            # Bad signature, wrong algorithm, undecodable: one answer, so a client
            # learns nothing about which check failed.
            raise AuthError("invalid token") from None
        user = claims["sub"]
        if not is_user_id(user):
            raise AuthError("invalid user id in token")
        exp = claims["exp"]
        # JSON numbers only, and integers: "exp": "1e30" or 1e30 would pass PyJWT's check.
        if type(exp) is not int:
            raise AuthError("token exp must be an integer")
        if exp > time.time() + MAX_TOKEN_LIFETIME + self._leeway:
            raise AuthError("token lives too long (at most "
                            f"{MAX_TOKEN_LIFETIME // 86400} days)")
        return Identity(user=user, exp=exp)


def mint_token(secret: str, user: str, *, ttl: int = 3600, now: float | None = None) -> str:
    """Return an HS256 token for ``user`` that expires ``ttl`` seconds after ``now``.

    ``now`` defaults to the current time; pass it to make tokens that are already
    expired or only valid later.

    :raises ValueError: if ``user`` is not a valid user id, or ``ttl`` is past
        :data:`MAX_TOKEN_LIFETIME`.
    """
    if not is_user_id(user):
        raise ValueError(f"invalid user id: {user!r}")
    if ttl > MAX_TOKEN_LIFETIME:
        raise ValueError(f"ttl past the longest a token may live ({MAX_TOKEN_LIFETIME} s)")
    issued = int(time.time() if now is None else now)
    claims = {"sub": user, "iat": issued, "exp": issued + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")


def bearer_token(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """Return the token a handshake request carries, or ``None`` if it carries none.

    ``Authorization: Bearer <jwt>`` (scheme matched case-insensitively) wins; browsers,
    which cannot set that header on a WebSocket, pass ``?token=<jwt>`` instead.
    ``headers`` may be a case-insensitive mapping (as aiohttp's) or a plain dict.
    """
    value = headers.get("Authorization")
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if value is not None:
        scheme, _, credentials = value.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and credentials:
            return credentials
    token = query.get("token")
    return token or None
