"""Requests aiohttp refuses before any route sees them (a header over 8 KB, a malformed
request line): answered with the JSON error body every refusal of ours has, and logged
as one line at most per :data:`LOG_EVERY` seconds, without a traceback.

aiohttp answers these in its request handler with plain text and logs a traceback per
request, which lets any client fill the log. :class:`JsonErrorsRunner` is an
``AppRunner`` whose server makes :class:`_Handler`\\ s instead.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong

from protocol.errors import ErrorCode

log = logging.getLogger(__name__)

LOG_EVERY = 60.0
"""Seconds between two log lines about refused requests."""


class RefusalLog:
    """Counts refused requests and says so at most once per ``every`` seconds."""

    __slots__ = ("_every", "_last", "_unsaid")

    def __init__(self, every: float = LOG_EVERY) -> None:
        self._every = every
        self._last: float | None = None
        self._unsaid = 0

    def refused(self, status: int, reason: str, now: float) -> None:
        self._unsaid += 1
        if self._last is not None and now - self._last < self._every:
            return
        log.warning("refused %d malformed HTTP request(s) (last: %d, %s)", self._unsaid,
                    status, reason)
        self._last, self._unsaid = now, 0


_refusals = RefusalLog()


def _reason(exc: BaseException | None) -> str:
    if isinstance(exc, LineTooLong):
        return "request line or header too long"
    return "malformed HTTP request"


class _Handler(web.RequestHandler):
    __slots__ = ()

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        reason = _reason(exc)
        _refusals.refused(status, reason, time.monotonic())
        code = ErrorCode.BAD_REQUEST if status == 400 else ErrorCode.TOO_LARGE
        response = web.json_response({"code": str(code), "message": reason}, status=status)
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> web.RequestHandler:
        return _Handler(self, loop=self._loop, **self._kwargs)


class JsonErrorsRunner(web.AppRunner):
    """An ``AppRunner`` that answers requests aiohttp cannot parse with JSON."""

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        # The server the application made, with the same arguments, making our handlers.
        kwargs: dict[str, Any] = made._kwargs
        return _Server(made.request_handler, request_factory=made.request_factory,
                       handler_cancellation=made.handler_cancellation, loop=made._loop,
                       **kwargs)
