"""Delivery: what each device is sent from its user's threads, exactly once and in order.

:mod:`realtime.delivery.machine` decides (sans-I/O: no asyncio, no clock, no store);
:class:`realtime.feed.Feed` feeds it and carries out what it decides.
"""
