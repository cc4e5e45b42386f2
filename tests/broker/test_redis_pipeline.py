"""PublishPipeline: what is asked at once shares pipelines, and a closed one refuses."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from realtime.broker.redis_pipeline import PIPELINE_MAX, PipelineClosed, PublishPipeline


async def test_every_publication_asked_at_once_reaches_its_subscribers(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    listener = aioredis.Redis.from_url(redis_url).pubsub()
    pipeline = PublishPipeline(client)
    try:
        await listener.subscribe("rt:{u:a}")
        assert (await listener.get_message(timeout=5))["type"] == "subscribe"
        count = PIPELINE_MAX + 200  # more than one pipeline holds
        await asyncio.gather(*(pipeline.publish(["rt:{u:a}"], b"%d" % i) for i in range(count)))
        got = []
        while len(got) < count:
            message = await listener.get_message(timeout=5)
            assert message is not None, f"only {len(got)} of {count} arrived"
            got.append(message["data"])
        assert got == [b"%d" % i for i in range(count)]
    finally:
        await pipeline.close()
        await listener.aclose()
        await client.aclose()


async def test_a_closed_pipeline_refuses_publications(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    pipeline = PublishPipeline(client)
    await pipeline.close()
    try:
        with pytest.raises(PipelineClosed):
            await pipeline.publish(["rt:{u:a}"], b"late")
    finally:
        await client.aclose()
