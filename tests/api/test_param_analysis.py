"""FastAPI's parameter analysis, remembered per declared parameter: installed by the app, the
same answers as FastAPI's own helpers, and the same responses (validation errors too)."""

from __future__ import annotations

import enum
from typing import Annotated, Any

import fastapi.dependencies.utils as fastapi_dependencies
import httpx
import pytest
from fastapi import Depends, FastAPI, Header, Query
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from autogrid.api import param_analysis
from autogrid.app import create_app
from autogrid.core.config import Settings

HELPERS = (*param_analysis.MEMOISED, param_analysis.MEMOISED_ANNOTATION)


def test_the_app_installs_it_on_the_fastapi_it_runs() -> None:
    """Fails when a FastAPI upgrade renames, moves or stops calling a remembered helper: then
    nothing is replaced (each request pays the analysis again) until this module follows."""
    create_app(Settings(environment="development", jwt_secret="x" * 40))
    assert param_analysis.missing_internals() == []
    assert param_analysis.installed()


def test_every_route_parameter_gets_fastapis_own_answers() -> None:
    app = create_app(Settings(environment="development", jwt_secret="x" * 40))
    checked = 0
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        for field in _declared(route.dependant):
            for name in param_analysis.MEMOISED:
                memoised = getattr(fastapi_dependencies, name)
                for _ in range(2):  # computed, then remembered
                    assert memoised(field) == memoised.__wrapped__(field), (route.path, name)
            sequence = getattr(fastapi_dependencies, param_analysis.MEMOISED_ANNOTATION)
            annotation = field.field_info.annotation
            assert sequence(annotation) == sequence.__wrapped__(annotation)
            checked += 1
    assert checked > 100


def _declared(dependant: Dependant) -> list[Any]:
    fields = [
        *dependant.path_params,
        *dependant.query_params,
        *dependant.header_params,
        *dependant.cookie_params,
    ]
    for dependency in dependant.dependencies:
        fields.extend(_declared(dependency))
    return fields


class _Declared:
    def __init__(self, value: int) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Declared)

    __hash__ = None  # type: ignore[assignment]  # as FastAPI's ModelField


def test_an_answer_belongs_to_the_object_not_to_an_equal_one() -> None:
    asked: list[int] = []

    def helper(declared: _Declared, *, twice: bool = False) -> int:
        asked.append(declared.value)
        return declared.value * (2 if twice else 1)

    memoised = param_analysis._memoised(helper)
    first, second = _Declared(1), _Declared(2)
    assert [memoised(first), memoised(first), memoised(second)] == [1, 1, 2]
    assert [memoised(first, twice=True), memoised(first, twice=True)] == [2, 2]
    assert asked == [1, 2, 1]


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(param_analysis, "MAX_REMEMBERED", 3)
    asked: list[int] = []

    def helper(declared: _Declared) -> int:
        asked.append(declared.value)
        return declared.value

    memoised = param_analysis._memoised(helper)
    kept = [_Declared(number) for number in range(4)]
    for declared in kept:
        memoised(declared)
    memoised(kept[0])  # forgotten when the fourth came: asked again
    memoised(kept[3])  # remembered since
    assert asked == [0, 1, 2, 3, 0]


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class Filters(BaseModel):
    colour: Colour = Colour.RED
    size: int = Field(default=1, ge=1)


async def _paging(
    limit: Annotated[int, Query(ge=1, le=10)] = 5, offset: Annotated[int, Query(ge=0)] = 0
) -> tuple[int, int]:
    return limit, offset


def _probe_app() -> FastAPI:
    """Parameters of every kind FastAPI analyses: aliased repeated enums, bounded numbers in a
    dependency, a header with an underscore, a model of query parameters, a path parameter."""
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def items(
        item_id: int,
        paging: Annotated[tuple[int, int], Depends(_paging)],
        colours: Annotated[list[Colour] | None, Query(alias="colour", max_length=2)] = None,
        x_trace: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        return {"id": item_id, "paging": paging, "colours": colours, "trace": x_trace}

    @app.get("/filtered")
    async def filtered(filters: Annotated[Filters, Query()]) -> Filters:
        return filters

    return app


PROBES = [
    "/items/1",
    "/items/1?colour=red&colour=blue&limit=10&offset=3",
    "/items/x",
    "/items/1?colour=green",
    "/items/1?colour=red&colour=red&colour=blue",
    "/items/1?limit=0&offset=-1",
    "/filtered",
    "/filtered?colour=blue&size=3",
    "/filtered?colour=green&size=0",
]


async def _answers(app: FastAPI) -> list[tuple[int, bytes]]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        answers = []
        for path in PROBES:
            for _ in range(2):  # the second time from memory
                response = await client.get(path, headers={"X-Trace": "t-1"})
                answers.append((response.status_code, response.content))
        return answers


async def test_answers_are_fastapis_own(monkeypatch: pytest.MonkeyPatch) -> None:
    assert param_analysis.install()
    remembered = await _answers(_probe_app())
    for name in HELPERS:  # FastAPI's helpers as they were
        monkeypatch.setattr(
            fastapi_dependencies, name, getattr(fastapi_dependencies, name).__wrapped__
        )
    assert not param_analysis.installed()
    assert remembered == await _answers(_probe_app())
    assert {status for status, _ in remembered} == {200, 422}
