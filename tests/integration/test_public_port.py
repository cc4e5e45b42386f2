"""The public port answers what it does not serve with the API's JSON error body."""

from __future__ import annotations

import aiohttp

from realtime.node import Node


async def fetch(method: str, url: str) -> tuple[int, object]:
    async with aiohttp.ClientSession() as http, http.request(method, url) as response:
        return response.status, await response.json(content_type=None)


async def test_an_unknown_path_is_not_found_in_json(node: Node) -> None:
    public = await fetch("GET", f"http://127.0.0.1:{node.port}/no/such/page")
    api = await fetch("GET", f"http://127.0.0.1:{node.api_port}/no/such/page")
    assert public == (404, {"code": "not_found", "message": "not found"})
    assert public == api


async def test_a_method_a_path_has_not_is_refused_in_json(node: Node) -> None:
    status, body = await fetch("DELETE", f"http://127.0.0.1:{node.port}/healthz")
    assert (status, body) == (405, {"code": "bad_request", "message": "method not allowed"})
