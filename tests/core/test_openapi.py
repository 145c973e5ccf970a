from __future__ import annotations

import re
from typing import Any

from autogrid.api.openapi_params import drop_null_branches


def test_every_operation_has_a_docstring_summary_and_declares_the_error_shape(
    openapi_schema: dict[str, Any],
) -> None:
    schema = openapi_schema
    assert "ErrorResponse" in schema["components"]["schemas"]
    operations = [
        (path, method, op)
        for path, methods in schema["paths"].items()
        for method, op in methods.items()
    ]
    assert len(operations) > 10
    for path, method, op in operations:
        assert op.get("description"), f"{method} {path} has no docstring"
        assert op["summary"] == op["description"].strip().splitlines()[0].rstrip("."), path
        if path.startswith("/api/v1"):
            refs = str(op.get("responses", {}))
            assert "ErrorResponse" in refs, f"{method} {path} does not declare the error shape"


def test_the_report_is_html_and_its_errors_json(openapi_schema: dict[str, Any]) -> None:
    schema = openapi_schema
    responses = schema["paths"]["/api/v1/backtests/{backtest_id}/report"]["get"]["responses"]
    assert set(responses["200"]["content"]) == {"text/html"}
    for status in ("401", "404", "409", "422", "429"):
        assert set(responses[status]["content"]) == {"application/json"}, status


def test_documented_patterns_match_what_is_accepted(openapi_schema: dict[str, Any]) -> None:
    # "btc/usdt" and " Binance " are accepted (normalised): the schema must not refuse them, and
    # must state a pattern so clients and generators know "" or "BTCUSDT" are not.
    schemas = openapi_schema["components"]["schemas"]
    grid = schemas["GridBotCreate"]["properties"]
    for field, accepted, refused in [
        ("exchange", " Binance ", ""),
        ("symbol", "btc/usdt", "BTCUSDT"),
    ]:
        pattern = re.compile(grid[field]["pattern"])
        assert pattern.search(accepted), field
        assert not pattern.search(refused), field


def test_every_api_operation_declares_the_rate_limit_answer(openapi_schema: dict[str, Any]) -> None:
    # The API rate limit may refuse any request under /api/ before its route runs.
    schema = openapi_schema
    for path, methods in schema["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in methods.items():
            assert "429" in operation["responses"], f"{method} {path} does not declare 429"
    me = schema["paths"]["/api/v1/auth/me"]["get"]["responses"]["429"]
    assert "Retry-After" in me["headers"]


def test_create_operations_link_to_the_operations_on_what_they_create(
    openapi_schema: dict[str, Any],
) -> None:
    # Clients and schemathesis' stateful phase chain calls through these links: each must name an
    # existing operation, fill exactly its path parameter, from an `id` the answer always has.
    schema = openapi_schema
    operations = {
        op["operationId"]: (path, op)
        for path, methods in schema["paths"].items()
        for op in methods.values()
    }
    linked: set[str] = set()
    for path, methods in schema["paths"].items():
        for status, response in methods.get("post", {}).get("responses", {}).items():
            for link in response.get("links", {}).values():
                target_path, target = operations[link["operationId"]]
                path_parameters = {p["name"] for p in target["parameters"] if p["in"] == "path"}
                assert set(link["parameters"]) == path_parameters, target_path
                assert set(link["parameters"].values()) == {"$response.body#/id"}, target_path
                body = response["content"]["application/json"]["schema"]
                for ref in re.findall(r"#/components/schemas/(\w+)", str(body)):
                    assert "id" in schema["components"]["schemas"][ref]["required"], ref
                assert status.startswith("2"), path
                linked.add(f"{target_path.removeprefix('/api/v1')} {link['operationId']}")
    for resource in (
        "bots",
        "credentials",
        "notifications/channels",
        "signal-sources",
        "backtests",
    ):
        assert any(name.startswith(f"/{resource}/{{") for name in linked), resource


def test_schemathesis_reads_the_links_as_transitions(openapi_schema: dict[str, Any]) -> None:
    # Its stateful phase walks these transitions; a link it could not resolve would be dropped.
    import schemathesis
    from schemathesis.config import SchemathesisConfig

    schema = openapi_schema
    # Schemathesis' defaults, not the project's schemathesis.toml (which names the users file of
    # a fuzzing run through an environment variable only that run sets).
    config = SchemathesisConfig()
    machine = schemathesis.openapi.from_dict(schema, config=config).as_state_machine()
    transitions = set(dir(machine))
    for path in ("/api/v1/bots", "/api/v1/signal-sources", "/api/v1/notifications/channels"):
        links = schema["paths"][path]["post"]["responses"]["201"]["links"]
        for name in links:
            assert any(f"_{name}__" in rule for rule in transitions), (path, name)


def _mentions_null(schema: Any) -> bool:
    if isinstance(schema, dict):
        return schema.get("type") == "null" or any(map(_mentions_null, schema.values()))
    if isinstance(schema, list):
        return any(map(_mentions_null, schema))
    return False


def test_optional_parameters_outside_the_path_are_documented_without_null(
    openapi_schema: dict[str, Any],
) -> None:
    # A query string or a header cannot carry null: a client told it may sent the text "null"
    # (Last-Event-ID: null), which the API refused with a 422 against its own schema.
    optional = [
        (path, parameter)
        for path, methods in openapi_schema["paths"].items()
        for operation in methods.values()
        for parameter in operation.get("parameters", ())
        if parameter["in"] != "path" and not parameter.get("required")
    ]
    assert len(optional) > 20
    for path, parameter in optional:
        assert not _mentions_null(parameter["schema"]), (path, parameter)
    stream = openapi_schema["paths"]["/api/v1/events/stream"]["get"]["parameters"]
    header = next(parameter for parameter in stream if parameter["name"] == "Last-Event-ID")
    assert header["schema"]["type"] == "string" and header["schema"]["pattern"]
    since = next(parameter for parameter in stream if parameter["name"] == "last_event_id")
    assert since["schema"]["type"] == "integer" and since["schema"]["minimum"] == 0
    assert since["description"] == since["schema"]["description"] == "replay after this id"


def test_a_null_branch_among_several_leaves_the_others() -> None:
    schema = {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}], "title": "T"}
    parameter = {"name": "p", "in": "query", "required": False, "schema": schema}
    required = {"name": "q", "in": "query", "required": True, "schema": dict(schema)}
    drop_null_branches({"paths": {"/p": {"get": {"parameters": [parameter, required]}}}})
    assert parameter["schema"] == {"title": "T", "anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert required["schema"] == schema  # a required one is left as it is
