"""`FcmSender`: pushes through FCM's HTTP v1 API with pyfcm, in a bounded thread pool.

pyfcm is synchronous (requests), so each send runs in a worker thread of our own
:class:`~concurrent.futures.ThreadPoolExecutor`; the event loop never waits on it.
pyfcm's defaults are unsafe for a server, and this module bounds each of them:

* on ``Retry-After`` pyfcm sleeps and retries without limit: we return the response
  instead, and the worker's retry policy decides;
* its default HTTP adapter retries 502/503 with backoff for minutes: we mount our own,
  which retries only failed connections (a POST that may have arrived is never resent
  by the adapter), never on a status, and never sleeps on ``Retry-After``;
* it fetches an OAuth token per thread, with a 120-second timeout, and retries an
  expired token forever: we share one token across threads, fetch it with our timeout,
  and retry an expired token once;
* it reports 429 and 5xx as the same ``FCMServerError``: we read the status and FCM's
  ``error.details[].errorCode`` to tell throttling from an outage.

Credentials are a service-account JSON file (google-auth fetches the token from the
file's ``token_uri``) or a credentials object with ``project_id``, ``token``, ``valid``
and ``refresh(request)``.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import requests
from pyfcm import FCMNotification
from pyfcm.baseapi import BaseAPI
from pyfcm.errors import (
    AuthenticationError,
    FCMError,
    FCMNotRegisteredError,
    FCMSenderIdMismatchError,
    FCMServerError,
    InvalidDataError,
)
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry as UrllibRetry

from push.messages import PushMessage
from push.sender import (
    AuthFailed,
    Delivered,
    Rejected,
    Sender,
    SendResult,
    Throttled,
    Unavailable,
    Unregistered,
)

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://fcm.googleapis.com"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"

_THROTTLE_CODES = frozenset({"QUOTA_EXCEEDED", "RESOURCE_EXHAUSTED"})


def projects_base(endpoint: str) -> str:
    """pyfcm's ``FCM_END_POINT_BASE`` for an API base URL such as ``http://host:port``
    (a URL already ending in ``/v1/projects`` is taken as is)."""
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/projects") else f"{base}/v1/projects"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from ``now`` that a ``Retry-After`` header names (delta or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now, 0.0)


def error_codes(response: requests.Response | None) -> tuple[str, set[str]]:
    """FCM's ``error.status`` and every ``error.details[].errorCode`` of an error reply."""
    if response is None:
        return "", set()
    try:
        error = response.json().get("error", {})
    except ValueError:
        return "", set()
    if not isinstance(error, dict):
        return "", set()
    codes = {
        str(detail.get("errorCode"))
        for detail in error.get("details", [])
        if isinstance(detail, dict) and detail.get("errorCode")
    }
    return str(error.get("status", "")), codes


def _message_text(response: requests.Response | None, fallback: str) -> str:
    if response is None:
        return fallback
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or fallback


class _AuthRequest(google.auth.transport.requests.Request):
    """google-auth's transport with our timeout (its default is 120 seconds)."""

    def __init__(self, timeout: float) -> None:
        super().__init__(requests.Session())
        self._timeout = timeout

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> Any:
        return super().__call__(  # type: ignore[no-untyped-call]  # google-auth: untyped
            url, method=method, body=body, headers=headers, timeout=self._timeout, **kwargs
        )

    def close(self) -> None:
        self.session.close()


class _BoundedFcm(FCMNotification):  # type: ignore[misc]  # pyfcm ships no types
    """pyfcm with the hazards listed in the module docstring removed. Thread-safe."""

    # Set by pyfcm's constructor; declared for the type checker.
    credentials: Any
    _service_account_file: str | None

    def __init__(self, *, endpoint: str, timeout: float, pool_size: int, **kwargs: Any) -> None:
        adapter = HTTPAdapter(
            pool_connections=1,
            pool_maxsize=pool_size,
            max_retries=UrllibRetry(
                total=2, connect=2, read=0, status=0, other=0, redirect=0,
                respect_retry_after_header=False, raise_on_status=False,
            ),
        )  # fmt: skip
        super().__init__(adapter=adapter, **kwargs)
        self.FCM_END_POINT_BASE = projects_base(endpoint)
        self._adapter = adapter
        self._auth_request = _AuthRequest(timeout)
        self._token_lock = threading.Lock()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    def _initialize_credentials(self) -> None:
        if self.credentials is None and self._service_account_file is not None:
            from google.oauth2 import service_account

            if not os.path.isfile(self._service_account_file):
                raise InvalidDataError(f"no service-account file at {self._service_account_file!r}")
            self.credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                self._service_account_file, scopes=[FCM_SCOPE]
            )
            self._service_account_file = None

    def _get_access_token(self, *, force: bool = False) -> str:
        # One token for every thread; google-auth's `valid` already allows for clock skew.
        with self._token_lock:
            if self.credentials is None:
                self._initialize_credentials()
            if force or not getattr(self.credentials, "valid", False):
                self.credentials.refresh(self._auth_request)
            return str(self.credentials.token)

    def _session(self) -> requests.Session:
        fresh = getattr(self.thread_local, "requests_session", None) is None
        session: requests.Session = BaseAPI.requests_session.fget(self)
        if fresh:
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def send_request(self, payload: Any = None, timeout: Any = None) -> requests.Response:
        """One POST (plus one more after an expired token); never sleeps."""
        self.thread_local.last_response = None
        response = self._session().post(self.fcm_end_point, data=payload, timeout=timeout)
        if self._is_access_token_expired(response):
            token = self._get_access_token(force=True)
            self.thread_local.requests_session.headers["Authorization"] = f"Bearer {token}"
            self.thread_local.token_expiry = time.time() + 1800
            response = self._session().post(self.fcm_end_point, data=payload, timeout=timeout)
        self.thread_local.last_response = response
        return response

    def last_response(self) -> requests.Response | None:
        """The reply to this thread's latest :meth:`send_request`, if one came."""
        return getattr(self.thread_local, "last_response", None)

    def close(self) -> None:
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._adapter.close()
        self._auth_request.close()


class FcmSender(Sender):
    """A :class:`~push.sender.Sender` for FCM HTTP v1.

    ``credentials`` is a service-account JSON file path or a credentials object;
    ``endpoint`` the API's base URL (default Google's; an emulator or a test fake
    otherwise); at most ``workers`` requests run at once, each given ``timeout``
    seconds to connect and again to answer. Call :meth:`close` once, after the last
    send was awaited.
    """

    def __init__(
        self,
        credentials: str | os.PathLike[str] | Any,
        *,
        endpoint: str | None = None,
        project_id: str | None = None,
        workers: int = 8,
        timeout: float = 10.0,
    ) -> None:
        if isinstance(credentials, str | os.PathLike):
            source: dict[str, Any] = {"service_account_file": os.fspath(credentials)}
        else:
            source = {"credentials": credentials}
        self._fcm = _BoundedFcm(
            endpoint=endpoint or DEFAULT_ENDPOINT,
            timeout=timeout,
            pool_size=workers,
            project_id=project_id,
            **source,
        )
        self.timeout = timeout
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fcm")
        self._closed = False

    async def send(self, message: PushMessage) -> SendResult:
        if self._closed:
            return Unavailable(reason="sender closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._send_blocking, message)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Threads finish their request (bounded by the timeout) before sessions close.
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
        self._fcm.close()

    # -- in a worker thread --------------------------------------------------------------

    def _send_blocking(self, message: PushMessage) -> SendResult:
        try:
            reply = self._fcm.notify(
                fcm_token=message.token,
                notification_title=message.title,
                notification_body=message.body,
                data_payload=dict(message.data) or None,
                android_config=_android(message),
                apns_config=_apns(message),
                webpush_config=_webpush(message),
                timeout=self.timeout,
            )
        except FCMError as error:
            return self._failure(error)
        except google.auth.exceptions.RefreshError as error:
            if error.retryable:
                return Unavailable(reason=f"token endpoint: {error}")
            return AuthFailed(reason=f"token refused: {error}")
        except (google.auth.exceptions.TransportError, requests.RequestException) as error:
            # Connection refused or reset, timeouts, the adapter's RetryError.
            return Unavailable(reason=f"{type(error).__name__}: {error}")
        return Delivered(str(reply.get("name", "")) if isinstance(reply, dict) else "")

    def _failure(self, error: FCMError) -> SendResult:
        response = self._fcm.last_response()
        status = response.status_code if response is not None else None
        reason = _message_text(response, str(error))
        if isinstance(error, FCMNotRegisteredError):
            return Unregistered(reason)
        if isinstance(error, AuthenticationError | FCMSenderIdMismatchError):
            return AuthFailed(status, reason)
        if isinstance(error, InvalidDataError):
            if response is None:
                # Raised before any request: the credentials could not be loaded.
                return AuthFailed(None, reason)
            return Rejected(reason)
        retry_after = None
        if response is not None:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time())
        if isinstance(error, FCMServerError):
            state, codes = error_codes(response)
            if status == 429 or state == "RESOURCE_EXHAUSTED" or codes & _THROTTLE_CODES:
                return Throttled(retry_after, reason)
            return Unavailable(status, retry_after, reason)
        return Unavailable(status, retry_after, reason)


def _android(message: PushMessage) -> dict[str, Any]:
    config: dict[str, Any] = {
        "ttl": f"{message.ttl}s",
        "priority": "HIGH" if message.high_priority else "NORMAL",
    }
    if message.collapse_key:
        config["collapse_key"] = message.collapse_key
    return config


def _apns(message: PushMessage) -> dict[str, Any]:
    headers = {
        "apns-priority": "10" if message.high_priority else "5",
        "apns-expiration": str(int(time.time()) + message.ttl),
    }
    if message.collapse_key:
        headers["apns-collapse-id"] = message.collapse_key
    return {"headers": headers}


def _webpush(message: PushMessage) -> dict[str, Any]:
    return {
        "headers": {
            "TTL": str(message.ttl),
            "Urgency": "high" if message.high_priority else "normal",
        }
    }


__all__ = ["DEFAULT_ENDPOINT", "FcmSender", "parse_retry_after", "projects_base"]
