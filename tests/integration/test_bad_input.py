"""Bad input gets a clear error, and nothing else changes.

Every test here sends one bad frame as alice, checks the error it gets (code, request
id), then checks that nothing else changed: alice's connection still answers, bob got
nothing, and the thread holds only the one message it had before.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from tests.fixtures.node import NodeFactory
from tests.fixtures.wire import MSGPACK, Wire, wire

LIMIT_BODY = 100
LIMIT_META = 64
LIMIT_FRAME = 4096


@dataclass
class Chat:
    alice: Wire
    bob: Wire
    thread: str
    """The DM of alice and bob, holding one message."""
    others: str
    """A DM of bob and carol, which alice is not in."""


async def unchanged(chat: Chat) -> None:
    """Alice's connection still answers, bob got nothing, the thread is as it was."""
    assert (await chat.alice.request({"type": "ping"}))["type"] == "pong"
    mark = len(chat.bob.received)
    await chat.bob.request({"type": "ping"})  # anything sent to bob would come first
    assert [f["type"] for f in chat.bob.received[mark:]] == ["pong"]
    assert [f["type"] for f in chat.bob.received if f["type"] != "pong"] == ["message"]
    page = await chat.bob.request({"type": "history", "thread": chat.thread})
    assert [(m["seq"], m["body"]) for m in page["messages"]] == [(1, "first")]


@pytest.fixture(params=["json", "msgpack"])
async def chat(request: pytest.FixtureRequest,
               node_factory: NodeFactory) -> AsyncIterator[Chat]:
    node = await node_factory(limit_body=LIMIT_BODY, limit_meta=LIMIT_META,
                              limit_frame=LIMIT_FRAME)
    protocol = MSGPACK if request.param == "msgpack" else "rt.v1.json"
    others = await node.store.ensure_dm("bob", "carol")
    async with wire(node, "alice", subprotocol=protocol) as alice, wire(node, "bob") as bob:
        ack = await alice.request({"type": "send", "to": "bob", "cid": "c0", "body": "first"})
        await bob.recv_until("message")
        yield Chat(alice, bob, ack["thread"], others.id)


async def error_for(w: Wire, frame: dict[str, Any] | bytes | str) -> dict[str, Any]:
    await w.send(frame)
    return await w.recv_until("error")


# -- undecodable frames --------------------------------------------------------------


async def test_malformed_json_is_a_bad_request(node_factory: NodeFactory) -> None:
    node = await node_factory()
    async with wire(node, "alice") as alice:
        error = await error_for(alice, '{"type": "ping", "id": 1')
        pong = await alice.request({"type": "ping"})
    assert error["code"] == "bad_request" and "id" not in error
    assert pong["type"] == "pong"


async def test_malformed_msgpack_is_a_bad_request(node_factory: NodeFactory) -> None:
    node = await node_factory()
    async with wire(node, "alice", subprotocol=MSGPACK) as alice:
        error = await error_for(alice, b"\xc1\x93\x01")
        pong = await alice.request({"type": "ping"})
    assert error["code"] == "bad_request" and "id" not in error
    assert pong["type"] == "pong"


async def test_a_text_frame_on_a_msgpack_connection_is_a_bad_request(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory()
    async with wire(node, "alice", subprotocol=MSGPACK) as alice:
        error = await error_for(alice, json.dumps({"type": "ping", "id": 1}))
        pong = await alice.request({"type": "ping"})
    assert error["code"] == "bad_request" and pong["type"] == "pong"


@pytest.mark.parametrize("value", [[1, 2], "ping", 42, None], ids=["list", "str", "int", "nil"])
async def test_a_frame_that_is_not_a_map_is_a_bad_request(chat: Chat, value: Any) -> None:
    raw = msgspec.msgpack.encode(value) if chat.alice.binary else json.dumps(value)
    error = await error_for(chat.alice, raw)
    assert error["code"] == "bad_request"
    await unchanged(chat)


async def test_a_frame_without_type_is_a_bad_request_with_its_id(chat: Chat) -> None:
    error = await error_for(chat.alice, {"id": 5, "thread": chat.thread})
    assert (error["code"], error["id"]) == ("bad_request", 5)
    await unchanged(chat)


async def test_an_unknown_type_is_a_bad_request_naming_it(chat: Chat) -> None:
    error = await error_for(chat.alice, {"type": "dance", "id": 6})
    assert (error["code"], error["id"]) == ("bad_request", 6)
    assert "dance" in error["message"]
    await unchanged(chat)


# -- ill-typed frames ----------------------------------------------------------------


BAD_SENDS = {
    "missing body": {"to": "bob", "cid": "x"},
    "missing cid": {"to": "bob", "body": "x"},
    "body not a string": {"to": "bob", "cid": "x", "body": 5},
    "meta not a map": {"to": "bob", "cid": "x", "body": "x", "meta": [1]},
    "thread and to": {"thread": "dm:alice:bob", "to": "bob", "cid": "x", "body": "x"},
    "neither thread nor to": {"cid": "x", "body": "x"},
    "to not a user id": {"to": "bob:evil", "cid": "x", "body": "x"},
    "thread with a space": {"thread": "dm alice", "cid": "x", "body": "x"},
    "empty cid": {"to": "bob", "cid": "", "body": "x"},
    "cid too long": {"to": "bob", "cid": "c" * 129, "body": "x"},
    "NUL in the body": {"to": "bob", "cid": "x", "body": "a\x00b"},
    "NUL in the cid": {"to": "bob", "cid": "x\x00", "body": "x"},
    "NUL in a meta value": {"to": "bob", "cid": "x", "body": "x", "meta": {"k": ["\x00"]}},
    "NUL in a meta key": {"to": "bob", "cid": "x", "body": "x", "meta": {"\x00": 1}},
}


@pytest.mark.parametrize("fields", BAD_SENDS.values(), ids=BAD_SENDS.keys())
async def test_an_invalid_send_is_a_bad_request(chat: Chat, fields: dict[str, Any]) -> None:
    error = await error_for(chat.alice, {"type": "send", "id": 7, **fields})
    assert (error["code"], error["id"]) == ("bad_request", 7)
    await unchanged(chat)


async def test_a_bool_for_an_int_is_a_bad_request(chat: Chat) -> None:
    error = await error_for(chat.alice, {"type": "read", "thread": chat.thread, "seq": True,
                                         "id": 8})
    assert (error["code"], error["id"]) == ("bad_request", 8)
    await unchanged(chat)


async def test_an_int_beyond_64_bits_is_a_bad_request(chat: Chat) -> None:
    # MessagePack stops at 2**64 - 1; JSON has no bound at all.
    huge = 2**64 - 1 if chat.alice.binary else 2**70
    error = await error_for(chat.alice, {"type": "history", "thread": chat.thread,
                                         "before": huge, "id": 9})
    assert (error["code"], error["id"]) == ("bad_request", 9)
    await unchanged(chat)


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": -5}, {"before": 0}],
                         ids=["limit 0", "negative limit", "before 0"])
async def test_a_history_out_of_range_is_a_bad_request(chat: Chat,
                                                       query: dict[str, int]) -> None:
    error = await error_for(chat.alice, {"type": "history", "thread": chat.thread, "id": 10,
                                         **query})
    assert (error["code"], error["id"]) == ("bad_request", 10)
    await unchanged(chat)


async def test_unknown_fields_are_ignored(chat: Chat) -> None:
    ack = await chat.alice.request({"type": "ping", "colour": "red", "nested": {"a": [1]}})
    assert ack["type"] == "pong"


async def test_unknown_fields_in_a_send_are_ignored(chat: Chat) -> None:
    ack = await chat.alice.request({"type": "send", "to": "bob", "cid": "c1", "body": "hi",
                                    "colour": "red"})
    m = await chat.bob.recv_until("message")
    assert ack["seq"] == 2 and m["body"] == "hi" and "colour" not in m


async def test_a_from_in_a_client_frame_is_ignored(chat: Chat) -> None:
    await chat.alice.request({"type": "send", "to": "bob", "cid": "c1", "body": "hi",
                              "from": "bob"})
    m = await chat.bob.recv_until("message")
    assert m["from"] == "alice"


async def test_a_from_cannot_post_into_someone_elses_thread(chat: Chat) -> None:
    error = await error_for(chat.alice, {"type": "send", "thread": chat.others, "cid": "x",
                                         "body": "x", "from": "bob", "id": 11})
    assert (error["code"], error["id"]) == ("forbidden", 11)
    await unchanged(chat)


def deeply_nested_send(depth: int, *, binary: bool) -> bytes | str:
    """A send whose meta nests ``depth`` lists, encoded by hand: encoders refuse it."""
    fields = {"type": "send", "to": "bob", "cid": "x", "body": "x", "id": 16}
    if binary:
        head = msgspec.msgpack.encode(fields)
        assert head[0] == 0x80 | len(fields)  # a fixmap: one more entry follows
        return (bytes([0x80 | len(fields) + 1]) + head[1:] + msgspec.msgpack.encode("meta")
                + b"\x81" + msgspec.msgpack.encode("deep") + b"\x91" * depth
                + msgspec.msgpack.encode("leaf"))
    return (json.dumps(fields)[:-1] + ', "meta": {"deep": ' + "[" * depth + '"leaf"'
            + "]" * depth + "}}")


async def test_deeply_nested_input_is_a_bad_request(chat: Chat) -> None:
    error = await error_for(chat.alice, deeply_nested_send(1500, binary=chat.alice.binary))
    assert error["code"] == "bad_request"
    await unchanged(chat)


async def test_a_meta_value_json_cannot_carry_is_a_bad_request(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory()
    async with wire(node, "alice", subprotocol=MSGPACK) as alice, wire(node, "bob") as bob:
        error = await error_for(alice, {"type": "send", "to": "bob", "cid": "x", "body": "x",
                                        "meta": {"raw": b"\x00\x01"}, "id": 17})
        await bob.request({"type": "ping"})
    assert (error["code"], error["id"]) == ("bad_request", 17)
    assert [f["type"] for f in bob.received] == ["pong"]


# -- sizes ---------------------------------------------------------------------------


async def test_a_body_at_the_limit_is_accepted(chat: Chat) -> None:
    ack = await chat.alice.request({"type": "send", "to": "bob", "cid": "c1",
                                    "body": "é" * (LIMIT_BODY // 2)})  # UTF-8 bytes
    assert ack["type"] == "ack"


async def test_a_body_over_the_limit_is_too_large(chat: Chat) -> None:
    error = await error_for(chat.alice, {"type": "send", "to": "bob", "cid": "c1", "id": 12,
                                         "body": "é" * (LIMIT_BODY // 2) + "x"})
    assert (error["code"], error["id"]) == ("too_large", 12)
    await unchanged(chat)


async def test_a_meta_over_the_limit_is_too_large(chat: Chat) -> None:
    error = await error_for(chat.alice, {"type": "send", "to": "bob", "cid": "c1", "id": 13,
                                         "body": "x", "meta": {"k": "v" * LIMIT_META}})
    assert (error["code"], error["id"]) == ("too_large", 13)
    await unchanged(chat)


async def test_a_frame_over_the_limit_closes_with_1009(chat: Chat) -> None:
    await chat.alice.send({"type": "send", "to": "bob", "cid": "c1", "body": "x",
                           "pad": "p" * LIMIT_FRAME})
    assert await chat.alice.closed() == 1009
    page = await chat.bob.request({"type": "history", "thread": chat.thread})
    assert [m["seq"] for m in page["messages"]] == [1]


# -- permissions ---------------------------------------------------------------------


NOT_YOURS = {
    "send": {"type": "send", "cid": "x", "body": "x"},
    "history": {"type": "history"},
    "read": {"type": "read", "seq": 1},
    "typing": {"type": "typing", "on": True},
}


@pytest.mark.parametrize("frame", NOT_YOURS.values(), ids=NOT_YOURS.keys())
async def test_another_users_thread_is_forbidden(chat: Chat, frame: dict[str, Any]) -> None:
    error = await error_for(chat.alice, {**frame, "thread": chat.others, "id": 14})
    assert (error["code"], error["id"]) == ("forbidden", 14)
    await unchanged(chat)


@pytest.mark.parametrize("frame", NOT_YOURS.values(), ids=NOT_YOURS.keys())
async def test_a_thread_that_does_not_exist_is_forbidden(chat: Chat,
                                                         frame: dict[str, Any]) -> None:
    error = await error_for(chat.alice, {**frame, "thread": "g:no-such-thread", "id": 15})
    assert (error["code"], error["id"]) == ("forbidden", 15)
    await unchanged(chat)


async def test_missing_and_foreign_threads_get_the_same_answer(chat: Chat) -> None:
    foreign = await error_for(chat.alice, {"type": "history", "thread": chat.others})
    missing = await error_for(chat.alice, {"type": "history", "thread": "dm:nobody:zed"})
    assert (foreign["code"], foreign["message"]) == (missing["code"], missing["message"])


async def test_a_forbidden_send_leaks_nothing_to_the_threads_members(chat: Chat) -> None:
    await error_for(chat.alice, {"type": "send", "thread": chat.others, "cid": "x",
                                 "body": "intrusion"})
    page = await chat.bob.request({"type": "history", "thread": chat.others})
    assert page["messages"] == []


# -- request ids ---------------------------------------------------------------------


@pytest.mark.parametrize("rid", [17, "req-17", -3, 2**63 - 1], ids=["int", "str", "negative",
                                                                   "int64 max"])
async def test_an_error_carries_the_request_id(chat: Chat, rid: int | str) -> None:
    error = await error_for(chat.alice, {"type": "history", "thread": chat.others, "id": rid})
    assert error["id"] == rid


async def test_an_overlong_request_id_is_a_bad_request_not_echoed(chat: Chat) -> None:
    error = await error_for(chat.alice, {"type": "ping", "id": "r" * 65})
    assert error["code"] == "bad_request" and "id" not in error
    await unchanged(chat)
