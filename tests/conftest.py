"""Shared fixtures: throwaway servers (PostgreSQL, Redis) and a running node."""

pytest_plugins = ["tests.fixtures.servers", "tests.fixtures.node", "tests.fixtures.redis_cluster",
                  "tests.fixtures.fake_fcm", "tests.fixtures.cluster", "tests.fixtures.jwks"]
