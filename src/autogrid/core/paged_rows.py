"""A page of a query's rows and the query's total, in one statement while the page has rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

T = TypeVar("T")


async def page_and_total(
    session: AsyncSession,
    query: Select[T],
    order_by: Sequence[ColumnElement[Any] | QueryableAttribute[Any]],
    *,
    limit: int,
    offset: int,
) -> tuple[list[T], int]:
    """``query``'s rows in ``order_by`` from ``offset`` (at most ``limit``) and how many it has.

    The total is a window count over every row the query matches (windows are computed before
    LIMIT and OFFSET), so a list read is one round trip instead of a count and then the page. A
    page past the end has no row to carry it: only then is the total counted on its own.
    """
    total = func.count().over().label("page_total")
    rows = (
        await session.execute(
            query.add_columns(total).order_by(*order_by).limit(limit).offset(offset)
        )
    ).all()
    if rows:
        return [row[0] for row in rows], int(rows[0][1])
    if offset == 0:
        return [], 0
    counted = await session.scalar(select(func.count()).select_from(query.subquery()))
    return [], counted or 0
