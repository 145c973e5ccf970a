"""A page of a query's rows and the query's total, in one statement while the page has rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Integer, Select, bindparam, func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from autogrid.core.db import Connectable, select_rows

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PagedQuery(Generic[T]):
    """A query's page statement and its count, built once: building a statement cost a list
    read more than running its cached compiled form. Values are bound at each run."""

    page: Select[Any]
    count: Select[Any]


def paged_query(
    query: Select[T], order_by: Sequence[ColumnElement[Any] | QueryableAttribute[Any]]
) -> PagedQuery[T]:
    """``query``'s rows in ``order_by``, with the page's limit and offset bound at each run.

    The total is a window count over every row the query matches (windows are computed before
    LIMIT and OFFSET), so a list read is one round trip instead of a count and then the page.
    """
    total = func.count().over().label("page_total")
    page = (
        query.add_columns(total)
        .order_by(*order_by)
        .limit(bindparam("page_limit", type_=Integer))
        .offset(bindparam("page_offset", type_=Integer))
    )
    return PagedQuery(page, select(func.count()).select_from(query.subquery()))


async def run_paged(
    session: AsyncSession,
    query: PagedQuery[T],
    values: Mapping[str, Any],
    *,
    limit: int,
    offset: int,
) -> tuple[list[T], int]:
    """The page from ``offset`` (at most ``limit`` rows) and how many rows the query has. A page
    past the end has no row to carry the total: only then is it counted on its own."""
    bound = {**values, "page_limit": limit, "page_offset": offset}
    rows = (await session.execute(query.page, bound)).all()
    if rows:
        return [row[0] for row in rows], int(rows[0][1])
    if offset == 0:
        return [], 0
    counted = await session.scalar(query.count, dict(values))
    return [], counted or 0


async def run_paged_rows(
    reads: Connectable,
    query: PagedQuery[Any],
    values: Mapping[str, Any],
    *,
    limit: int,
    offset: int,
) -> tuple[list[Row[Any]], int]:
    """As ``run_paged``, on Core rows: the page's whole rows (their ``page_total`` column
    too), no ORM objects built; on the driver itself where it can be (``select_rows``)."""
    bound = {**values, "page_limit": limit, "page_offset": offset}
    rows = await select_rows(reads, query.page, bound)
    if rows:
        return rows, int(rows[0].page_total)
    if offset == 0:
        return [], 0
    counted = await reads.scalar(query.count, dict(values))
    return [], counted or 0


async def page_and_total(
    session: AsyncSession,
    query: Select[T],
    order_by: Sequence[ColumnElement[Any] | QueryableAttribute[Any]],
    *,
    limit: int,
    offset: int,
) -> tuple[list[T], int]:
    """``query``'s rows in ``order_by`` from ``offset`` (at most ``limit``) and how many it has."""
    return await run_paged(session, paged_query(query, order_by), {}, limit=limit, offset=offset)
