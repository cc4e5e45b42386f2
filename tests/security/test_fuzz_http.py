"""The HTTP API under byte-level fuzzing: no request gets a 5xx or an undocumented error.

The schemathesis run in tests/integration/test_openapi.py sends what the OpenAPI
document describes; this one sends what it does not: arbitrary bytes, JSON of any
shape, valid bodies with fields swapped for anything, and path parameters of any text.
Every answer must be a success or a ``{code, message}`` refusal with a documented code
other than ``internal``.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.errors import ErrorCode
from realtime.node import Node
from tests.fixtures.node import API_KEY

EXAMPLES = 60
"""Requests per route: each is one round trip to a local node, so this stays fast."""
REFUSALS = {str(code) for code in ErrorCode} - {"internal"}

# Valid bodies per route, which the strategies below then bend.
ROUTES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/threads"): {"members": ["alice", "bob"], "title": "t"},
    ("POST", "/v1/threads/{thread}/members"): {"add": ["carol"], "remove": ["bob"]},
    ("POST", "/v1/threads/{thread}/messages"): {"from": "alice", "body": "hi", "cid": "c1",
                                                "meta": {"k": 1}},
    ("POST", "/v1/notify"): {"users": ["alice"], "data": {"k": "v"},
                             "push": {"title": "t", "body": "b"}},
    ("PUT", "/v1/posts/{post}"): {"owner": "alice"},
    ("POST", "/v1/posts/{post}/likes"): {"user": "alice", "on": True},
    ("POST", "/v1/devices"): {"user": "alice", "token": "tok", "platform": "android"},
}
GET_ROUTES = ["/v1/threads/{thread}/messages?before={x}&limit={y}",
              "/v1/posts/{post}/likes", "/v1/presence?users={x}"]

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=30)),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=10), children, max_size=4)),
    max_leaves=15,
)


def bent(valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Bodies for a route: bytes, any JSON, or its valid body with fields changed."""
    mutated = st.fixed_dictionaries(
        {}, optional={key: st.one_of(st.just(value), json_values)
                      for key, value in valid.items()},
    ).flatmap(lambda body: st.dictionaries(st.text(max_size=8), json_values, max_size=2)
              .map(lambda extra: {**extra, **body}))
    return st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        mutated.map(lambda v: json.dumps(v).encode()),
    )


path_text = st.one_of(st.sampled_from(["g:x", "dm:alice:bob", "p1", "", ".", ".."]),
                      st.text(min_size=1, max_size=300))


def fill(template: str, values: dict[str, str]) -> str:
    return template.format(**{k: urllib.parse.quote(v, safe="") for k, v in values.items()})


def call(base: str, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
    request = urllib.request.Request(base + path, data=body, method=method, headers={
        "X-API-Key": API_KEY, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def check_answer(status: int, raw: bytes) -> None:
    assert status < 500, (status, raw[:300])
    if status >= 400:
        answer = json.loads(raw)
        assert answer["code"] in REFUSALS and isinstance(answer["message"], str), answer


def fuzz_route(base: str, method: str, template: str, valid: dict[str, Any]) -> None:
    @given(body=bent(valid), thread=path_text, post=path_text)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def answers_are_documented(body: bytes, thread: str, post: str) -> None:
        path = fill(template, {"thread": thread, "post": post})
        check_answer(*call(base, method, path, body))

    answers_are_documented()


def fuzz_get(base: str, template: str) -> None:
    @given(thread=path_text, post=path_text, x=st.text(max_size=50), y=st.text(max_size=20))
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def answers_are_documented(thread: str, post: str, x: str, y: str) -> None:
        path = fill(template, {"thread": thread, "post": post, "x": x, "y": y})
        check_answer(*call(base, "GET", path, None))

    answers_are_documented()


@pytest.mark.parametrize(("method", "template"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_any_body_gets_a_documented_answer_and_no_5xx(node: Node, method: str,
                                                            template: str) -> None:
    # urllib blocks: it runs in a thread while this loop serves it.
    await asyncio.to_thread(fuzz_route, node.api_url, method, template,
                            ROUTES[(method, template)])


@pytest.mark.parametrize("template", GET_ROUTES)
async def test_any_path_and_query_gets_a_documented_answer_and_no_5xx(node: Node,
                                                                      template: str) -> None:
    await asyncio.to_thread(fuzz_get, node.api_url, template)


# -- what fuzzing found --------------------------------------------------------------


FOUND = {
    "a string that is not UTF-8": b'{"users": ["alice"], "data": {"k": "caf\xe9"}}',
    "data nested past the recursion limit": (b'{"users": ["alice"], "data": {"k": '
                                             + b"[" * 100_000 + b"]" * 100_000 + b"}}"),
}


@pytest.mark.parametrize("body", FOUND.values(), ids=FOUND.keys())
async def test_a_body_json_cannot_carry_is_bad_request(node: Node, body: bytes) -> None:
    status, raw = await asyncio.to_thread(call, node.api_url, "POST", "/v1/notify", body)
    assert (status, json.loads(raw)["code"]) == (400, "bad_request")
