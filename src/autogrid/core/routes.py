"""Routers' routes added to the app's one flat route list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute, APIWebSocketRoute


def mount_routes(
    target: APIRouter,
    router: APIRouter,
    *,
    prefix: str = "",
    responses: dict[int | str, dict[str, Any]] | None = None,
) -> None:
    """``router``'s routes added to ``target`` as its own, what ``include_router`` documents.

    ``include_router`` keeps the included router behind a lazy layer that FastAPI walks at every
    request, twice per level (matching, then handling), re-checking each level's routes for
    changes: with the API's routers two levels deep that was a fifth of a bot list read's
    Python calls. Routes added here are plain routes of one flat list, matched once.
    """
    for route in router.routes:
        if isinstance(route, APIRoute):
            target.add_api_route(
                prefix + route.path,
                route.endpoint,
                response_model=route.response_model,
                status_code=route.status_code,
                tags=list(route.tags),
                dependencies=list(route.dependencies),
                summary=route.summary,
                description=route.description,
                response_description=route.response_description,
                responses={**(responses or {}), **route.responses},
                deprecated=route.deprecated,
                methods=route.methods,
                operation_id=route.operation_id,
                response_model_include=route.response_model_include,
                response_model_exclude=route.response_model_exclude,
                response_model_by_alias=route.response_model_by_alias,
                response_model_exclude_unset=route.response_model_exclude_unset,
                response_model_exclude_defaults=route.response_model_exclude_defaults,
                response_model_exclude_none=route.response_model_exclude_none,
                include_in_schema=route.include_in_schema,
                response_class=route.response_class,
                name=route.name,
                route_class_override=type(route),
                callbacks=route.callbacks,
                openapi_extra=route.openapi_extra,
                generate_unique_id_function=route.generate_unique_id_function,
            )
        elif isinstance(route, APIWebSocketRoute):
            target.add_api_websocket_route(
                prefix + route.path,
                route.endpoint,
                name=route.name,
                dependencies=list(route.dependencies),
            )
        else:  # nothing else is declared on a domain router; say so rather than drop it
            raise TypeError(f"cannot mount {route!r} of {router.prefix or 'a router'}")
