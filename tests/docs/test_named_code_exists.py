"""Every module, class and function that docs/architecture.md and docs/guarantees.md name
in backticks exists: the documents say where each guarantee lives, and a rename that
leaves them pointing nowhere fails here.

What counts as a name of code: a path under one of our packages (``realtime/feed.py``,
``tests/realtime/``), ``Class.member`` (a class of ours and one of its methods or
fields), ``package.module`` or ``package.module.function``, and a bare private function
(``_repair``). Other backticked text (settings, frames, SQL, test names) is left alone:
test names are checked by running them.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("protocol", "presence", "push", "realtime", "realtime_client", "loadtest")
DOCUMENTS = ("docs/architecture.md", "docs/guarantees.md")
_TICKED = re.compile(r"`([^`\n]+)`")
_ALTERNATIVES = "|".join(PACKAGES)
_PATH = re.compile(rf"(?:{_ALTERNATIVES}|tests)/[\w/.]*")
_MEMBER = re.compile(r"([A-Z]\w*)\.(\w+)(?:\(\))?")
_DOTTED = re.compile(rf"(?:{_ALTERNATIVES})(?:\.\w+)+")
_FILE_SUFFIXES = {"db", "json", "sql", "md", "yaml", "toml", "txt", "log", "html", "js", "py"}
"""``push.db`` names a file, not a module."""
_PRIVATE = re.compile(r"_[a-z]\w*(?:\(\))?")


@cache
def index() -> tuple[dict[str, set[str]], set[str]]:
    """Our classes, each with the names defined on it, and every function of ours (with
    the names modules assign: constants)."""
    classes: dict[str, set[str]] = {}
    functions: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text("utf-8"))
            for statement in tree.body:
                if isinstance(statement, ast.Assign):
                    functions.update(t.id for t in statement.targets if isinstance(t, ast.Name))
                elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target,
                                                                         ast.Name):
                    functions.add(statement.target.id)
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    functions.add(node.name)
                elif isinstance(node, ast.ClassDef):
                    members = classes.setdefault(node.name, set())
                    for item in ast.walk(node):
                        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                            members.add(item.name)
                        elif isinstance(item, ast.AnnAssign) and isinstance(
                                item.target, ast.Name | ast.Attribute):
                            members.add(_target(item.target))
                        elif isinstance(item, ast.Assign):
                            members.update(_target(t) for t in item.targets
                                           if isinstance(t, ast.Name | ast.Attribute))
    return classes, functions


def _target(node: ast.Name | ast.Attribute) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr


def module_exists(dotted: str) -> bool:
    path = ROOT / dotted.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def problem(name: str) -> str | None:
    """Why ``name`` names no code of ours, or None (it does, or it is no code name)."""
    classes, functions = index()
    if _PATH.fullmatch(name):
        return None if (ROOT / name).exists() else "no such file or directory"
    if (member := _MEMBER.fullmatch(name)) is not None:
        cls, attr = member.groups()
        if cls not in classes:
            # Not ours (``Outbox.discharge`` is; ``asyncio.Future`` would not match).
            return "no such class"
        return None if attr in classes[cls] else f"{cls} has no {attr}"
    if _DOTTED.fullmatch(name) and name.rpartition(".")[2] not in _FILE_SUFFIXES:
        parts = name.split(".")
        if module_exists(name):
            return None
        if module_exists(".".join(parts[:-1])):
            return None if parts[-1] in functions or parts[-1] in classes else \
                f"{'.'.join(parts[:-1])} defines no {parts[-1]}"
        return "no such module"
    if _PRIVATE.fullmatch(name):
        return None if name.removesuffix("()") in functions else "no such function"
    return None


def named(document: str) -> list[str]:
    return sorted(set(_TICKED.findall((ROOT / document).read_text("utf-8"))))


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_module_and_function_a_document_names_exists(document: str) -> None:
    missing = {name: why for name in named(document) if (why := problem(name)) is not None}
    assert not missing, f"{document} names code that does not exist: {missing}"


def test_the_check_finds_a_name_that_does_not_exist() -> None:
    assert problem("realtime/feed.py") is None
    assert problem("Feed.replay") is None
    assert problem("realtime.delivery.machine.DeliveryMachine") is None
    assert problem("realtime/nowhere.py") is not None
    assert problem("Feed.no_such_method") is not None
    assert problem("realtime.delivery.nowhere") is not None
    assert problem("_no_such_function") is not None
