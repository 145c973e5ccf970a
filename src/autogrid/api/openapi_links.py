"""OpenAPI links from each create operation to the operations on the resource it made.

A client (and schemathesis' stateful phase) reads them to chain calls: the ``id`` in the answer to
``POST /bots`` is the ``bot_id`` of ``GET /bots/{bot_id}``. They live here, in one table, rather
than in every router's decorator: the routers stay thin and a link can never name an operation
that does not exist (building the schema fails instead).
"""

from __future__ import annotations

from typing import Any, Final

API = "/api/v1"

# (create path, its success status, the path parameter its answer's `id` fills,
#  the (method, path) of every operation on the created resource).
_CHAINS: Final[list[tuple[str, str, str, list[tuple[str, str]]]]] = [
    (
        f"{API}/bots",
        "201",
        "bot_id",
        [
            ("get", f"{API}/bots/{{bot_id}}"),
            ("patch", f"{API}/bots/{{bot_id}}"),
            ("post", f"{API}/bots/{{bot_id}}/start"),
            ("post", f"{API}/bots/{{bot_id}}/stop"),
            ("post", f"{API}/bots/{{bot_id}}/pause"),
            ("post", f"{API}/bots/{{bot_id}}/resume"),
            ("post", f"{API}/bots/{{bot_id}}/reset-breaker"),
            ("get", f"{API}/bots/{{bot_id}}/orders"),
            ("get", f"{API}/bots/{{bot_id}}/trades"),
            ("get", f"{API}/bots/{{bot_id}}/deals"),
            ("get", f"{API}/bots/{{bot_id}}/events"),
            ("get", f"{API}/bots/{{bot_id}}/stats"),
            ("get", f"{API}/bots/{{bot_id}}/metrics"),
            ("delete", f"{API}/bots/{{bot_id}}"),
        ],
    ),
    (
        f"{API}/credentials",
        "201",
        "credential_id",
        [
            ("get", f"{API}/credentials/{{credential_id}}"),
            ("patch", f"{API}/credentials/{{credential_id}}"),
            ("post", f"{API}/credentials/{{credential_id}}/validate"),
            ("delete", f"{API}/credentials/{{credential_id}}"),
        ],
    ),
    (
        f"{API}/notifications/channels",
        "201",
        "channel_id",
        [
            ("get", f"{API}/notifications/channels/{{channel_id}}"),
            ("patch", f"{API}/notifications/channels/{{channel_id}}"),
            ("post", f"{API}/notifications/channels/{{channel_id}}/test"),
            ("get", f"{API}/notifications/channels/{{channel_id}}/deliveries"),
            ("delete", f"{API}/notifications/channels/{{channel_id}}"),
        ],
    ),
    (
        f"{API}/signal-sources",
        "201",
        "source_id",
        [
            ("get", f"{API}/signal-sources/{{source_id}}"),
            ("patch", f"{API}/signal-sources/{{source_id}}"),
            ("post", f"{API}/signal-sources/{{source_id}}/rotate"),
            ("delete", f"{API}/signal-sources/{{source_id}}"),
        ],
    ),
    (
        f"{API}/backtests",
        "202",
        "backtest_id",
        [
            ("get", f"{API}/backtests/{{backtest_id}}"),
            ("get", f"{API}/backtests/{{backtest_id}}/report"),
            ("delete", f"{API}/backtests/{{backtest_id}}"),
        ],
    ),
    (
        f"{API}/backtests/sweeps",
        "202",
        "sweep_id",
        [
            ("get", f"{API}/backtests/sweeps/{{sweep_id}}"),
            ("get", f"{API}/backtests/sweeps/{{sweep_id}}/report"),
            ("delete", f"{API}/backtests/sweeps/{{sweep_id}}"),
        ],
    ),
]


def add_links(schema: dict[str, Any]) -> None:
    """Add the create→use links to a generated OpenAPI schema, in place."""
    paths: dict[str, Any] = schema["paths"]
    for create_path, status, parameter, targets in _CHAINS:
        response = paths[create_path]["post"]["responses"][status]
        links = response.setdefault("links", {})
        for method, path in targets:
            target = paths[path][method]
            links[_link_name(target["operationId"])] = {
                "operationId": target["operationId"],
                "parameters": {parameter: "$response.body#/id"},
                "description": f"The `id` in this answer is the `{parameter}` of "
                f"{method.upper()} {path}.",
            }


def _link_name(operation_id: str) -> str:
    """`get_bot_api_v1_bots__bot_id__get` → `GetBot`: FastAPI's id up to the path it appends."""
    name = operation_id.split("_api_v1_", 1)[0]
    return "".join(part.capitalize() for part in name.split("_"))
