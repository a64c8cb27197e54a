"""Shared Redis / PostgreSQL probes for the scale-out tests (real servers on 127.0.0.1, never faked)."""

from __future__ import annotations

import uuid

import pytest

from tests.channels.conftest import fake_wechat  # noqa: F401  (fixture reused here)

REDIS_URL = "redis://127.0.0.1:6379/14"
PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.exceptions.RedisError:
        return False


def postgres_available() -> bool:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except sa.exc.SQLAlchemyError:
        return False


needs_redis = pytest.mark.skipif(not redis_available(), reason="no Redis server on 127.0.0.1:6379")


@pytest.fixture
def prefix() -> str:
    """Pub/sub channels ignore Redis db numbers: a fresh prefix keeps runs (and other users) apart."""
    return f"govbottest{uuid.uuid4().hex[:12]}"
