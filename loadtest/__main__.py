"""``python -m loadtest SCENARIO ...``: run a scenario (or a rate stepping) and report.

``python -m loadtest baseline ...`` runs the node against the relay and Socket.IO instead (see
:mod:`loadtest.compare`); ``python -m loadtest persistence ...`` appends into PostgreSQL
through the store, in-process (see :mod:`loadtest.scenarios.persistence`).
``cluster`` runs a local cluster (:mod:`loadtest.cluster`), ``fault`` a fault under load
(:mod:`loadtest.scenarios.faults`), ``soak`` a long steady run
(:mod:`loadtest.scenarios.soak`), ``relay`` serves the baseline relay
(:mod:`loadtest.baseline_relay`), ``socketio`` the Socket.IO baseline
(:mod:`loadtest.socketio_server`).

Installed, the same commands are the ``realtime-loadtest`` console script.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from loadtest.help_text import HelpFormatter, prog
from loadtest.options import SCENARIO_NAMES, add_arguments, from_args

_COMMANDS = {
    "cluster": "loadtest.cluster",
    "fault": "loadtest.scenarios.faults",
    "soak": "loadtest.scenarios.soak",
    "relay": "loadtest.baseline_relay",
    "socketio": "loadtest.socketio_server",
}


COMMANDS_HELP = {
    "baseline": "the node against the baseline relay and Socket.IO, side by side",
    "persistence": "appends into PostgreSQL through the store, in-process",
    "cluster": "run a local cluster of nodes (PostgreSQL, Redis) until stopped",
    "fault": "a fault (a node killed, Redis or PostgreSQL restarted) under load",
    "soak": "a long steady run: memory, file descriptors, nothing lost",
    "relay": "serve the baseline relay",
    "socketio": "serve the Socket.IO baseline",
}


def commands_help(name: str) -> str:
    """The epilog of the main help: every command, one line each."""
    lines = ["commands:",
             f"  {'SCENARIO':<12} run one of: {', '.join(SCENARIO_NAMES)} (options above)"]
    lines += [f"  {command:<12} {text}" for command, text in COMMANDS_HELP.items()]
    lines.append(f"\n`{name} COMMAND --help` shows a command's own options.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "baseline":
        from loadtest.compare import main as compare_main

        return compare_main(argv[1:])
    if argv and argv[0] in _COMMANDS:
        module = importlib.import_module(_COMMANDS[argv[0]])
        return int(module.main(argv[1:]))
    if argv and argv[0] == "persistence":
        from loadtest.scenarios.persistence import main as persistence_main

        return persistence_main(argv[1:])
    name = prog()
    parser = argparse.ArgumentParser(
        prog=name,
        formatter_class=HelpFormatter,
        description="Drive a realtime node (or the baseline relay) over the wire and report\n"
                    "latency, loss and server cost: run SCENARIO with the options below, or\n"
                    "one of the other commands.",
        epilog=commands_help(name))
    add_arguments(parser)
    options = from_args(parser.parse_args(argv))
    try:
        options.check()
    except ValueError as exc:
        parser.error(str(exc))
    import uvloop

    from loadtest.plots import plot_run, plot_steps
    from loadtest.progress import Progress
    from loadtest.report import print_report, print_steps, write_json
    from loadtest.runner import run, run_steps

    progress = Progress(enabled=options.live)
    if options.step_from is not None:
        options = options.replace(step_to=options.step_to or options.step_from * 10)
        result = uvloop.run(run_steps(options, progress))
        print_steps(result)
        if options.plot_path:
            plot_steps(result, options.plot_path)
    else:
        result = uvloop.run(run(options, progress))
        print_report(result)
        if options.plot_path:
            plot_run(result, options.plot_path)
    if options.json_path:
        write_json(result, options.json_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
