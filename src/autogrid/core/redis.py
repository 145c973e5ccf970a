"""Redis access: one client per process, key names under the deployment's prefix, and a Lua
script that many tasks run at once, coalesced into pipelined round trips."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError

from autogrid.core.config import Settings


def create_redis(settings: Settings) -> Redis | None:
    """A client for REDIS_URL, or None in the embedded default where no Redis runs."""
    if not settings.redis_url:
        return None
    return Redis.from_url(
        settings.redis_url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30
    )


def key(settings: Settings, *parts: str) -> str:
    return settings.redis_key_prefix + ":".join(parts)


ScriptArg = str | int


# A call the reserved connection did not answer: its caller runs it through redis-py instead.
_BY_CLIENT: Any = object()
# One read off the reserved connection's stream.
_READ_BYTES = 1 << 16


class PipelinedScript:
    """One Lua script run by many tasks at once, for a few Python calls each.

    Through redis-py's client every call of a script costs some 400 Python calls (the pool's get
    and release, the retry wrapper, the health check, packing, ``Script.__call__``, a read with a
    timeout of its own), and the rate limit's script runs on every API request. Here the calls
    queue and go as one pipeline on a connection of the pool reserved for this script: while a
    batch is in flight new calls wait for the next one, and a call that finds none in flight goes
    at once (the next turn of the event loop: no timer, no added wait). Replies are read straight
    off the connection's stream with hiredis, as redis-py's own parser does.

    Whatever the reserved connection does not answer goes through redis-py's ``Script`` as
    before, call by call, in its caller's task: an error reply (NOSCRIPT after a restart or a
    SCRIPT FLUSH, which ``Script`` answers by loading the script; any other, which it raises as
    its own exception class), and every call of a batch whose round trip failed (a dropped
    connection, a timeout: redis-py retries and reconnects, or raises as it always did). So
    callers get redis-py's replies and exceptions. After a failed round trip the calls go through
    redis-py alone until one succeeds there (during an outage, each fails as it did before this
    existed), then a connection is reserved again.

    Requires RESP2 and UTF-8 (redis-py's defaults); a client configured otherwise runs every call
    through redis-py.
    """

    def __init__(self, redis: Redis, source: str) -> None:
        self._redis = redis
        self._script = redis.register_script(source)
        self._usable = _can_reserve(redis)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: AbstractConnection | None = None
        self._parser = hiredis.Reader()
        # (packed command, its caller's future), in the order they were queued.
        self._queue: list[tuple[bytes, asyncio.Future[Any]]] = []
        self._sender: asyncio.Task[None] | None = None
        # Batches sent on the reserved connection, and calls handed to redis-py (tests, benches).
        self.round_trips = 0
        self.by_client = 0

    async def __call__(self, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        """The script's reply, or the ``RedisError`` redis-py raises for this call."""
        if self._usable:
            loop = asyncio.get_running_loop()
            if loop is not self._loop:
                self._start_on(loop)
            future: asyncio.Future[Any] = loop.create_future()
            command = ("EVALSHA", self._script.sha, len(keys), *keys, *args)
            # hiredis' stub types the command as a 1-tuple; it takes any length.
            packed = hiredis.pack_command(command)  # type: ignore[arg-type]
            self._queue.append((packed, future))
            if self._sender is None:
                self._sender = loop.create_task(self._send_queued())
            reply = await future
            if reply is not _BY_CLIENT:
                return reply
        self.by_client += 1
        reply = await self._script(keys=keys, args=args)
        # Redis answers redis-py again (or always did: an error reply): reserve anew if needed.
        self._usable = _can_reserve(self._redis)
        return reply

    def _start_on(self, loop: asyncio.AbstractEventLoop) -> None:
        # A client and its connections belong to one event loop; a new loop starts afresh
        # (the old loop's connection is left to the pool, which closes it with the client).
        self._loop = loop
        self._connection = None
        self._queue = []
        self._sender = None

    async def _send_queued(self) -> None:
        batch: list[tuple[bytes, asyncio.Future[Any]]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                replies = await self._round_trip(batch) if self._usable else None
                for (_, future), reply in zip(batch, replies or (), strict=False):
                    if not future.done():
                        is_error = isinstance(reply, Exception)
                        future.set_result(_BY_CLIENT if is_error else reply)
                if replies is None:
                    _hand_over(batch)
        except BaseException:
            # Cancelled with the loop: the connection may hold half a reply.
            self._connection = None
            _hand_over(batch)
            _hand_over(self._queue)
            raise
        finally:
            self._sender = None

    async def _round_trip(self, batch: list[tuple[bytes, asyncio.Future[Any]]]) -> list[Any] | None:
        """The batch's replies in its order, or None when the round trip failed."""
        try:
            connection = self._connection or await self._reserve()
            reader, writer = connection._reader, connection._writer
            if reader is None or writer is None:  # disconnected by the pool (the client closed)
                raise ConnectionError("the reserved connection was closed")
            writer.write(b"".join([command for command, _ in batch]))
            self.round_trips += 1
            replies: list[Any] = []
            async with asyncio.timeout(connection.socket_timeout):
                while len(replies) < len(batch):
                    data = await reader.read(_READ_BYTES)
                    if not data:
                        raise ConnectionError("the reserved connection was closed by Redis")
                    self._parser.feed(data)
                    while (reply := self._parser.gets()) is not False:
                        replies.append(reply)
            return replies
        except (RedisError, OSError, TimeoutError, hiredis.HiredisError):
            self._usable = False
            await self._drop_connection()
            return None

    async def _reserve(self) -> AbstractConnection:
        pool = self._redis.connection_pool
        connection: AbstractConnection = await pool.get_connection()  # type: ignore[no-untyped-call]
        self._connection = connection
        self._parser = hiredis.Reader()
        return connection

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.disconnect()
        finally:
            # Back to the pool disconnected: it connects afresh when next handed out.
            await self._redis.connection_pool.release(connection)


def _hand_over(calls: list[tuple[bytes, asyncio.Future[Any]]]) -> None:
    for _, future in calls:
        if not future.done():
            future.set_result(_BY_CLIENT)


def _can_reserve(redis: Redis) -> bool:
    options = redis.connection_pool.connection_kwargs
    encoder = redis.connection_pool.get_encoder()  # type: ignore[no-untyped-call]
    return (
        options.get("protocol") in (None, 2, "2")
        and encoder.encoding.replace("-", "").lower() == "utf8"
        and not encoder.decode_responses
    )
