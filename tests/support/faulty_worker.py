"""A real Celery worker with faults injected from outside the runtime, for the tests that watch a
worker die mid-placement or two workers take turns on one bot.

    python -m tests.support.faulty_worker [--kill-at POINT] [--trace FILE] [--hold SECONDS] \
        -- <celery arguments>

Nothing here is in the shipped code: the faults wrap it.

- ``--kill-at before_send | after_send``: every connector the runtime builds (its context built
  through ``use_context_builder``) is wrapped so the first ``create_order`` ``os._exit``s the
  process before the request goes out (NEW -> SUBMITTING is committed) or right after the
  exchange accepted it (its answer never processed).
- ``--kill-at before_ack_commit``: a SQLAlchemy ``before_commit`` listener exits the process
  when the transaction about to commit moves an order out of SUBMITTING (the create's answer,
  written and never committed).
- ``--trace FILE``: each time a tick or a reconciliation holds a bot's lease, a ``start`` line
  once it has it and an ``end`` line before it gives it back (worker, bot, time).
- ``--hold SECONDS``: how long each holder sits on the lease before doing anything (widens the
  window in which two workers could overlap).

Run with ``--pool=solo``: the tasks run in this process, where the faults are installed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from autogrid.core.config import Settings
from autogrid.core.redis import create_redis
from autogrid.engine.context import RuntimeContext, ccxt_connectors
from autogrid.engine.wrapup import StepEnd
from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.pool import ConnectorFactory, ConnectorKey
from autogrid.exchanges.types import ApiCredentials, ExchangeOrder, OrderRequest
from autogrid.models import OrderEvent
from autogrid.scheduling.lease import Lease
from autogrid.scheduling.process import use_context_builder
from autogrid.trading.orders import OrderStatus

logger = logging.getLogger(__name__)

# What a SIGKILLed process reports through a shell; the tests check the worker died of this.
KILLED_EXIT_CODE = 137
MODULE = "tests.support.faulty_worker"


class KillPoint(StrEnum):
    # NEW -> SUBMITTING is committed; create_order was not called.
    BEFORE_SEND = "before_send"
    # create_order returned: the exchange has the order; nothing of its answer was stored.
    AFTER_SEND = "after_send"
    # The answer is written in the open transaction, which dies uncommitted.
    BEFORE_ACK_COMMIT = "before_ack_commit"


def die(point: KillPoint) -> None:
    """Exit now, without unwinding anything: no finally block, no rollback, no lease given back."""
    logger.warning("kill point %s reached: exiting", point)
    os._exit(KILLED_EXIT_CODE)


class DyingConnector:
    """A connector whose ``create_order`` takes the process down at ``point``."""

    def __init__(self, inner: ExchangeConnector, point: KillPoint) -> None:
        self.inner = inner
        self.point = point

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def create_order(self, request: OrderRequest) -> ExchangeOrder:
        if self.point is KillPoint.BEFORE_SEND:
            die(self.point)
        placed = await self.inner.create_order(request)
        if self.point is KillPoint.AFTER_SEND:
            die(self.point)
        return placed


def dying_factory(inner: ConnectorFactory, point: KillPoint) -> ConnectorFactory:
    def build(key: ConnectorKey, credentials: ApiCredentials | None) -> ExchangeConnector:
        return DyingConnector(inner(key, credentials), point)

    return build


_ANSWER_FLUSHED = "faulty_worker.answer_flushed"


def _answers(rows: Iterable[object]) -> bool:
    """An order event leaving SUBMITTING: the create's answer (acknowledged, rejected, unknown)."""
    submitting = OrderStatus.SUBMITTING.value
    return any(isinstance(row, OrderEvent) and row.from_status == submitting for row in rows)


def die_before_an_answer_commits() -> None:
    # The order manager adds the event to the session and commits; the flush is usually part of
    # the commit (then the event is still pending at ``before_commit``), but a query may have
    # flushed it before: remembered per transaction.
    def after_flush(session: Session, _: object) -> None:
        if _answers(session.new):
            session.info[_ANSWER_FLUSHED] = True

    def after_rollback(session: Session) -> None:
        session.info.pop(_ANSWER_FLUSHED, None)

    def before_commit(session: Session) -> None:
        if session.info.get(_ANSWER_FLUSHED) or _answers(session.new):
            die(KillPoint.BEFORE_ACK_COMMIT)

    event.listen(Session, "after_flush", after_flush)
    event.listen(Session, "after_rollback", after_rollback)
    event.listen(Session, "before_commit", before_commit)


def die_when_sending(point: KillPoint) -> None:
    def build(settings: Settings) -> RuntimeContext:
        redis = create_redis(settings)
        factory = dying_factory(ccxt_connectors(settings, redis), point)
        return RuntimeContext.create(settings, factory=factory, redis=redis)

    use_context_builder(build)


def trace_leases(trace: Path | None, hold: float) -> None:
    """Wrap ``Lease.acquire``, ``Lease.take_many`` (a batch's leases) and ``Lease.release``
    (which gives the lease back)."""
    acquire: Callable[[Lease], Any] = Lease.acquire
    take_many = Lease.take_many
    release: Callable[[Lease, StepEnd], Any] = Lease.release

    def write(what: str, worker: str, bot_id: object) -> None:
        if trace is None:
            return
        line = f"{what} {worker} {bot_id} {time.time_ns()}\n"
        # O_APPEND writes of one short line are atomic: lines of several processes never mix.
        descriptor = os.open(trace, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, line.encode())
        finally:
            os.close(descriptor)

    # Named ``self`` as the methods they replace name it.
    async def traced_acquire(self: Lease) -> bool:
        held: bool = await acquire(self)
        if held:
            write("start", self.ctx.owner, self.bot_id)
            if hold:
                await asyncio.sleep(hold)
        return held

    async def traced_take_many(
        ctx: RuntimeContext, bot_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, Lease]:
        held = await take_many(ctx, bot_ids)
        for bot_id in held:
            write("start", ctx.owner, bot_id)
        if held and hold:
            await asyncio.sleep(hold)
        return held

    async def traced_release(self: Lease, end: StepEnd) -> None:
        if self.held:
            write("end", self.ctx.owner, self.bot_id)
        await release(self, end)

    Lease.acquire = traced_acquire  # type: ignore[method-assign]
    Lease.take_many = traced_take_many  # type: ignore[method-assign]
    Lease.release = traced_release  # type: ignore[method-assign]


def faulty_worker_argv(
    celery_args: Sequence[str],
    *,
    kill_at: KillPoint | None = None,
    trace: Path | None = None,
    hold: float = 0.0,
) -> list[str]:
    """The command line that runs ``celery <celery_args>`` with these faults."""
    argv = [sys.executable, "-m", MODULE]
    if kill_at is not None:
        argv += ["--kill-at", kill_at.value]
    if trace is not None:
        argv += ["--trace", str(trace)]
    if hold:
        argv += ["--hold", str(hold)]
    return [*argv, "--", *celery_args]


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog=MODULE)
    parser.add_argument("--kill-at", type=KillPoint)
    parser.add_argument("--trace", type=Path)
    parser.add_argument("--hold", type=float, default=0.0)
    parser.add_argument("celery", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    celery_args = args.celery[1:] if args.celery[:1] == ["--"] else args.celery
    if args.kill_at is KillPoint.BEFORE_ACK_COMMIT:
        die_before_an_answer_commits()
    elif args.kill_at is not None:
        die_when_sending(args.kill_at)
    if args.trace is not None or args.hold:
        trace_leases(args.trace, args.hold)

    from celery.__main__ import main as celery_main

    sys.argv = ["celery", *celery_args]
    celery_main()


if __name__ == "__main__":
    main(sys.argv[1:])
