"""Annotated dependency aliases shared by every router.

``SessionDep`` is the request's unit of work: it commits after the route returns and before the
response is sent (``scope="function"``), and rolls back if anything raised.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from autogrid.core.config import Settings
from autogrid.core.db import Database

# The dependencies are ``async def`` though they do no I/O: FastAPI runs a plain ``def``
# dependency in its thread pool, a thread hop per request (and per dependency) for a lookup.


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


async def get_database_dep(request: Request) -> Database:
    return get_database(request)


async def get_redis(request: Request) -> Redis | None:
    redis: Redis | None = request.app.state.redis
    return redis


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_database(request).session_scope() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_database_dep)]
RedisDep = Annotated[Redis | None, Depends(get_redis)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

# Marks a read session: a write through it would commit at once, statement by statement, so
# the listeners below refuse it (a route that writes must take SessionDep).
_READS_ONLY = "autogrid.reads_only"


class WriteOnReadSession(RuntimeError):
    """A route that took ReadSessionDep tried to write."""


@event.listens_for(Session, "do_orm_execute")
def _refuse_statement_writes(state: ORMExecuteState) -> None:
    if state.session.info.get(_READS_ONLY) and not state.is_select:
        raise WriteOnReadSession("a write through a read-only session: take SessionDep")


@event.listens_for(Session, "before_flush")
def _refuse_flushed_writes(session: Session, _context: UOWTransaction, _instances: object) -> None:
    if session.info.get(_READS_ONLY) and (session.new or session.dirty or session.deleted):
        raise WriteOnReadSession("a write through a read-only session: take SessionDep")


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session of its own for a route that only reads (``Database.statement_scope``): no BEGIN
    and COMMIT round trips, and a pooled connection held only from its first statement until
    the route returns, so concurrent reads keep fewer connections busy."""
    async with get_database(request).statement_scope() as session:
        session.info[_READS_ONLY] = True
        yield session


# Only for routes that never write: a write through it is refused (``WriteOnReadSession``).
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
