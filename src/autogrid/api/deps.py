"""Annotated dependency aliases shared by every router.

``SessionDep`` is the request's unit of work: it commits after the route returns and before the
response is sent (``scope="function"``), and rolls back if anything raised.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.config import Settings
from autogrid.core.db import Database, ReadConnection

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


async def get_read_connection(request: Request) -> ReadConnection:
    """A read route's own database access (``Database.reads``): no BEGIN and COMMIT round
    trips, no ORM session, and a pooled connection held only while each statement runs, so
    concurrent reads keep fewer connections busy and nothing is left to close after the route
    (no generator dependency: its exit stack and cancel scope cost a read more than taking the
    connection did). A write is refused."""
    return get_database(request).reads


# Only for routes that never write: a write through it is refused (``WriteOnReadConnection``).
ReadConnectionDep = Annotated[ReadConnection, Depends(get_read_connection)]
