"""The API's routes are mounted flat, and say exactly what ``include_router`` would have said."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import Match, Mount, Route

from autogrid.api.router import API_PREFIX, MATCHING_ORDER, mount_api
from autogrid.app import create_app
from autogrid.auth.dependencies import signed_in_user
from autogrid.core.config import Settings
from autogrid.core.errors import ERROR_RESPONSES
from autogrid.core.routes import mount_routes


def test_the_mounted_api_documents_what_included_routers_document() -> None:
    included = FastAPI()
    api = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)
    for router in MATCHING_ORDER:
        api.include_router(router)
    included.include_router(api)
    mounted = FastAPI()
    mount_api(mounted.router)

    # Every operation, parameter, response (the shared error responses too), tag, security
    # requirement and operation id: one lost or changed attribute fails this.
    assert mounted.openapi() == included.openapi()


def test_every_route_of_the_app_is_matched_directly() -> None:
    app = create_app(Settings(environment="development", jwt_secret="x" * 40))

    # No lazily included router is left for FastAPI to walk at each request.
    kinds = {type(route) for route in app.router.routes}
    assert kinds <= {APIRoute, APIWebSocketRoute, Route, Mount}, kinds
    paths = {getattr(route, "path", "") for route in app.router.routes}
    assert {f"{API_PREFIX}/bots", f"{API_PREFIX}/auth/me", "/health", "/metrics"} <= paths


def test_a_route_it_cannot_mount_is_refused_rather_than_dropped() -> None:
    router = APIRouter()
    router.mount("/static", FastAPI())

    with pytest.raises(TypeError, match="cannot mount"):
        mount_routes(APIRouter(), router)


def test_the_api_is_matched_ahead_of_the_docs_and_probes_which_it_never_takes() -> None:
    """An API request no longer passes over the docs' and the probes' routes first; each of
    those paths is still taken by its own route, never by an API route now ahead of it."""
    app = create_app(Settings(environment="development", jwt_secret="x" * 40))
    routes = app.router.routes
    api = [route for route in routes if getattr(route, "path", "").startswith(API_PREFIX)]
    others = [route for route in routes if route not in api]
    assert routes[: len(api)] == api
    assert {"/openapi.json", "/docs", "/health", "/ready", "/metrics"} <= {
        getattr(route, "path", "") for route in others
    }
    for other in others:
        path = getattr(other, "path", "")
        for method in ("GET", "POST"):
            scope = {"type": "http", "method": method, "path": path}
            assert all(route.matches(scope)[0] == Match.NONE for route in api), path


def test_the_caller_is_one_dependency_which_openapi_documents_as_the_bearer_scheme() -> None:
    """The bearer scheme authenticates its token itself: FastAPI resolves one dependency for the
    caller at each request, not the user's and then the scheme's, and every authenticated
    operation still declares the scheme."""
    app = create_app(Settings(environment="development", jwt_secret="x" * 40))
    route = next(
        route
        for route in app.router.routes
        if isinstance(route, APIRoute) and route.path == f"{API_PREFIX}/bots/{{bot_id}}"
    )
    caller = next(sub for sub in route.dependant.dependencies if sub.call is signed_in_user)
    assert caller.dependencies == []
    schema = app.openapi()
    assert schema["paths"][f"{API_PREFIX}/bots/{{bot_id}}"]["get"]["security"] == [
        {"OAuth2PasswordBearer": []}
    ]
    flows = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
    assert flows == {"password": {"scopes": {}, "tokenUrl": f"{API_PREFIX}/auth/token"}}
