"""Why a node could not start, said in one line with what to do about it.

``realtime serve`` checks what it can before it starts (:func:`check_settings`: URLs
well-formed, the FCM credentials a readable service-account file), and turns what fails
while the node starts (:func:`explain`: a port in use, PostgreSQL or Redis unreachable,
a database schema behind this release) into a :class:`StartupFailure`. The command
prints its :meth:`~StartupFailure.line` and exits 1, without a traceback unless
``--debug`` or ``REALTIME_DEBUG=1`` asks for one.
"""

from __future__ import annotations

import errno
import json
import os
from urllib.parse import SplitResult, urlsplit

from realtime.config import Config

POSTGRES_SCHEMES = ("postgresql", "postgres")
REDIS_SCHEMES = ("redis", "rediss", "redis+cluster", "rediss+cluster", "unix")


class StartupFailure(Exception):
    """A node cannot start for a reason its operator can fix."""

    def __init__(self, what: str, hint: str) -> None:
        super().__init__(what)
        self.what = what
        self.hint = hint

    def line(self) -> str:
        """The one line ``realtime serve`` prints."""
        return f"realtime serve: {self.what} (hint: {self.hint})"


# -- before starting ---------------------------------------------------------------------


def check_settings(config: Config) -> None:
    """Raise :class:`StartupFailure` for a setting that cannot work, before anything
    is opened: a malformed database or Redis URL, unreadable FCM credentials."""
    if config.database_url and not config.database_url.startswith("sqlite:///"):
        _check_url("REALTIME_DATABASE_URL", config.database_url, POSTGRES_SCHEMES,
                   "postgresql://USER:PASSWORD@HOST:5432/DB, or sqlite:///PATH",
                   host_required=False)
    if config.redis_url:
        _check_url("REALTIME_REDIS_URL", config.redis_url, REDIS_SCHEMES,
                   "redis://HOST:6379/0 (redis+cluster:// for a Redis Cluster)")
    if config.fcm_credentials:
        check_fcm_credentials(config.fcm_credentials)


def _check_url(name: str, url: str, schemes: tuple[str, ...], example: str, *,
               host_required: bool = True) -> None:
    hint = f"{name} looks like {example}"
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        shown = f"{parts.scheme!r}" if parts.scheme else "none"
        raise StartupFailure(f"{name} is malformed: its scheme is {shown}", hint)
    if parts.scheme == "unix":
        if not parts.path:
            raise StartupFailure(f"{name} is malformed: a unix:// URL needs a socket path", hint)
        return
    # libpq's URLs may leave the host out (a local socket, or ?host=...); Redis's may not.
    if host_required and not _hosts_named(parts):
        raise StartupFailure(f"{name} is malformed: it names no host", hint)
    try:
        parts.port  # noqa: B018 - urllib parses the port lazily, and raises here
    except ValueError:
        raise StartupFailure(f"{name} is malformed: its port is not a number from 0 to 65535",
                             hint) from None


def _hosts_named(parts: SplitResult) -> bool:
    # A cluster URL may list several nodes: host1:port,host2:port.
    hosts = parts.netloc.rpartition("@")[2].split(",")
    return all(host.rpartition(":")[0] if host.count(":") == 1 else host for host in hosts)


def check_fcm_credentials(path: str) -> None:
    """Raise :class:`StartupFailure` unless ``path`` is a readable service-account file."""
    hint = ("REALTIME_FCM_CREDENTIALS names the service-account JSON file downloaded from "
            "the Firebase console; unset it to run without push")
    try:
        with open(path, encoding="utf-8") as file:
            account = json.load(file)
    except FileNotFoundError:
        raise StartupFailure(f"FCM credentials {path}: no such file", hint) from None
    except PermissionError:
        raise StartupFailure(f"FCM credentials {path}: not readable by this user", hint) from None
    except IsADirectoryError:
        raise StartupFailure(f"FCM credentials {path}: a directory, not a file", hint) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StartupFailure(f"FCM credentials {path}: not JSON ({exc})", hint) from None
    except OSError as exc:
        raise StartupFailure(f"FCM credentials {path}: {exc.strerror or exc}", hint) from None
    missing = [key for key in ("type", "project_id", "private_key", "client_email")
               if not isinstance(account, dict) or not account.get(key)]
    if missing:
        raise StartupFailure(
            f"FCM credentials {path}: not a service-account file (no {', '.join(missing)})",
            hint)


# -- while starting ----------------------------------------------------------------------


def listen_failure(host: str, port: int, setting: str, exc: OSError) -> StartupFailure:
    """What binding ``host:port`` (the port of ``setting``) failing with ``exc`` means."""
    where = f"cannot listen on {host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return StartupFailure(f"{where}: the address is in use",
                              f"another process has the port: stop it, or set {setting}")
    if exc.errno == errno.EACCES:
        return StartupFailure(f"{where}: permission denied",
                              f"ports below 1024 need privileges: set {setting} to a higher one")
    if exc.errno == errno.EADDRNOTAVAIL:
        return StartupFailure(f"{where}: no interface of this machine has that address",
                              "set REALTIME_HOST to one of this machine's addresses, or 0.0.0.0")
    return StartupFailure(f"{where}: {exc.strerror or exc}", f"check REALTIME_HOST and {setting}")


def explain(exc: BaseException, config: Config) -> StartupFailure | None:
    """The :class:`StartupFailure` that ``exc``, raised while a node started, stands for;
    None for anything else (a bug: its traceback is worth showing)."""
    # Imported here: the classes of the backends in use only.
    from presence.presence import PresenceUnavailable
    from realtime.broker.base import BrokerUnavailable
    from realtime.store.base import SchemaBehind, StoreUnavailable

    if isinstance(exc, StartupFailure):
        return exc
    if isinstance(exc, SchemaBehind):
        return StartupFailure(f"the database schema is behind this release: {exc}",
                              "run `realtime migrate` with the same REALTIME_DATABASE_URL")
    if isinstance(exc, StoreUnavailable):
        return StartupFailure(f"cannot reach the database{_at(config.database_url)}: "
                              f"{_cause(exc)}", _database_hint(config))
    if isinstance(exc, BrokerUnavailable | PresenceUnavailable):
        return StartupFailure(f"cannot reach Redis{_at(config.redis_url)}: {_cause(exc)}",
                              "is Redis running there? check REALTIME_REDIS_URL")
    return None


def _database_hint(config: Config) -> str:
    if config.database_url.startswith(POSTGRES_SCHEMES):
        return ("is PostgreSQL running there, and do the user, password and database in "
                "REALTIME_DATABASE_URL exist?")
    return "check that REALTIME_DATA_DIR (or the sqlite:/// path) is a writable directory"


def _at(url: str) -> str:
    if not url or url.startswith("sqlite:///"):
        return ""
    netloc = urlsplit(url).netloc.rpartition("@")[2]  # never the credentials
    return f" at {netloc}" if netloc else ""


def _cause(exc: BaseException) -> str:
    """The innermost reason, on one line and without credentials."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def debug_requested(argv_flag: bool) -> bool:
    """Whether failures should show their traceback: ``--debug`` or REALTIME_DEBUG=1."""
    return argv_flag or os.environ.get("REALTIME_DEBUG", "") not in ("", "0", "false", "no")
