"""One pagination shape for every list endpoint: ``?limit=&offset=`` in, ``Page[T]`` out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

MAX_PAGE_SIZE = 200


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    offset: int


async def page_params(  # async: no thread-pool hop for a plain value
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="items per page")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="items to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
