"""`RequestError`: a request that cannot be served, with the stable code a peer sees.

Services raise it; the WebSocket session turns it into an ``error`` frame carrying the
request's id, the HTTP API into a status and a ``{code, message}`` body. Our own bugs
are never a RequestError: they become ``internal`` with details only in the log.
"""

from __future__ import annotations

from protocol.errors import ErrorCode

HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


_CODE_FOR_STATUS: dict[int, ErrorCode] = {
    status: code for code, status in HTTP_STATUS.items() if code is not ErrorCode.INTERNAL
}


def code_for_status(status: int) -> ErrorCode:
    """The code of an HTTP error status aiohttp answers by itself (404 for an unknown
    path, 405 for a method a path has not, ...): ``bad_request`` when none fits."""
    if status >= 500:
        return ErrorCode.INTERNAL if status == 500 else ErrorCode.UNAVAILABLE
    return _CODE_FOR_STATUS.get(status, ErrorCode.BAD_REQUEST)


class RequestError(Exception):
    """A request refused with ``code``; ``message`` is safe to show the peer."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]


def forbidden_thread() -> RequestError:
    # One answer for "no such thread" and "not yours": no existence leak over the socket.
    return RequestError(ErrorCode.FORBIDDEN, "not a member of this thread")


def unavailable(what: str) -> RequestError:
    return RequestError(ErrorCode.UNAVAILABLE, f"{what} is unavailable, retry")
