"""The one rule set of a message's content (body, meta, attachments), at its boundaries:
the WebSocket's validation and the HTTP API both answer with it."""

from __future__ import annotations

import msgspec
import pytest

from protocol.errors import ErrorCode
from protocol.frames import INT64_MAX, Attachment
from protocol.limits import Limits
from protocol.validation import MAX_ATTACHMENTS, content_problem

LIMITS = Limits(max_body=10, max_meta=200)


def photo() -> Attachment:
    return Attachment(url="https://cdn.example/p.jpg", type="image/jpeg", size=1)


def test_a_body_exactly_at_the_limit_is_accepted_and_one_byte_more_is_too_large() -> None:
    assert content_problem("x" * 10, None, None, LIMITS) is None
    problem = content_problem("x" * 11, None, None, LIMITS)
    assert problem is not None and problem[0] is ErrorCode.TOO_LARGE


def test_the_body_limit_counts_utf8_bytes() -> None:
    assert content_problem("é" * 5, None, None, LIMITS) is None
    assert content_problem("é" * 5 + "x", None, None, LIMITS) == (
        ErrorCode.TOO_LARGE, "body is 11 bytes, more than the limit of 10")


def test_a_nul_in_body_or_meta_is_a_bad_request() -> None:
    assert content_problem("a\x00", None, None, LIMITS) == (
        ErrorCode.BAD_REQUEST, "body must not contain the character U+0000")
    assert content_problem("a", {"k\x00": 1}, None, LIMITS) == (
        ErrorCode.BAD_REQUEST, "meta must not contain the character U+0000")


def test_a_lone_surrogate_is_not_valid_unicode() -> None:
    assert content_problem("\ud800", None, None, LIMITS) == (
        ErrorCode.BAD_REQUEST, "body is not valid Unicode")


@pytest.mark.parametrize("value", [INT64_MAX, -INT64_MAX - 1])
def test_meta_integers_at_the_int64_limits_are_accepted(value: int) -> None:
    assert content_problem("a", {"n": value}, None, LIMITS) is None


@pytest.mark.parametrize("value", [INT64_MAX + 1, -INT64_MAX - 2, float("nan"), b"x"])
def test_meta_that_not_every_codec_can_carry_is_a_bad_request(value: object) -> None:
    assert content_problem("a", {"n": value}, None, LIMITS) == (
        ErrorCode.BAD_REQUEST, "meta must hold only JSON values")


def test_meta_exactly_at_the_limit_is_accepted_and_one_byte_more_is_too_large() -> None:
    meta = {"k": "x" * (200 - len(msgspec.json.encode({"k": ""})))}
    assert len(msgspec.json.encode(meta)) == 200
    assert content_problem("a", meta, None, LIMITS) is None
    meta["k"] += "x"
    problem = content_problem("a", meta, None, LIMITS)
    assert problem is not None and problem[0] is ErrorCode.TOO_LARGE


def test_the_most_attachments_are_accepted_and_one_more_is_a_bad_request() -> None:
    roomy = Limits(max_meta=100_000)
    assert content_problem("a", None, [photo()] * MAX_ATTACHMENTS, roomy) is None
    assert content_problem("a", None, [photo()] * (MAX_ATTACHMENTS + 1), roomy) == (
        ErrorCode.BAD_REQUEST, f"at most {MAX_ATTACHMENTS} attachments")


def test_attachments_and_meta_share_the_meta_limit() -> None:
    size = len(msgspec.json.encode([photo()]))
    meta = {"k": "x" * (200 - size - len(msgspec.json.encode({"k": ""})))}
    assert content_problem("a", meta, [photo()], LIMITS) is None
    meta["k"] += "x"
    problem = content_problem("a", meta, [photo()], LIMITS)
    assert problem is not None and problem[0] is ErrorCode.TOO_LARGE


def test_an_attachment_that_breaks_its_rules_is_a_bad_request() -> None:
    bad = Attachment(url="http://cdn.example/p.jpg", type="image/jpeg", size=1)
    problem = content_problem("a", None, [bad], LIMITS)
    assert problem is not None and problem[0] is ErrorCode.BAD_REQUEST
