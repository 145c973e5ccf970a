"""The app's Redis client reads and writes the protocol with hiredis (a locked dependency): every
API request's rate limit is a Redis round trip, and redis-py's pure-Python parser and command
packer cost it ~75 Python calls more."""

from __future__ import annotations

import pytest
from redis._parsers import _AsyncHiredisParser
from redis.utils import HIREDIS_AVAILABLE

from autogrid.core.config import Settings
from autogrid.core.redis import create_redis
from tests.infra import IN_CI


async def test_the_client_parses_with_hiredis(settings: Settings) -> None:
    if not HIREDIS_AVAILABLE:
        message = "hiredis is not installed in this environment (make install installs it)"
        if IN_CI:
            pytest.fail(f"CI requires it: {message}", pytrace=False)
        pytest.skip(message)
    redis = create_redis(settings)
    assert redis is not None
    try:
        assert await redis.ping()
        # redis-py leaves get_connection unannotated (its deprecated_args decorator)
        connection = await redis.connection_pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            assert isinstance(connection._parser, _AsyncHiredisParser)
        finally:
            await redis.connection_pool.release(connection)
    finally:
        await redis.aclose()
