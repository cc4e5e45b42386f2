"""The Python client of the realtime server, installable without the server.

It needs only websockets and msgspec (and the ``protocol`` package it shares with the
server). See docs/python-client.md.
"""

from realtime_client.client import AuthenticationError, Client, ClientClosed, ClientError

__all__ = ["AuthenticationError", "Client", "ClientClosed", "ClientError"]
