"""The real FcmSender (pyfcm in threads) against the local fake FCM server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from push.fcm import FcmSender, parse_retry_after, projects_base
from push.messages import for_chat_message
from push.sender import (
    AuthFailed,
    Delivered,
    Rejected,
    Throttled,
    Unavailable,
    Unregistered,
)
from tests.fixtures.fake_fcm import (
    INTERNAL,
    INVALID,
    PROJECT,
    SENDER_MISMATCH,
    UNAUTHENTICATED,
    UNAVAILABLE,
    UNREGISTERED,
    FcmSetup,
    throttled,
)
from tests.fixtures.servers import free_port

MESSAGE = for_chat_message("t1", "alice", "hello", 1).to("device-1")


@pytest.fixture
async def sender(fake_fcm: FcmSetup) -> AsyncIterator[FcmSender]:
    sender = FcmSender(fake_fcm.credentials_path, endpoint=fake_fcm.endpoint, timeout=5)
    yield sender
    await sender.close()


async def test_a_push_reaches_fcm_with_its_content(sender: FcmSender, fake_fcm: FcmSetup) -> None:
    result = await sender.send(MESSAGE)
    assert isinstance(result, Delivered)
    assert result.name.startswith(f"projects/{PROJECT}/messages/")
    [send] = fake_fcm.fake.sends
    assert send.project == PROJECT
    assert send.message["token"] == "device-1"
    assert send.message["notification"] == {"title": "alice", "body": "hello"}
    assert send.message["data"] == {
        "kind": "message",
        "thread": "t1",
        "unread": "1",
        "sender": "alice",
    }
    assert send.message["android"]["collapse_key"] == "t:t1"
    assert send.message["android"]["priority"] == "HIGH"
    assert send.message["apns"]["headers"]["apns-collapse-id"] == "t:t1"


async def test_the_oauth_token_comes_from_the_service_accounts_token_uri(
    sender: FcmSender, fake_fcm: FcmSetup
) -> None:
    await sender.send(MESSAGE)
    await sender.send(MESSAGE)
    assert fake_fcm.fake.token_requests == 1
    assert all(s.authorization == "Bearer fake-access-token-0" for s in fake_fcm.fake.sends)


async def test_an_expired_access_token_is_refreshed_and_the_send_goes_through(
    sender: FcmSender, fake_fcm: FcmSetup
) -> None:
    await sender.send(MESSAGE)
    fake_fcm.fake.rotate_access_token()
    assert isinstance(await sender.send(MESSAGE), Delivered)
    assert fake_fcm.fake.token_requests == 2
    assert fake_fcm.fake.delivered_to("device-1") == 2


async def test_a_rejected_access_token_is_an_authentication_failure(
    sender: FcmSender, fake_fcm: FcmSetup
) -> None:
    fake_fcm.fake.script("device-1", UNAUTHENTICATED)
    result = await sender.send(MESSAGE)
    assert isinstance(result, AuthFailed)
    assert result.status == 401


async def test_unregistered_token_is_reported_as_unregistered(
    sender: FcmSender, fake_fcm: FcmSetup
) -> None:
    fake_fcm.fake.script("device-1", UNREGISTERED)
    assert isinstance(await sender.send(MESSAGE), Unregistered)


async def test_invalid_message_is_rejected(sender: FcmSender, fake_fcm: FcmSetup) -> None:
    fake_fcm.fake.script("device-1", INVALID)
    assert isinstance(await sender.send(MESSAGE), Rejected)


async def test_sender_id_mismatch_is_an_authentication_failure(
    sender: FcmSender, fake_fcm: FcmSetup
) -> None:
    fake_fcm.fake.script("device-1", SENDER_MISMATCH)
    result = await sender.send(MESSAGE)
    assert isinstance(result, AuthFailed)
    assert result.status == 403


async def test_429_is_throttled_with_retry_after_and_pyfcm_does_not_sleep_on_it(
    sender: FcmSender, fake_fcm: FcmSetup
) -> None:
    # Retry-After of an hour: pyfcm alone would sleep that long, then resend.
    fake_fcm.fake.script("device-1", throttled(3600))
    result = await sender.send(MESSAGE)
    assert result == Throttled(3600.0, result.reason)
    assert len(fake_fcm.fake.sends) == 1


async def test_503_with_retry_after_is_unavailable_without_a_resend(
    sender: FcmSender, fake_fcm: FcmSetup
) -> None:
    fake_fcm.fake.script("device-1", UNAVAILABLE)
    result = await sender.send(MESSAGE)
    assert isinstance(result, Unavailable)
    assert result.status == 503
    assert len(fake_fcm.fake.sends) == 1


async def test_500_is_unavailable(sender: FcmSender, fake_fcm: FcmSetup) -> None:
    fake_fcm.fake.script("device-1", INTERNAL)
    result = await sender.send(MESSAGE)
    assert isinstance(result, Unavailable)
    assert result.status == 500


async def test_a_refused_connection_is_unavailable(fake_fcm: FcmSetup) -> None:
    sender = FcmSender(
        fake_fcm.credentials_path, endpoint=f"http://127.0.0.1:{free_port()}", timeout=2
    )
    try:
        result = await sender.send(MESSAGE)
    finally:
        await sender.close()
    assert isinstance(result, Unavailable)
    assert result.status is None


async def test_a_missing_credentials_file_is_an_authentication_failure(
    fake_fcm: FcmSetup,
) -> None:
    sender = FcmSender(fake_fcm.credentials_path.with_name("nope.json"), endpoint=fake_fcm.endpoint)
    try:
        result = await sender.send(MESSAGE)
    finally:
        await sender.close()
    assert isinstance(result, AuthFailed)
    assert fake_fcm.fake.sends == []


async def test_a_closed_sender_sends_nothing(sender: FcmSender, fake_fcm: FcmSetup) -> None:
    await sender.close()
    await sender.close()
    assert isinstance(await sender.send(MESSAGE), Unavailable)
    assert fake_fcm.fake.sends == []


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    assert parse_retry_after("120", now=0.0) == 120.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:00 GMT", now=30.0) == 30.0
    assert parse_retry_after("soon", now=0.0) is None
    assert parse_retry_after(None, now=0.0) is None


def test_the_endpoint_setting_is_the_api_base_url() -> None:
    assert projects_base("http://127.0.0.1:9000/") == "http://127.0.0.1:9000/v1/projects"
    assert projects_base("https://x/v1/projects") == "https://x/v1/projects"
