"""How the harness's commands present themselves: the name they were started by, and
help that shows each option's default."""

from __future__ import annotations

import argparse
import os
import sys

SCRIPT = "realtime-loadtest"
"""The console script installed with the package."""

SECRET_OPTIONS = frozenset({"api_key", "secret"})
"""Options whose default comes from the environment and is a credential: never shown."""


def prog(command: str | None = None) -> str:
    """``realtime-loadtest`` when run as the console script, ``python -m loadtest``
    otherwise; followed by ``command`` for a subcommand's own parser."""
    name = SCRIPT if os.path.basename(sys.argv[0]) == SCRIPT else "python -m loadtest"
    return f"{name} {command}" if command else name


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                    argparse.RawDescriptionHelpFormatter):
    """Each option's default after its help (unless the help names it already, or it is
    a credential), and the description and epilog as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if action.dest in SECRET_OPTIONS or "default" in text or default is None \
                or default is True or default is False or default is argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)
