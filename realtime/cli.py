"""The ``realtime`` command: ``serve``, ``token``, ``dev-key``, ``migrate``, ``healthcheck``
and ``config``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import signal
import sys

from realtime import logs
from realtime.config import Config, add_flags, settings_markdown
from realtime.devmode import DEV_HOST, DevModeError, check_configured, for_serving, stored_for
from realtime.startup import StartupFailure, check_settings, debug_requested, explain


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``realtime COMMAND ...``."""
    parser = argparse.ArgumentParser(
        prog="realtime",
        description="A real-time messaging and notification server: run a node, and the "
                    "commands that go with it.",
        epilog="`realtime COMMAND --help` shows a command's options; every setting is also "
               "a REALTIME_* environment variable (docs/configuration.md).")
    parser.add_argument("--version", action="version", version=f"realtime {version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run one node")
    add_flags(serve)
    serve.add_argument("--debug", action="store_true",
                       help="show the traceback of a start-up failure [REALTIME_DEBUG=1]")

    token = commands.add_parser("token", help="print a signed client token for USER")
    token.add_argument("user")
    token.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    token.add_argument("--data-dir", dest="data_dir", default=None,
                       help="the data dir of the node (development mode: its secrets)")

    dev_key = commands.add_parser(
        "dev-key", help="print the API key of a node in development mode (its data dir's)")
    dev_key.add_argument("--data-dir", dest="data_dir", default=None,
                         help="the data dir of the node [REALTIME_DATA_DIR, default ./data]")

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument("--database-url", dest="database_url", default=None)
    migrate.add_argument("--data-dir", dest="data_dir", default=None)

    check = commands.add_parser(
        "healthcheck", help="exit 0 if the node on this host answers /healthz (containers)")
    check.add_argument("--api-port", dest="api_port", type=int, default=None)
    check.add_argument("--timeout", type=float, default=3.0, help="seconds to wait")

    show = commands.add_parser("config", help="print the settings in force (secrets masked)")
    show.add_argument("--markdown", action="store_true",
                      help="print every setting as a Markdown table instead")
    add_flags(show)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    config = Config.load(args=args)
    if args.command == "serve":
        return _serve(config, debug=debug_requested(args.debug))
    if args.command == "token":
        return _token(config, args.user, args.ttl)
    if args.command == "dev-key":
        return _dev_key(config)
    if args.command == "migrate":
        return asyncio.run(_migrate(config))
    if args.command == "healthcheck":
        return _healthcheck(config, args.timeout)
    if args.markdown:
        print(settings_markdown(), end="")
        return 0
    return _config(config)


def version() -> str:
    """The installed package's version (``unknown`` when run from a tree not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("realtime-server")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _serve(config: Config, *, debug: bool = False) -> int:
    # From the first line on, what is printed has the log's format.
    logs.use_json_console(config.log_format == "json")
    try:
        config = for_serving(config)
    except DevModeError as exc:
        _refused(f"realtime serve: {exc}")
        return 2
    # Chosen here rather than by the node, so that every log line names it.
    config = config.replace(node_id=config.node_id or "node-" + secrets.token_hex(4))
    logs.bind_node(config.node_id)
    try:
        logs.configure(config.log_level, config.log_format,
                       secrets=(config.jwt_secret, config.api_key))
    except ValueError as exc:
        print(f"realtime serve: {exc}", file=sys.stderr)
        return 2
    if bool(config.tls_cert) != bool(config.tls_key):
        _refused("realtime serve: --tls-cert and --tls-key go together")
        return 2
    log = logging.getLogger("realtime")
    if config.dev_mode:
        # The secrets themselves are not shown: ``realtime dev-key`` and ``realtime token``
        # read them from the data dir.
        log.warning("DEVELOPMENT MODE: no REALTIME_JWT_SECRET or REALTIME_API_KEY, so the "
                    "secrets kept in %s are used; not for production", config.data_dir)
        where = (f"{config.host} only (--host or REALTIME_HOST to listen elsewhere)"
                 if config.host == DEV_HOST else config.host)
        logs.console(f"development mode: listening on {where}; `realtime dev-key --data-dir "
                     f"{config.data_dir}` prints the API key, `realtime token USER "
                     f"--data-dir {config.data_dir}` a client token", event="dev_mode")
    if not config.fcm_credentials:
        log.info("push is off: REALTIME_FCM_CREDENTIALS is not set")
    try:
        check_settings(config)
    except StartupFailure as failure:
        if debug:
            raise
        return _failed(failure)
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        runner(_run_node(config))
    except Exception as exc:
        explained = explain(exc, config)
        if explained is None or debug:
            raise
        return _failed(explained)
    return 0


def _refused(line: str) -> None:
    """A setting ``serve`` refuses: one line on stderr (JSON when the log is)."""
    logs.console(line, stream=sys.stderr, level="error", event="refused")


def _failed(failure: StartupFailure) -> int:
    """Say why the node cannot start, in one line (JSON when the log is), and exit 1."""
    logs.console(failure.line(), stream=sys.stderr, level="error", event="failed",
                 hint=failure.hint)
    return 1


async def _run_node(config: Config) -> None:
    from realtime.gc_tuning import tune_for_serving
    from realtime.node import Node

    node = Node(config)
    try:
        await node.start()
    except BaseException:
        # What opened before the failure closes, bounded: the process is ending anyway.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5.0):
                await node.close()
        raise
    tune_for_serving()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # After the handlers: whoever waits for this line may signal the node at once.
    logs.console(f"serving {node.ws_url} (api {node.api_url}), node {node.id}",
                 event="serving", ws=node.ws_url, api=node.api_url)
    await stop.wait()
    log = logging.getLogger("realtime")
    log.info("draining")
    await node.drain()
    log.info("stopped: node %s has closed every session and connection", node.id)


def _token(config: Config, user: str, ttl: int) -> int:
    from realtime.auth import mint_token

    try:
        secret = config.jwt_secret
        if not secret:
            check_configured(config)
            secret = stored_for(config, "realtime token").jwt_secret
    except DevModeError as exc:
        print(exc if str(exc).startswith("realtime") else f"realtime token: {exc}",
              file=sys.stderr)
        return 1
    try:
        print(mint_token(secret, user, ttl=ttl))
    except ValueError as exc:
        print(f"realtime token: {exc}", file=sys.stderr)
        return 2
    return 0


def _dev_key(config: Config) -> int:
    if config.jwt_secret or config.api_key:
        # A configured key is the operator's: it is never printed.
        print("realtime dev-key: REALTIME_JWT_SECRET or REALTIME_API_KEY is set, so this is "
              "not development mode; use the API key you configured", file=sys.stderr)
        return 1
    try:
        print(stored_for(config, "realtime dev-key").api_key)
    except DevModeError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


async def _migrate(config: Config) -> int:
    url = config.database_url
    if url.startswith(("postgresql://", "postgres://")):
        from realtime.store.migrate import migrate

        applied = await migrate(url)
    else:
        # The embedded store migrates itself when it opens.
        from realtime.backends import make_store

        store = make_store(config)
        await store.open()
        await store.close()
        applied = []
    print("applied: " + (", ".join(applied) if applied else "nothing, schema is up to date"))
    return 0


def _healthcheck(config: Config, timeout: float) -> int:
    # The internal port: it is plain HTTP even when the public port serves TLS.
    import urllib.error
    import urllib.request

    url = f"http://127.0.0.1:{config.api_port}/healthz"
    # Straight to this host, whatever proxy the environment names.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            healthy = response.status == 200
    except (OSError, urllib.error.URLError) as exc:
        print(f"realtime healthcheck: {url}: {exc}", file=sys.stderr)
        return 1
    return 0 if healthy else 1


def _config(config: Config) -> int:
    rows = config.describe()
    width = max(len(name) for name, _, _ in rows)
    for name, value, default in rows:
        print(f"{name:<{width}}  {value!s:<24}  (default {default})")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
