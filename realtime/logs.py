"""Log records of a node: which node, connection and user each line is about, as text or
as one JSON object per line, with anything that looks like a credential scrubbed out.

:func:`configure` installs one handler on the root logger; call it once, before the node
starts. The ids come from context variables: :func:`bind_node` sets the node id for the
whole process, :func:`bind_connection` the connection and user ids for the task that
serves a connection (and the tasks it starts, which copy its context).

Scrubbing is the last step of formatting, so it covers the message, its arguments and
tracebacks alike: a client token (a JWT), ``token=...`` in a URL, a ``Bearer`` header
value, a password in a ``scheme://user:password@host`` URL, and any secret passed to
:func:`configure` (the token secret, the API key) become ``[redacted]``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

REDACTED = "[redacted]"

_connection: contextvars.ContextVar[str] = contextvars.ContextVar("connection", default="")
_user: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="")
_node = ""
_json_console = False

_TOKEN_LIKE = re.compile(
    r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"  # a JWT: header.payload.signature
    r"|(?<=token=)[^&\s\"'\\]+"  # ?token=... in a URL or a query string
    r"|(?<=[Bb]earer )[^\s\"'\\]+"  # an Authorization header value
    r"|(?<=://)[^/@\s\"'\\:]*:[^/@\s\"'\\]+(?=@)"  # user:password@ in a URL
)

_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_CONTEXT_ATTRIBUTES = frozenset({"node", "connection", "user", "ids"})


def bind_node(node_id: str) -> None:
    """Tag every later record of this process with ``node_id``."""
    global _node
    _node = node_id


def bind_connection(connection_id: str, user: str) -> None:
    """Tag the records of the current task (and of the tasks it starts) with a
    connection and its user. Call it at the top of the task that serves the connection."""
    _connection.set(connection_id)
    _user.set(user)


class Scrubber:
    """Replaces credentials in a formatted line by ``[redacted]``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Short values would redact ordinary words; real secrets are long.
        known = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)
        pattern = _TOKEN_LIKE.pattern
        if known:
            pattern = "|".join(re.escape(s) for s in known) + "|" + pattern
        self._pattern = re.compile(pattern)

    def __call__(self, line: str) -> str:
        return self._pattern.sub(REDACTED, line)


class ContextFilter(logging.Filter):
    """Adds ``node``, ``connection`` and ``user`` attributes to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.node = _node
        record.connection = _connection.get()
        record.user = _user.get()
        return True


class TextFormatter(logging.Formatter):
    """``time level logger [node conn user] message``, scrubbed."""

    def __init__(self, scrub: Scrubber) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(ids)s%(message)s")
        self._scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(
            f"{key}={value}" for key in ("node", "connection", "user")
            if (value := getattr(record, key, ""))
        )
        record.ids = f"[{ids}] " if ids else ""
        return self._scrub(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts``, ``level``, ``logger``, ``msg``, the ids that
    are set, ``exc`` with a traceback, and any ``extra=`` fields; scrubbed."""

    def __init__(self, scrub: Scrubber) -> None:
        super().__init__()
        self._scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("node", "connection", "user"):
            if value := getattr(record, key, ""):
                entry[key] = value
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and key not in _CONTEXT_ATTRIBUTES \
                    and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # Scrubbing the serialized line keeps it valid JSON: no pattern matches a quote.
        return self._scrub(json.dumps(entry, default=str, ensure_ascii=False))


def configure(level: str = "info", fmt: str = "text", *, secrets: Iterable[str] = (),
              stream: TextIO | None = None) -> None:
    """Send every record at ``level`` or above to ``stream`` (stderr) as ``fmt``
    (``text`` or ``json``), replacing the root logger's handlers."""
    global _json_console
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be text or json, not {fmt!r}")
    _json_console = fmt == "json"
    scrub = Scrubber(secrets)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter(scrub) if fmt == "json" else TextFormatter(scrub))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def use_json_console(json_lines: bool) -> None:
    """Make :func:`console` write JSON (or text) before :func:`configure` is called."""
    global _json_console
    _json_console = json_lines


def console(text: str, *, stream: TextIO | None = None, level: str = "info",
            **fields: Any) -> None:
    """Write a line for whoever runs the node (stdout unless ``stream``): ``text`` as it
    is, or, when the log is JSON, a JSON object of the log's shape with ``text`` as its
    ``msg`` and ``fields`` beside it, so that every line the process writes parses."""
    out = stream if stream is not None else sys.stdout
    if _json_console:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "level": level,
            "logger": "realtime.console",
            "msg": text,
        }
        if _node:
            entry["node"] = _node
        entry.update(fields)
        text = json.dumps(entry, default=str, ensure_ascii=False)
    print(text, file=out, flush=True)
