"""Routine INFO lines become one summary line a period; warnings and other loggers pass at once."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autogrid.core.config import load_settings
from autogrid.observability import configure_logging
from autogrid.observability.log_summary import RoutineSummary


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def configured(tmp_path: Path, clock: FakeClock, **overrides: Any) -> io.StringIO:
    stream = io.StringIO()
    settings = load_settings(
        environment="development", var_dir=tmp_path / "var", log_json=True, **overrides
    )
    handler = configure_logging(settings, stream=stream)
    for installed in handler.filters:
        if isinstance(installed, RoutineSummary):
            installed._clock = clock  # the one clock-driven filter: the summary
            installed._period_started = clock()
    return stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def access(status: int) -> None:
    logging.getLogger("autogrid.access").info(
        "GET /api/v1/bots %s 1.0ms", status, extra={"status": status}
    )


def task_done(name: str) -> None:
    # Celery's own call shape: one dict argument.
    logging.getLogger("celery.app.trace").info(
        "Task %(name)s[%(id)s] succeeded", {"name": name, "id": "x"}
    )


def test_routine_lines_are_counted_and_summarised_once_a_period(tmp_path: Path) -> None:
    clock = FakeClock()
    stream = configured(tmp_path, clock, log_summary_seconds=60)
    for _ in range(3):
        access(200)
        task_done("autogrid.scheduling.tasks.tick_bots")
    access(404)
    logging.getLogger("celery.worker.strategy").info("Task received")
    logging.getLogger("autogrid.bots.service").info("bot created")  # not routine: written
    logging.getLogger("autogrid.access").warning("GET /x 503 1ms")  # a warning: written
    assert [line["message"] for line in lines(stream)] == ["bot created", "GET /x 503 1ms"]

    clock.now += 61
    task_done("autogrid.scheduling.tasks.claim_due_ticks")  # the first record after the period
    summary = lines(stream)[-1]
    assert summary["logger"] == "autogrid.summary"
    assert summary["message"] == (
        "last 60 s: 4 requests (3 2xx, 1 4xx); tasks done: tick_bots 3, claim_due_ticks 1"
    )
    written = len(lines(stream))
    clock.now += 61  # a period with nothing routine in it writes no summary
    logging.getLogger("autogrid.bots.service").info("bot started")
    assert [line["message"] for line in lines(stream)[written:]] == ["bot started"]


def test_without_the_setting_every_line_is_written(tmp_path: Path) -> None:
    stream = configured(tmp_path, FakeClock())
    access(200)
    task_done("autogrid.scheduling.tasks.tick_bots")
    assert len(lines(stream)) == 2
