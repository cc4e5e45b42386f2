"""Configuration: the documented table is the list of settings, and every setting is read
from its variable and its flag and shown, secrets masked, by ``realtime config``."""

from __future__ import annotations

import re
from pathlib import Path

from realtime.config import SETTINGS, Setting, settings_markdown
from tests.ops.served import environment, realtime_command, run

ROOT = Path(__file__).resolve().parents[2]


def other_value(setting: Setting) -> str:
    """A valid value that differs from the default, as a string."""
    if setting.kind is bool:
        return "false" if setting.default else "true"
    if setting.kind is int:
        return str(setting.default + 7)
    if setting.kind is float:
        return str(setting.default + 7.5)
    return f"value-of-{setting.name}-xyz"


def test_docs_configuration_lists_exactly_the_settings() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    table = re.search(r"<!-- settings:start -->\n(.*?)<!-- settings:end -->", text, re.S)
    assert table is not None
    assert table.group(1) == settings_markdown()


async def test_realtime_config_shows_each_variable_and_masks_secrets(tmp_path: Path) -> None:
    env = environment(tmp_path)
    env.update({s.env: other_value(s) for s in SETTINGS})
    code, out, err = await run(realtime_command("config"), env)
    assert code == 0, err
    shown = {line.split()[0]: line.split()[1] for line in out.splitlines()}
    for setting in SETTINGS:
        expected = "*****" if setting.secret else other_value(setting)
        assert shown[setting.env].lower() == expected.lower(), setting.name
    assert all(other_value(s) not in out for s in SETTINGS if s.secret)


async def test_a_flag_wins_over_its_variable(tmp_path: Path) -> None:
    env = environment(tmp_path)
    env.update({s.env: other_value(s) for s in SETTINGS})
    flags = [arg for s in SETTINGS if not s.secret for arg in (s.flag, str(s.default))]
    code, out, err = await run(realtime_command("config", *flags), env)
    assert code == 0, err
    shown = {line.split()[0]: line.split("(default")[0].split(maxsplit=1)[1:]
             for line in out.splitlines()}
    for setting in SETTINGS:
        if not setting.secret:
            value = shown[setting.env][0].strip() if shown[setting.env] else ""
            assert value == str(setting.default), setting.name


async def test_a_malformed_value_is_refused_with_its_variable_named(tmp_path: Path) -> None:
    env = environment(tmp_path, port="eighty", compression="maybe")
    code, _, err = await run(realtime_command("config"), env)
    assert code != 0
    assert "REALTIME_PORT" in err
