"""Client tokens for the generator's users.

With ``--secret`` (or ``REALTIME_JWT_SECRET``) tokens are minted locally, fast enough for
tens of thousands of users. With ``--token-cmd`` a command is run once per user, with
``{user}`` replaced by the user id (``realtime token {user} --data-dir ./data``), which
suits runs of a few hundred connections against a node whose secret stays private.
"""

from __future__ import annotations

import asyncio
import shlex

from realtime.auth import mint_token

__all__ = ["TokenSource"]

_COMMANDS_AT_ONCE = 8


class TokenSource:
    """Hands out one token per user, made once and kept."""

    def __init__(self, *, secret: str | None = None, command: str | None = None,
                 ttl: int = 6 * 3600) -> None:
        if not secret and not command:
            raise ValueError("a token secret or a token command is required")
        self._secret = secret
        self._command = command
        self._ttl = ttl
        self._tokens: dict[str, str] = {}
        self._commands = asyncio.Semaphore(_COMMANDS_AT_ONCE)

    async def token(self, user: str) -> str:
        """The token of ``user``."""
        token = self._tokens.get(user)
        if token is None:
            token = await self._make(user)
            self._tokens[user] = token
        return token

    async def _make(self, user: str) -> str:
        if self._secret:
            return mint_token(self._secret, user, ttl=self._ttl)
        assert self._command is not None
        argv = [part.replace("{user}", user) for part in shlex.split(self._command)]
        async with self._commands:
            process = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            out, err = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"token command failed for {user}: {err.decode().strip()}")
        return out.decode().strip()
