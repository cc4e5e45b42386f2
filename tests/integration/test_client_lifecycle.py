"""The Python client's side of the life of a message: its calls, and its cursor moving
with updates as with messages."""

from __future__ import annotations

from protocol.frames import Attachment, HistoryReply, Message, Synced, Update
from realtime.node import Node
from realtime_client import Client, ClientError

PHOTO = Attachment(url="https://cdn.example.com/a.jpg", type="image/jpeg", size=10, width=2,
                   height=1)


async def test_the_client_edits_reacts_replies_and_unsends(node: Node) -> None:
    async with Client(node.ws_url, node.token("alice")) as alice, \
            Client(node.ws_url, node.token("bob")) as bob:
        first = await alice.send("helo", to="bob")
        assert first.thread is not None and isinstance(first.seq, int)
        edited = await alice.edit(first.thread, first.seq, "hello")
        reacted = await bob.react(first.thread, first.seq, "👍")
        again = await bob.react(first.thread, first.seq, "👍")
        reply = await bob.send("hi", thread=first.thread, reply_to=first.seq,
                               attachments=[PHOTO])
        assert (edited.seq, edited.target) == (first.seq + 1, first.seq)
        assert reacted.seq == first.seq + 2 and again.seq is None
        page = await bob.history(first.thread)
        assert isinstance(page, HistoryReply)
        assert [(m.body, m.reactions) for m in page.messages] == [
            ("hello", {"👍": ["bob"]}), ("hi", None)]
        assert page.messages[1].reply_to == first.seq
        assert page.messages[1].attachments == [PHOTO]
        await alice.unsend(first.thread, first.seq)
        try:
            await alice.unsend(first.thread, first.seq)
        except ClientError as exc:
            assert exc.code == "not_found"
        else:
            raise AssertionError("a second unsend must be not_found")
        assert isinstance(reply.seq, int)


async def test_the_client_s_cursor_follows_updates(node: Node) -> None:
    async with Client(node.ws_url, node.token("alice")) as alice, \
            Client(node.ws_url, node.token("bob")) as bob:
        first = await alice.send("one", to="bob")
        assert first.thread is not None and isinstance(first.seq, int)
        await bob.next_event(Message)
        await alice.react(first.thread, first.seq, "🎉")
        update = await bob.next_event(Update)
        assert bob.cursor == update.cursor
        # Nothing after the update: a sync from the client's cursor replays nothing.
        synced = await bob.sync()
        assert isinstance(synced, Synced) and synced.cursor == update.cursor
