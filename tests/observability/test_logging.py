from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autogrid.core.config import Settings, load_settings
from autogrid.observability import configure_logging, register_secret, request_id_context
from autogrid.observability.redaction import REDACTED, clear_registered_secrets


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    clear_registered_secrets()


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(environment="development", var_dir=tmp_path / "var", **overrides)


def _json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_the_standard_fields_and_extras(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging(_settings(tmp_path, log_json=True), stream=stream)
    with request_id_context("req-123"):
        logging.getLogger("autogrid.test").info("bot %s ticked", "b1", extra={"bot_id": "b1"})
    logging.getLogger("autogrid.test").warning("outside a request")

    first, second = _json_lines(stream)
    assert first["ts"].endswith("Z")
    assert first["level"] == "INFO"
    assert first["logger"] == "autogrid.test"
    assert first["message"] == "bot b1 ticked"
    assert first["request_id"] == "req-123"
    assert first["bot_id"] == "b1"
    assert second["request_id"] is None
    assert second["level"] == "WARNING"


def test_secrets_are_scrubbed_from_message_args_extras_and_tracebacks(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging(_settings(tmp_path, log_json=True), stream=stream)
    exchange_secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP"
    register_secret(exchange_secret)
    logger = logging.getLogger("autogrid.test")

    logger.info("calling %s", "https://x.test/order?symbol=BTCUSDT&signature=deadbeef42")
    logger.info(
        "header",
        extra={
            "raw": "X-MBX-APIKEY: vmPUZE6mv9SD5VNHk4Hl",
            "api_secret": "plainsecretvalue99",
            "payload": {"order": {"apiKey": "k3y-in-a-dict"}, "qty": 1},
        },
    )
    try:
        raise RuntimeError(f"binance rejected secret {exchange_secret}, password=hunter2hunter2")
    except RuntimeError:
        logger.exception("exchange call failed")

    output = stream.getvalue()
    for secret in (
        "deadbeef42",
        "vmPUZE6mv9SD5VNHk4Hl",
        exchange_secret,
        "hunter2hunter2",
        "plainsecretvalue99",
        "k3y-in-a-dict",
    ):
        assert secret not in output
    call, header, failure = _json_lines(stream)
    assert call["message"] == f"calling https://x.test/order?symbol=BTCUSDT&signature={REDACTED}"
    assert header["raw"] == f"X-MBX-APIKEY: {REDACTED}"
    assert header["api_secret"] == REDACTED
    assert header["payload"] == {"order": {"apiKey": REDACTED}, "qty": 1}
    assert "RuntimeError" in failure["exc"]
    assert REDACTED in failure["exc"]


def test_other_handlers_see_the_scrubbed_record(tmp_path: Path) -> None:
    # Our handler runs first and rewrites the record, so later handlers cannot leak it either.
    configure_logging(_settings(tmp_path, log_json=True), stream=io.StringIO())
    seen: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logging.getLogger().addHandler(Collect())
    logging.getLogger("autogrid.test").error("token %s", "Bearer abc.def.ghi")
    assert seen and "abc.def.ghi" not in seen[0].getMessage()


def test_plain_text_when_log_json_is_false(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging(_settings(tmp_path, log_json=False), stream=stream)
    with request_id_context("rid-9"):
        logging.getLogger("autogrid.test").info("hello password=abc123", extra={"n": 3})
    line = stream.getvalue().strip()
    assert not line.startswith("{")
    assert "INFO" in line and "autogrid.test" in line and "[rid-9]" in line
    assert "password=[REDACTED]" in line and "abc123" not in line
    assert line.endswith("n=3")


def test_level_is_applied_and_reconfiguring_replaces_our_handler(tmp_path: Path) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(_settings(tmp_path, log_level="WARNING"), stream=first)
    configure_logging(_settings(tmp_path, log_level="WARNING"), stream=second)
    logging.getLogger("autogrid.test").info("too quiet")
    logging.getLogger("autogrid.test").warning("loud")
    assert first.getvalue() == ""
    assert [entry["message"] for entry in _json_lines(second)] == ["loud"]


def test_uvicorn_error_logs_go_through_our_handler(tmp_path: Path) -> None:
    stream = io.StringIO()
    uvicorn_logger = logging.getLogger("uvicorn.error")
    uvicorn_logger.addHandler(logging.StreamHandler(io.StringIO()))
    uvicorn_logger.propagate = False
    configure_logging(_settings(tmp_path), stream=stream)
    uvicorn_logger.info("Started server process")
    assert _json_lines(stream)[0]["logger"] == "uvicorn.error"
    assert logging.getLogger("uvicorn.access").propagate is False
