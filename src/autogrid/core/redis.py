"""Redis access: one client per process, key names under the deployment's prefix, and a Lua
script that many tasks run at once, coalesced into pipelined round trips."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any

import hiredis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError

from autogrid.core.config import Settings

# Connections a process's client opens at most (redis-py's own default), and how long a call
# waits for one when all are busy.
MAX_CONNECTIONS = 100
CONNECTION_WAIT_SECONDS = 5


def create_redis(settings: Settings) -> Redis | None:
    """A client for REDIS_URL, or None in the embedded default where no Redis runs.

    Its pool makes a call wait for a free connection when all are busy: redis-py's default pool
    raises at once instead, and its error is a ``ConnectionError``, which the rate limits and
    the other fail-open users read as Redis being down (a burst of 101 concurrent requests
    turned the API's limits off for five seconds)."""
    if not settings.redis_url:
        return None
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=MAX_CONNECTIONS,
        timeout=CONNECTION_WAIT_SECONDS,
        socket_timeout=5,
        socket_connect_timeout=5,
        health_check_interval=30,
    )
    return Redis.from_pool(pool)  # closed with the client


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
    timeout of its own), and the rate limit's script runs on every API request. Here the calls go
    on a connection of the pool reserved for this script, packed and read by hiredis (as
    redis-py's own parser does) straight off its stream. A call that finds nothing in flight is
    sent at once, by its own task; calls made while a round trip is in flight queue and go
    together as the next one, a pipeline, sent by a task of their own.

    Calls answered NOSCRIPT (after a restart or a SCRIPT FLUSH) go again on the reserved
    connection behind a SCRIPT LOAD. Whatever else the reserved connection does not answer goes
    through redis-py's ``Script`` as before, call by call, in its caller's task: an error reply
    (which redis-py raises as its own exception class), and every call of a round trip that
    failed (a dropped connection, a timeout: redis-py retries and reconnects, or raises as it
    always did). So callers get redis-py's replies and exceptions. After a failed round trip
    the calls go through redis-py alone until one succeeds there (during an outage each fails
    as it did before this existed), then a connection is reserved again.

    Requires RESP2, UTF-8 and undecoded replies (redis-py's defaults); a client configured
    otherwise runs every call through redis-py.
    """

    def __init__(self, redis: Redis, source: str) -> None:
        self._redis = redis
        self._script = redis.register_script(source)
        # Sent before the calls Redis answered NOSCRIPT (a restart, a SCRIPT FLUSH), which then
        # go again on the reserved connection: a burst must not all go through the pool at once.
        self._load = hiredis.pack_command(("SCRIPT", "LOAD", source))  # type: ignore[arg-type]
        self._supported = _can_reserve(redis)
        self._usable = self._supported
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: AbstractConnection | None = None
        self._parser = hiredis.Reader()
        self._in_flight = False
        # Calls made while a round trip is in flight: (packed command, its caller's future).
        self._queue: list[tuple[bytes, asyncio.Future[Any]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        # Round trips on the reserved connection, and calls handed to redis-py (tests, benches).
        self.round_trips = 0
        self.by_client = 0

    async def __call__(self, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        """The script's reply, or the ``RedisError`` redis-py raises for this call."""
        if self._usable:
            loop = asyncio.get_running_loop()
            if loop is not self._loop:
                self._start_on(loop)
            command = ("EVALSHA", self._script.sha, len(keys), *keys, *args)
            # hiredis' stub types the command as a 1-tuple; it takes any length.
            packed = hiredis.pack_command(command)  # type: ignore[arg-type]
            if self._in_flight:
                future: asyncio.Future[Any] = loop.create_future()
                self._queue.append((packed, future))
                reply = await future
            else:
                reply = await self._send_at_once(packed)
            if reply is not _BY_CLIENT:
                return reply
        self.by_client += 1
        reply = await self._script(keys=keys, args=args)
        # Redis answers redis-py again (or always did: an error reply): reserve anew if needed.
        self._usable = self._supported
        return reply

    def _start_on(self, loop: asyncio.AbstractEventLoop) -> None:
        # A client and its connections belong to one event loop; a new loop starts afresh
        # (the old loop's connection is left to the pool, which closes it with the client).
        self._loop = loop
        self._connection = None
        self._in_flight = False
        self._queue = []
        self._tasks = set()

    async def _send_at_once(self, packed: bytes) -> Any:
        self._in_flight = True
        try:
            replies = await self._run([packed])
        finally:
            if self._queue:
                self._spawn(self._send_queued())
            else:
                self._in_flight = False
        return _BY_CLIENT if replies is None else _reply_or_by_client(replies[0])

    async def _send_queued(self) -> None:
        batch: list[tuple[bytes, asyncio.Future[Any]]] = []
        try:
            while self._queue:
                # A call cancelled before it was sent is not sent (nor counted).
                batch = [call for call in self._queue if not call[1].done()]
                self._queue = []
                replies = None
                if self._usable:
                    replies = await self._run([packed for packed, _ in batch])
                for index, (_, future) in enumerate(batch):
                    if not future.done():
                        reply = _BY_CLIENT if replies is None else replies[index]
                        future.set_result(_reply_or_by_client(reply))
        finally:
            self._in_flight = False
            _hand_over(batch)  # when cancelled with the loop
            _hand_over(self._queue)
            self._queue = []

    async def _run(self, commands: list[bytes]) -> list[Any] | None:
        """``_round_trip``, and the calls answered NOSCRIPT once more after loading the script
        (a call answered NOSCRIPT did not run: it is not counted twice)."""
        replies = await self._round_trip(commands)
        if replies is None:
            return None
        missing = [index for index, reply in enumerate(replies) if _is_noscript(reply)]
        if missing:
            again = await self._round_trip([self._load, *(commands[i] for i in missing)])
            if again is not None:  # else those stay errors, for redis-py to run
                for index, reply in zip(missing, again[1:], strict=True):
                    replies[index] = reply
        return replies

    async def _round_trip(self, commands: list[bytes]) -> list[Any] | None:
        """The commands' replies in their order, or None when the round trip failed."""
        try:
            connection = self._connection or await self._reserve()
            reader, writer = _streams(connection)
            if reader is None or writer is None:  # disconnected by the pool (the client closed)
                raise ConnectionError("the reserved connection was closed")
            writer.write(b"".join(commands))
            self.round_trips += 1
            replies: list[Any] = []
            async with asyncio.timeout(connection.socket_timeout):
                while len(replies) < len(commands):
                    data = await reader.read(_READ_BYTES)
                    if not data:
                        raise ConnectionError("the reserved connection was closed by Redis")
                    self._parser.feed(data)
                    while (reply := self._parser.gets()) is not False:
                        replies.append(reply)
            return replies
        except (RedisError, OSError, TimeoutError, hiredis.HiredisError):
            self._usable = False
            self._drop_connection()
            return None
        except BaseException:
            # Cancelled: the connection may hold half a reply.
            self._drop_connection()
            raise

    async def _reserve(self) -> AbstractConnection:
        pool = self._redis.connection_pool
        connection: AbstractConnection = await pool.get_connection()  # type: ignore[no-untyped-call]
        reader, writer = _streams(connection)
        if not isinstance(reader, asyncio.StreamReader) or not isinstance(
            writer, asyncio.StreamWriter
        ):
            # A redis-py whose connections keep their streams elsewhere: its client does all.
            self._supported = False
            await pool.release(connection)
            raise ConnectionError("redis-py's connection shows no stream to read")
        self._connection = connection
        self._parser = hiredis.Reader()
        return connection

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._spawn(self._release_dropped(connection))

    async def _release_dropped(self, connection: AbstractConnection) -> None:
        try:
            await connection.disconnect()
        except (RedisError, OSError):
            pass  # it is being dropped for failing already
        finally:
            # Back to the pool disconnected: it connects afresh when next handed out.
            await self._redis.connection_pool.release(connection)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _streams(connection: AbstractConnection) -> tuple[Any, Any]:
    # Not redis-py's public API (tests/core/test_pipelined_script.py checks they still exist).
    return getattr(connection, "_reader", None), getattr(connection, "_writer", None)


def _is_noscript(reply: Any) -> bool:
    return isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT")


def _reply_or_by_client(reply: Any) -> Any:
    # An error reply is raised by redis-py, as its own exception class, when it runs the call.
    return _BY_CLIENT if isinstance(reply, Exception) else reply


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
