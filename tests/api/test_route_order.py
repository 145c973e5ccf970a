"""The hot reads are matched first, yet every request reaches the route it reached before and
OpenAPI lists the domains in their documented order."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Match

from autogrid.api.router import API_PREFIX, DOCUMENTED_ORDER, MATCHING_ORDER
from autogrid.app import create_app
from autogrid.core.config import Settings


def _sample_path(path_format: str) -> str:
    """A concrete path for a route's template, each parameter a UUID (an ``int`` parameter's
    route then matches nothing, and is left unchecked)."""
    return re.sub(r"\{[^}]+\}", "0b5c4c3e-0000-4000-8000-000000000001", path_format)


def test_every_router_is_matched_once() -> None:
    assert len(MATCHING_ORDER) == len(DOCUMENTED_ORDER)
    assert set(map(id, MATCHING_ORDER)) == set(map(id, DOCUMENTED_ORDER))


@pytest.mark.parametrize("router_number", range(len(DOCUMENTED_ORDER)))
def test_a_route_ahead_of_a_router_never_takes_its_paths(router_number: int) -> None:
    """Each route's own path, tried in matching order, is taken by no route of a router
    that the documented order puts after it (so moving routers ahead changed nothing)."""
    router = DOCUMENTED_ORDER[router_number]
    later = DOCUMENTED_ORDER[router_number + 1 :]
    for route in router.routes:
        path_format = getattr(route, "path_format", None)
        if path_format is None:
            continue
        scope = {"type": "http", "method": "GET", "path": _sample_path(path_format)}
        for other in later:
            for other_route in other.routes:
                if getattr(other_route, "path_format", None) == path_format:
                    continue  # the same path in two routers: methods tell them apart
                match, _ = other_route.matches(scope)
                matched_after = MATCHING_ORDER.index(other) > MATCHING_ORDER.index(router)
                assert match == Match.NONE or matched_after, (path_format, other_route)


def test_openapi_lists_paths_in_the_documented_order() -> None:
    app = create_app(Settings(environment="development", jwt_secret="x" * 40))
    paths = [path for path in app.openapi()["paths"] if path.startswith(API_PREFIX)]
    expected: list[str] = []
    for router in DOCUMENTED_ORDER:
        for route in router.routes:
            path = API_PREFIX + getattr(route, "path_format", "")
            if getattr(route, "include_in_schema", False) and path not in expected:
                expected.append(path)
    assert paths == [path for path in expected if path in paths]
    assert set(paths) <= set(expected)
