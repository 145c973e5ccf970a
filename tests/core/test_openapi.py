from __future__ import annotations

import re

from autogrid.app import create_app
from autogrid.core.config import Settings


def test_every_operation_has_a_docstring_summary_and_declares_the_error_shape(
    settings: Settings,
) -> None:
    schema = create_app(settings).openapi()
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


def test_the_report_is_html_and_its_errors_json(settings: Settings) -> None:
    schema = create_app(settings).openapi()
    responses = schema["paths"]["/api/v1/backtests/{backtest_id}/report"]["get"]["responses"]
    assert set(responses["200"]["content"]) == {"text/html"}
    for status in ("401", "404", "409", "422", "429"):
        assert set(responses[status]["content"]) == {"application/json"}, status


def test_documented_patterns_match_what_is_accepted(settings: Settings) -> None:
    # "btc/usdt" and " Binance " are accepted (normalised): the schema must not refuse them, and
    # must state a pattern so clients and generators know "" or "BTCUSDT" are not.
    schemas = create_app(settings).openapi()["components"]["schemas"]
    grid = schemas["GridBotCreate"]["properties"]
    for field, accepted, refused in [
        ("exchange", " Binance ", ""),
        ("symbol", "btc/usdt", "BTCUSDT"),
    ]:
        pattern = re.compile(grid[field]["pattern"])
        assert pattern.search(accepted), field
        assert not pattern.search(refused), field


def test_every_api_operation_declares_the_rate_limit_answer(settings: Settings) -> None:
    # The API rate limit may refuse any request under /api/ before its route runs.
    schema = create_app(settings).openapi()
    for path, methods in schema["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in methods.items():
            assert "429" in operation["responses"], f"{method} {path} does not declare 429"
    me = schema["paths"]["/api/v1/auth/me"]["get"]["responses"]["429"]
    assert "Retry-After" in me["headers"]
