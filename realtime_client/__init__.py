"""The Python client of the realtime server, installable without the server.

It needs only websockets and msgspec (and the pure ``protocol`` package it shares with
the server). Events are the protocol's typed frames, re-exported here: match on their
classes. See docs/python-client.md.
"""

from protocol.frames import (
    Ack,
    Attachment,
    Error,
    HistoryReply,
    Likes,
    Message,
    Notification,
    Pong,
    Presence,
    Receipt,
    ServerFrame,
    Synced,
    ThreadEntry,
    ThreadsReply,
    TypingEvent,
    Update,
    Welcome,
)
from realtime_client.client import AuthenticationError, Client, ClientClosed, ClientError

__all__ = [
    "Ack",
    "Attachment",
    "AuthenticationError",
    "Client",
    "ClientClosed",
    "ClientError",
    "Error",
    "HistoryReply",
    "Likes",
    "Message",
    "Notification",
    "Pong",
    "Presence",
    "Receipt",
    "ServerFrame",
    "Synced",
    "ThreadEntry",
    "ThreadsReply",
    "TypingEvent",
    "Update",
    "Welcome",
]
