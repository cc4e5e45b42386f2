"""With JSON logs, every line ``realtime serve`` writes parses as JSON, what it prints for
its operator included; the last one says the node stopped."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ops.served import environment, realtime_command, run, serving


async def test_every_line_of_a_json_logging_node_is_json(tmp_path: Path) -> None:
    env = environment(tmp_path / "data", log_format="json", log_level="debug")
    # Development mode (no secret, no key): the node prints a line about it too.
    del env["REALTIME_JWT_SECRET"], env["REALTIME_API_KEY"]
    async with serving(realtime_command("serve"), env) as served:
        served.terminate()
        assert await served.exit_code() == 0
    printed = [json.loads(line) for line in served.stdout]
    logged = [json.loads(line) for line in served.stderr]
    assert [p["event"] for p in printed] == ["dev_mode", "serving"]
    assert printed[1]["ws"] == served.ws_url
    assert logged and all({"ts", "level", "msg"} <= set(r) for r in printed + logged)


async def test_the_last_line_of_a_stopped_node_says_so(tmp_path: Path) -> None:
    env = environment(tmp_path / "data", log_format="json", log_level="info",
                      node_id="ops-node-7")
    async with serving(realtime_command("serve"), env) as served:
        served.terminate()
        assert await served.exit_code() == 0
    last = json.loads(served.stderr[-1])
    assert last["msg"].startswith("stopped: node ops-node-7")
    assert last["level"] == "info"


async def test_a_refused_setting_is_one_json_line(tmp_path: Path) -> None:
    env = environment(tmp_path / "data", log_format="json")
    del env["REALTIME_JWT_SECRET"]  # a key without a secret is refused
    code, out, err = await run(realtime_command("serve"), env)
    [line] = err.strip().splitlines()
    record = json.loads(line)
    assert (code, out) == (2, "")
    assert (record["level"], record["event"]) == ("error", "refused")
    assert "REALTIME_JWT_SECRET" in record["msg"]
