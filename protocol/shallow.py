"""The ``id`` of a frame nested too deeply to decode, read without descending into it.

A decoder refuses a frame whose nesting exhausts its stack; the error must still name
the request it answers. These readers walk the top-level map only, skipping every
nested value iteratively, so that no depth can exhaust them. Both return the ``id``
value as found (an int, a str, anything scalar) or None.
"""

from __future__ import annotations

import json
import struct
from typing import Any

__all__ = ["json_id", "msgpack_id"]

_WHITESPACE = " \t\r\n"


def json_id(data: bytes | str) -> Any:
    """The top-level ``"id"`` of a JSON object, or None."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    try:
        return _json_id(text)
    except (ValueError, IndexError, RecursionError):
        return None


def _json_id(s: str) -> Any:
    i = _skip_ws(s, 0)
    if s[i] != "{":
        return None
    i += 1
    while True:
        i = _skip_ws(s, i)
        if s[i] != '"':
            return None
        key, i = json.decoder.scanstring(s, i + 1)  # type: ignore[attr-defined]
        i = _skip_ws(s, i)
        if s[i] != ":":
            return None
        i = _skip_ws(s, i + 1)
        if key == "id" and s[i] not in "[{":
            value, _ = json.JSONDecoder().raw_decode(s, i)
            return value
        i = _skip_json_value(s, i)
        i = _skip_ws(s, i)
        if s[i] != ",":
            return None
        i += 1


def _skip_ws(s: str, i: int) -> int:
    while s[i] in _WHITESPACE:
        i += 1
    return i


def _skip_json_value(s: str, i: int) -> int:
    """The index after the value starting at ``i``; nesting counted, never recursed."""
    depth = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == '"':
            _, i = json.decoder.scanstring(s, i + 1)  # type: ignore[attr-defined]
        elif c in "[{":
            depth += 1
            i += 1
        elif c in "]}":
            if depth == 0:
                return i  # the end of the enclosing object: a scalar ended here
            depth -= 1
            i += 1
        elif depth == 0 and c == ",":
            return i
        else:
            i += 1
        if depth == 0 and c in '"]}':
            return i
    raise ValueError("truncated")


def msgpack_id(data: bytes) -> Any:
    """The top-level ``"id"`` of a MessagePack map, or None."""
    try:
        return _msgpack_id(bytes(data))
    except (ValueError, IndexError, struct.error, UnicodeDecodeError):
        return None


def _msgpack_id(b: bytes) -> Any:
    kind, count, i = _header(b, 0)
    if kind != "map":
        return None
    for _ in range(count):
        kind, size, start = _header(b, i)
        key = b[start:start + size].decode() if kind == "str" else None
        i = _skip_msgpack(b, i)
        if key == "id":
            kind, value, start = _header(b, i)
            if kind == "int":
                return value
            if kind == "str":
                return b[start:start + value].decode()
            return None
        i = _skip_msgpack(b, i)
    return None


def _header(b: bytes, i: int) -> tuple[str, int, int]:
    """(kind, size or value, index after the header) of the object at ``i``: kind is
    map/array (size: entries), str/bin (size: bytes), int (the value), or skip (size:
    bytes to skip after the header)."""
    t = b[i]
    if t <= 0x7F:
        return "int", t, i + 1
    if t >= 0xE0:
        return "int", t - 0x100, i + 1
    if 0x80 <= t <= 0x8F:
        return "map", t & 0x0F, i + 1
    if 0x90 <= t <= 0x9F:
        return "array", t & 0x0F, i + 1
    if 0xA0 <= t <= 0xBF:
        return "str", t & 0x1F, i + 1
    if t in (0xC0, 0xC2, 0xC3):
        return "skip", 0, i + 1
    fixed = _FIXED.get(t)
    if fixed is not None:
        kind, fmt = fixed
        (value,) = struct.unpack_from(fmt, b, i + 1)
        after = i + 1 + struct.calcsize(fmt)
        if kind == "int":
            return "int", value, after
        if kind == "ext":
            return "skip", value + 1, after  # the type byte, then the data
        return kind, value, after
    if 0xD4 <= t <= 0xD8:
        return "skip", 1 + (1 << (t - 0xD4)), i + 1
    if t in (0xCA, 0xCB):
        return "skip", 4 if t == 0xCA else 8, i + 1
    raise ValueError(f"not MessagePack: {t:#x}")


_FIXED: dict[int, tuple[str, str]] = {
    0xC4: ("bin", ">B"), 0xC5: ("bin", ">H"), 0xC6: ("bin", ">I"),
    0xC7: ("ext", ">B"), 0xC8: ("ext", ">H"), 0xC9: ("ext", ">I"),
    0xCC: ("int", ">B"), 0xCD: ("int", ">H"), 0xCE: ("int", ">I"), 0xCF: ("int", ">Q"),
    0xD0: ("int", ">b"), 0xD1: ("int", ">h"), 0xD2: ("int", ">i"), 0xD3: ("int", ">q"),
    0xD9: ("str", ">B"), 0xDA: ("str", ">H"), 0xDB: ("str", ">I"),
    0xDC: ("array", ">H"), 0xDD: ("array", ">I"),
    0xDE: ("map", ">H"), 0xDF: ("map", ">I"),
}


def _skip_msgpack(b: bytes, i: int) -> int:
    """The index after the object at ``i``; nesting counted, never recursed."""
    pending = 1
    while pending:
        pending -= 1
        kind, size, i = _header(b, i)
        if kind == "array":
            pending += size
        elif kind == "map":
            pending += 2 * size
        elif kind in ("str", "bin", "skip"):
            i += size
        if i > len(b):
            raise ValueError("truncated")
    return i
