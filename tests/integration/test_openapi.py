"""The OpenAPI document describes exactly the API a node serves, and the API keeps to it.

The property tests generate requests from the document (schemathesis) and send them to
a live node: no answer may be a 5xx, and every answer must match the document (status,
content type, body schema), while every schema-valid request must be accepted.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from realtime.http_api import make_api_app
from realtime.node import Node
from realtime.openapi import openapi_document
from tests.fixtures.node import API_KEY

METHODS = {"get", "put", "post", "delete", "patch"}
DOCUMENTED = sorted(
    (path, method.upper())
    for path, item in openapi_document()["paths"].items()
    for method in item
    if method in METHODS
)
EXAMPLES = 20
"""Generated requests per operation: enough to cross every branch of a handler's
validation, few enough to keep the suite fast."""


def registered_routes(node: Node) -> set[tuple[str, str]]:
    app = make_api_app(node)
    return {
        (route.resource.canonical, route.method)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }


async def served_document(node: Node) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, \
            http.get(f"{node.api_url}/v1/openapi.json") as response:
        assert response.status == 200
        return await response.json()


async def test_every_registered_route_is_documented(node: Node) -> None:
    assert registered_routes(node) <= set(DOCUMENTED)


async def test_every_documented_route_is_registered(node: Node) -> None:
    assert set(DOCUMENTED) <= registered_routes(node)


async def test_the_node_serves_the_document_without_a_key(node: Node) -> None:
    assert await served_document(node) == openapi_document()


async def test_the_document_is_valid_openapi_3_1() -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    document = openapi_document()
    assert document["openapi"].startswith("3.1.")
    validator.validate(document)


async def test_every_operation_but_the_public_ones_requires_the_api_key() -> None:
    document = openapi_document()
    public = {(p, m) for p, m in DOCUMENTED if not p.startswith(("/v1/", "/status"))}
    public.add(("/v1/openapi.json", "GET"))
    for path, method in DOCUMENTED:
        operation = document["paths"][path][method.lower()]
        needs_key = operation.get("security", document["security"]) != []
        assert needs_key == ((path, method) not in public), (path, method)


def check_operation(base_url: str, path: str, method: str) -> None:
    """Run schemathesis' default checks on ``examples`` generated requests (blocking)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_dict(openapi_document())
    operation = schema[path][method]

    @given(operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def conforms(case: Any) -> None:
        case.call_and_validate(base_url=base_url, headers={"X-API-Key": API_KEY})

    conforms()


@pytest.mark.parametrize(("path", "method"), DOCUMENTED)
async def test_generated_requests_get_documented_answers_and_no_5xx(
        node: Node, path: str, method: str) -> None:
    pytest.importorskip("schemathesis")
    # schemathesis calls synchronously: it runs in a thread while this loop serves it.
    await asyncio.to_thread(check_operation, node.api_url, path, method)
