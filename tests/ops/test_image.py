"""The Dockerfile's commands, run here as far as a machine without a container engine
allows: the wheel it builds installs into a fresh virtualenv; from there its ENTRYPOINT
and CMD serve, its HEALTHCHECK command passes against that node and fails without one,
and its ENV is what the node runs with."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.served import BOUND, ROOT, environment, free_port, run, serving


def instruction(name: str) -> str:
    """The argument of the last ``name`` instruction of the Dockerfile (continuations
    joined)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    found = re.findall(rf"^{name}\s+(.*)$", text, re.MULTILINE)
    assert found, name
    return found[-1].strip()


def exec_form(value: str) -> list[str]:
    """A JSON-array (exec form) instruction argument."""
    parsed = json.loads(value)
    assert isinstance(parsed, list)
    return parsed


def image_env() -> dict[str, str]:
    """The final stage's ENV, with $PATH left for the caller."""
    pairs = re.findall(r"(\w+)=(\S+)", instruction("ENV"))
    return dict(pairs)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A virtualenv with the project's wheel installed, as the Dockerfile's build stage
    makes it (dependencies come from this machine's site-packages: no network)."""
    root = tmp_path_factory.mktemp("image")
    # The build context: what the Dockerfile's COPY instructions take.
    context = root / "src"
    copies = re.findall(r"^COPY ([^-].*) \S+$", (ROOT / "Dockerfile").read_text(), re.M)
    for copied in (name for line in copies for name in line.split()):
        source = ROOT / copied.rstrip("/")
        if source.is_dir():
            shutil.copytree(source, context / source.name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            context.mkdir(exist_ok=True)
            shutil.copy(source, context / source.name)
    wheels = root / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(wheels), str(context)],
                   check=True, capture_output=True, timeout=300)
    env_dir = root / "opt" / "realtime"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    # The wheel's dependencies are taken from the environment running the tests (which
    # may itself be a virtualenv: system site packages would be the base interpreter's,
    # without them). A .pth file appends those directories after the image's own
    # site-packages, so the wheel installed there is still the one imported.
    inner = next((env_dir / "lib").glob("python*/site-packages"))
    outer = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    (inner / "outer-environment.pth").write_text("".join(f"{p}\n" for p in sorted(outer)))
    wheel = next(wheels.glob("*.whl"))
    subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "--no-deps",
                    "--no-index", "--force-reinstall", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    yield env_dir


def container_env(image: Path, data: Path) -> dict[str, str]:
    """The environment the container runs with: the image's ENV, its PATH first, and
    nothing that would find the source tree instead of the installed wheel."""
    env = environment(data)
    del env["PYTHONPATH"], env["REALTIME_LOG_LEVEL"]
    env.update(image_env())
    env["PATH"] = f"{image / 'bin'}{os.pathsep}{os.environ['PATH']}"
    env["REALTIME_DATA_DIR"] = str(data)  # the image's volume, here a temp dir
    return env


def test_the_image_runs_as_a_non_root_user_and_logs_json() -> None:
    assert instruction("USER").split(":")[0] not in ("0", "root")
    assert image_env()["REALTIME_LOG_FORMAT"] == "json"


def test_the_image_gives_its_host_so_a_published_port_reaches_a_node_without_secrets() -> None:
    # Without a secret a node listens on 127.0.0.1 unless a host is given: in a container
    # that would be out of reach of `docker run -p 8765:8765`.
    assert image_env()["REALTIME_HOST"] == "0.0.0.0"


def test_the_installed_wheel_brings_uvloop_and_the_migrations(image: Path) -> None:
    # The build stage's own check of what it installed.
    check = re.search(r"/opt/realtime/bin/python -c \"[^\"]+\"",
                      (ROOT / "Dockerfile").read_text())
    assert check is not None
    command = shlex.split(check.group(0).replace("/opt/realtime", str(image)))
    subprocess.run(command, check=True, cwd="/", timeout=60)
    found = subprocess.run(
        [str(image / "bin" / "python"), "-c",
         "import realtime, pathlib; p = pathlib.Path(realtime.__file__).parent; "
         "print(p); print(len(list(p.glob('store/migrations/*/*.sql'))))"],
        check=True, capture_output=True, text=True, cwd="/", timeout=60).stdout.split()
    assert str(ROOT) not in found[0]  # the wheel's copy, not the source tree
    assert int(found[1]) >= 2


async def test_entrypoint_and_cmd_serve_and_the_healthcheck_passes(
        image: Path, tmp_path: Path) -> None:
    command = [*exec_form(instruction("ENTRYPOINT")), *exec_form(instruction("CMD"))]
    healthcheck = exec_form(instruction("HEALTHCHECK").split("CMD", 1)[1].strip())
    env = container_env(image, tmp_path / "data")
    async with serving(command, env, cwd=tmp_path) as node:
        code, _, err = await run(healthcheck, node.env)
        assert code == 0, err
        node.terminate()
        assert await node.exit_code() == 0
    records = [json.loads(line) for line in node.stderr]
    assert records  # JSON logs, as the image's ENV asks


async def test_the_healthcheck_fails_when_no_node_answers(image: Path, tmp_path: Path) -> None:
    healthcheck = exec_form(instruction("HEALTHCHECK").split("CMD", 1)[1].strip())
    env = container_env(image, tmp_path / "data")
    env["REALTIME_API_PORT"] = str(free_port())
    async with asyncio.timeout(BOUND):
        code, _, _ = await run(healthcheck, env)
    assert code != 0


async def test_the_image_migrates_and_prints_its_config(image: Path, tmp_path: Path) -> None:
    env = container_env(image, tmp_path / "data")
    entrypoint = exec_form(instruction("ENTRYPOINT"))
    code, out, err = await run([*entrypoint, "migrate"], env)
    assert code == 0, err
    code, out, err = await run([*entrypoint, "config"], env)
    assert code == 0, err
    assert "REALTIME_LOG_FORMAT" in out and "json" in out
