"""The OpenAPI 3.1 document of the internal HTTP API, served at ``/v1/openapi.json``.

Schemas are generated from the :mod:`realtime.http_schema` types that the handlers
decode and encode with, so they say exactly what the API accepts and answers. This
module adds what types cannot say: paths, parameters, statuses and the API key.
"""

from __future__ import annotations

import inspect
from typing import Any

import msgspec

from realtime import http_schema as s

API_VERSION = "1"

_JSON = "application/json"
_DESCRIPTION = """\
The internal API of a realtime node, for backends and operators. It listens on its own
port (default 8080), apart from the public WebSocket port.

Every `/v1` call needs the node's key in `X-API-Key`; the health, readiness and metrics
endpoints and this document need none. Bodies are JSON; fields a request does not declare
are ignored. Every refusal is a JSON `{code, message}` whose `code` is one of the
protocol's error codes: 400 `bad_request` (not JSON, a wrong type, a missing field, an
invalid id, or a change to a DM's members, which are fixed), 401 `unauthorized`,
403 `forbidden`, 404 `not_found`, 413 `too_large`, 503 `unavailable` (retry),
500 `internal`.
"""

_TYPES: list[type] = [
    s.CreateThread, s.ChangeMembers, s.PostMessage, s.Notify, s.SetPostOwner, s.SetLike,
    s.RegisterDevice, s.EditMessage, s.ErrorBody, s.ThreadCreated, s.Members, s.Posted,
    s.Changed, s.MessagesPage,
    s.Notified, s.PostOwner, s.LikeCount, s.Ok, s.PresenceList, s.Health, s.Readiness,
    s.NodeList, s.SessionList, s.Status, s.ThreadInfo, s.DisconnectUser, s.Disconnected,
]


def _ref(kind: type) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{kind.__name__}"}


def _json(kind: type, description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": _ref(kind)}}}


_REFUSALS: dict[int, str] = {
    400: "Invalid request (`bad_request`).",
    401: "Missing or wrong `X-API-Key` (`unauthorized`).",
    403: "Not allowed (`forbidden`).",
    404: "No such thread, or no such message (`not_found`).",
    413: "A size limit was exceeded (`too_large`).",
    503: "A dependency is down: retry (`unavailable`).",
}


def _refused(*statuses: int) -> dict[str, Any]:
    return {str(code): {"$ref": f"#/components/responses/{code}"} for code in statuses}


def _operation(summary: str, answer: type, *, body: type | None = None,
               params: list[dict[str, Any]] | None = None, refused: tuple[int, ...] = (),
               description: str | None = None, public: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary}
    if description:
        op["description"] = description
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": {_JSON: {"schema": _ref(body)}}}
        refused = (400, 413, *refused)
    responses: dict[str, Any] = {"200": _json(answer, "Done.")}
    if not public:
        refused = (401, *refused, 503)
        responses.update(_refused(*sorted(set(refused))))
    else:
        op["security"] = []
    op["responses"] = responses
    return op


def _path(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or {"type": "string", "minLength": 1}}


def _query(name: str, description: str, schema: dict[str, Any],
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema}


# '%' and '/' are valid in a thread id but cannot travel unescaped in a path segment;
# the document leaves them out so that generated requests are ones a client can send.
_THREAD = _path("thread", "A thread id: 1..128 printable ASCII characters, no spaces.",
                {"type": "string", "pattern": "^[!-$&-.0-~]{1,128}$"})
_POST = _path("post", "A post id: 1..128 characters of [A-Za-z0-9_.:@+-].",
              {"type": "string", "pattern": "^[A-Za-z0-9_.:@+\\-]{1,128}$"})
_POSITIVE = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
_SEQ = _path("seq", "The seq of a message of the thread.", _POSITIVE)
_USER_LIST = {"type": "string",
              "pattern": "^[A-Za-z0-9_.@+\\-]{1,64}(,[A-Za-z0-9_.@+\\-]{1,64})*$"}
_USER = _path("user", "A user id: 1..64 characters of [A-Za-z0-9_.@+-].",
              {"type": "string", "pattern": "^[A-Za-z0-9_.@+\\-]{1,64}$"})
_TOKEN = _path("token", "A push token registered with POST /v1/devices.",
               {"type": "string", "minLength": 1, "maxLength": 4096})


def _paths() -> dict[str, Any]:
    return {
        "/healthz": {"get": _operation(
            "Liveness: the process answers.", s.Health, public=True)},
        "/readyz": {"get": _operation(
            "Readiness: not draining, and the store and broker answer (503 otherwise).",
            s.Readiness, public=True)
            | {"responses": {"200": _json(s.Readiness, "Ready."),
                             "503": _json(s.Readiness, "Not ready.")}}},
        "/metrics": {"get": {
            "summary": "Prometheus metrics, text exposition format.",
            "security": [],
            "responses": {"200": {"description": "The metrics.",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}},
        }},
        "/v1/openapi.json": {"get": {
            "summary": "This document.",
            "security": [],
            "responses": {"200": {"description": "The OpenAPI 3.1 document.",
                                  "content": {_JSON: {"schema": {"type": "object"}}}}},
        }},
        "/v1/threads": {"post": _operation(
            "Create a group thread.", s.ThreadCreated, body=s.CreateThread,
            description="Duplicate members collapse; a group needs at least one member, and "
                        "at most `REALTIME_LIMIT_GROUP` (413). Its first entry (seq 1) is a "
                        "`members` update {added: everyone, user: null}, which every member "
                        "gets live; a group made here has no admin.")},
        "/v1/threads/{thread}": {"get": _operation(
            "A thread: its kind, title, members and admins.", s.ThreadInfo,
            params=[_THREAD], refused=(400, 404),
            description="`kind` is `dm` or `group`; a DM has no title and no admins.")},
        "/v1/threads/{thread}/members": {"post": _operation(
            "Add, then remove, members of a group thread.", s.Members,
            body=s.ChangeMembers, params=[_THREAD], refused=(404,),
            description="Answers the members now. A change is the thread's next entry, a "
                        "`members` update {added, removed, admins, user: null} that every "
                        "member and every removed user gets; a change that changes nothing "
                        "makes none. From it on, a removed user gets nothing more of the "
                        "thread. When the last admin is removed, the longest-standing "
                        "member becomes admin. A DM's members are fixed by its id: changing "
                        "them is refused with 400 `bad_request`; past `REALTIME_LIMIT_GROUP` "
                        "members, 413.")},
        "/v1/threads/{thread}/messages": {
            "post": _operation(
                "Post a message to a thread, delivered live to its members.", s.Posted,
                body=s.PostMessage, params=[_THREAD], refused=(403, 404),
                description="Answers once the message is committed (acked means durable). "
                            "`from` omitted posts a system message (`from` null); a `from` "
                            "that is not a member is 403. A retry with the same `cid` "
                            "(and `from`) answers the original message and stores nothing."),
            "get": _operation(
                "A page of a thread's history.", s.MessagesPage, params=[
                    _THREAD,
                    _query("before", "Only messages with a smaller seq (exclusive).",
                           _POSITIVE),
                    _query("limit", "Messages per page: default 50, at most 200 (larger "
                                    "values are clamped).", _POSITIVE),
                ], refused=(400, 404),
                description="The newest page before `before`, in ascending seq; `more` "
                            "tells whether older messages exist. Messages have the shape of "
                            "the WebSocket `message` frame, without `cursor`, in their "
                            "current state: `edited` (ms of the last edit), `deleted` (unsent: "
                            "empty body, no meta or attachments), `reactions` "
                            "{emoji: [users]}."),
        },
        "/v1/threads/{thread}/messages/{seq}": {
            "patch": _operation(
                "Edit a message (an `edit` entry with user null).", s.Changed,
                body=s.EditMessage, params=[_THREAD, _SEQ], refused=(404,),
                description="Replaces the body, and the meta when given (omitted: kept). "
                            "Any message of the thread, whoever sent it. The members get an "
                            "`update` {kind: edit, user: null}. An edit to the current state "
                            "makes no entry and answers the last edit's seq (null if none). "
                            "404 for a missing thread, or a seq that is no message or an "
                            "unsent one."),
            "delete": _operation(
                "Unsend a message (moderation: an `unsend` entry with user null).", s.Changed,
                params=[_THREAD, _SEQ], refused=(400, 404),
                description="Erases the message's body, meta and attachments, its edits' "
                            "contents and its reactions, from the store and from pushes not "
                            "yet sent. The members get an `update` {kind: unsend, user: null}; "
                            "history shows the message with `deleted: true`. 404 for a missing "
                            "thread, or a seq that is no message or already unsent."),
        },
        "/v1/notify": {"post": _operation(
            "Deliver a notification to every online session of some users.", s.Notified,
            body=s.Notify,
            description="Sessions get a `notification` frame {nid, data, ts}. `data` is a "
                        "map of at most 4096 bytes as JSON. `live` lists the users reached "
                        "live; `pushed` those for whom a push was queued.")},
        "/v1/posts/{post}": {"put": _operation(
            "Name a post's owner, who gets like notifications.", s.PostOwner,
            body=s.SetPostOwner, params=[_POST])},
        "/v1/posts/{post}/likes": {
            "post": _operation("Like or unlike a post as a user.", s.LikeCount,
                               body=s.SetLike, params=[_POST],
                               description="Idempotent per (post, user); answers the count."),
            "get": _operation("A post's like count.", s.LikeCount, params=[_POST],
                              refused=(400,)),
        },
        "/v1/devices": {"post": _operation(
            "Register a push token for a user's device.", s.Ok, body=s.RegisterDevice,
            description="A token belongs to one user: registering it again replaces the "
                        "earlier registration.")},
        "/v1/devices/{token}": {"delete": _operation(
            "Forget a push token.", s.Ok, params=[_TOKEN], refused=(400,),
            description="Idempotent: forgetting an unknown token also answers {ok: true}.")},
        "/v1/presence": {"get": _operation(
            "Whether users are online, and when they were last seen.", s.PresenceList,
            params=[_query("users", "Comma-separated user ids.", _USER_LIST, required=True)],
            refused=(400,))},
        "/v1/nodes": {"get": _operation(
            "Every live node of the cluster.", s.NodeList,
            description="One entry per node whose heartbeat (every `REALTIME_NODE_HEARTBEAT` "
                        "seconds) is younger than three intervals, ordered by node id. "
                        "Counts and rates of other nodes are as of their last heartbeat.")},
        "/v1/users/{user}/disconnect": {"post": _operation(
            "Close every session of a user, on every node.", s.Disconnected,
            body=s.DisconnectUser, params=[_USER],
            description="Each session closes with `code` (1008 unless given; 1000 and 4000-4999"
                        " are the others worth sending) and `reason`. `closed` adds up what the"
                        " nodes holding the user's sessions answered, waiting for each of them "
                        "(as the directory lists them, and this node) at most "
                        "`REALTIME_DISCONNECT_WAIT` seconds. A session opened in the last "
                        "heartbeat on another node is closed too, but may not be counted. The "
                        "user may reconnect: to keep them out, stop issuing them tokens (see "
                        "docs/guarantees.md, banning a user).")},
        "/v1/users/{user}/sessions": {"get": _operation(
            "The open sessions of a user, on every node.", s.SessionList, params=[_USER],
            refused=(400,),
            description="Oldest first. Sessions on other nodes appear, and disappear, "
                        "within one heartbeat interval; a crashed node's sessions vanish "
                        "with it.")},
        "/v1/status": {"get": _operation(
            "What the status page shows: the nodes, this node's rates and commit latency "
            "over the last ten minutes, and its newest warnings and errors.", s.Status)},
        "/status": {"get": {
            "summary": "The status page, for a browser (HTTP Basic: the key as password).",
            "responses": {"200": {"description": "The page.",
                                  "content": {"text/html": {"schema": {"type": "string"}}}},
                          **_refused(401)},
        }},
        **{path: {"get": {
            "summary": f"The status page's {kind}.",
            "responses": {"200": {"description": "The file.",
                                  "content": {media: {"schema": {"type": "string"}}}},
                          **_refused(401)},
        }} for path, kind, media in (("/status.js", "script", "text/javascript"),
                                     ("/status.css", "style sheet", "text/css"))},
    }


def _clean(schema: Any) -> Any:
    # Docstrings become descriptions: dedent them and drop reStructuredText markup.
    if isinstance(schema, dict):
        return {k: (inspect.cleandoc(v).replace("``", "`") if k == "description"
                    and isinstance(v, str) else _clean(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_clean(v) for v in schema]
    return schema


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API, as a JSON-ready dict."""
    _, schemas = msgspec.json.schema_components(
        _TYPES, ref_template="#/components/schemas/{name}"
    )
    error = {"content": {_JSON: {"schema": _ref(s.ErrorBody)}}}
    responses = {str(status): {"description": text, **error}
                 for status, text in _REFUSALS.items()}
    return {
        "openapi": "3.1.0",
        "info": {"title": "realtime internal HTTP API", "version": API_VERSION,
                 "description": _DESCRIPTION},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "security": [{"apiKey": []}],
        "paths": _paths(),
        "components": {
            "schemas": {**_clean(schemas), "JsonValue": s.JSON_VALUE_SCHEMA},
            "responses": responses,
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header",
                                           "name": "X-API-Key"}},
        },
    }
