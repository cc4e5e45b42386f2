"""What a Redis URL names, decided in one place for presence, the broker and the directory."""

from __future__ import annotations

from presence.redis_connection import plain_url, url_address


def test_a_cluster_scheme_names_a_cluster_and_becomes_the_plain_scheme() -> None:
    assert plain_url("redis+cluster://h:7000/0") == ("redis://h:7000/0", True)
    assert plain_url("rediss+cluster://h:7000") == ("rediss://h:7000", True)


def test_a_plain_scheme_is_left_as_it_is() -> None:
    assert plain_url("redis://h:6379/0") == ("redis://h:6379/0", False)
    assert plain_url("unix:///run/redis.sock") == ("unix:///run/redis.sock", False)


def test_the_address_of_a_url_leaves_out_credentials_and_database() -> None:
    assert url_address("redis://user:secret@h:6379/0?x=1") == "h:6379"
    assert url_address("redis://") == "localhost"
