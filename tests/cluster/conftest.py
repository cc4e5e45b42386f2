"""``broker_url``: each cross-node test runs on one Redis server and on a Redis Cluster."""

from __future__ import annotations

import pytest
import redis

from tests.fixtures.redis_cluster import RedisCluster


def flush_cluster(cluster: RedisCluster) -> None:
    """Empty every primary, so that no presence lease of an earlier test is left."""
    for port in cluster.ports:
        client = redis.Redis(host=cluster.host, port=port)
        try:
            client.flushall()
        finally:
            client.close()


@pytest.fixture(params=["redis", "redis-cluster"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """A Redis URL, emptied: one server (classic pub/sub) or a three-primary cluster
    (sharded pub/sub)."""
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    cluster: RedisCluster = request.getfixturevalue("redis_cluster")
    flush_cluster(cluster)
    return cluster.url
