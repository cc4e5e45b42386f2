"""What a newcomer types first: ``realtime --version``, ``realtime --help`` and
``realtime-loadtest --help`` say what there is."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import version
from pathlib import Path

from loadtest.__main__ import COMMANDS_HELP
from loadtest.options import SCENARIO_NAMES
from realtime.cli import build_parser
from tests.ops.served import environment, realtime_command, run


def subcommands(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each subcommand of ``parser`` and its one-line help."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {choice.dest: str(choice.help) for choice in action._choices_actions}
    raise AssertionError("no subcommands")


async def test_version_prints_the_installed_version(tmp_path: Path) -> None:
    code, out, _ = await run(realtime_command("--version"), environment(tmp_path))
    assert code == 0
    assert out.strip() == f"realtime {version('realtime-server')}"


async def test_help_lists_every_command_with_what_it_does(tmp_path: Path) -> None:
    code, out, _ = await run(realtime_command("--help"), environment(tmp_path))
    commands = subcommands(build_parser())
    assert code == 0
    assert {"serve", "token", "dev-key", "migrate", "healthcheck", "config"} <= set(commands)
    flat = " ".join(out.split())
    for name, text in commands.items():
        assert f"{name} {' '.join(text.split())}" in flat, name


def loadtest_script() -> str:
    """The installed console script, beside this interpreter."""
    script = Path(sys.executable).parent / "realtime-loadtest"
    assert script.exists(), "the package is not installed in this environment"
    return str(script)


async def test_loadtest_help_names_itself_lists_every_command_and_shows_defaults(
        tmp_path: Path) -> None:
    env = environment(tmp_path)
    code, out, _ = await run([loadtest_script(), "--help"], env)
    assert code == 0
    assert out.startswith("usage: realtime-loadtest ")
    flat = " ".join(out.split())
    for scenario in SCENARIO_NAMES:
        assert scenario in flat
    for command in COMMANDS_HELP:
        assert f"{command} {COMMANDS_HELP[command]}" in flat, command
    assert "--rate RATE offered rate per second (default: 1000.0)" in flat
    assert "--connections CONNECTIONS" in flat and "(default: 100)" in flat


async def test_a_loadtest_commands_help_names_the_script(tmp_path: Path) -> None:
    code, out, _ = await run([loadtest_script(), "cluster", "--help"], environment(tmp_path))
    assert code == 0
    assert out.startswith("usage: realtime-loadtest cluster ")


async def test_loadtest_help_never_shows_a_secret_from_the_environment(
        tmp_path: Path) -> None:
    env = environment(tmp_path)  # sets REALTIME_JWT_SECRET and REALTIME_API_KEY
    code, out, _ = await run([loadtest_script(), "--help"], env)
    assert code == 0
    assert env["REALTIME_JWT_SECRET"] not in out and env["REALTIME_API_KEY"] not in out


