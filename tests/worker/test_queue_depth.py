"""Queue depths through the broker itself: Redis and the embedded broker count what waits."""

from __future__ import annotations

from pathlib import Path

import pytest

from autogrid.core.config import Settings
from autogrid.worker.celery_app import AutoGridCelery, create_celery, worker_queues
from autogrid.worker.queue_depth import queue_depths
from tests.conftest import _flush_prefix
from tests.worker.broker_clients import embedded_app


def send_pings(app: AutoGridCelery, count: int) -> None:
    for _ in range(count):
        app.send_task("autogrid.worker.tasks.ping")  # no worker runs: they wait


@pytest.mark.parametrize("broker", ["redis", "embedded"])
def test_messages_waiting_are_counted_per_queue(
    broker: str, settings: Settings, tmp_path: Path
) -> None:
    app = create_celery(settings) if broker == "redis" else embedded_app(tmp_path / "var")
    bot_queue, backtest_queue = worker_queues(app.settings)
    try:
        # Nothing sent yet: an empty queue, not an error.
        assert queue_depths(app, [bot_queue, backtest_queue]) == {
            bot_queue: 0,
            backtest_queue: 0,
        }
        send_pings(app, 3)
        assert queue_depths(app, [bot_queue, backtest_queue]) == {
            bot_queue: 3,
            backtest_queue: 0,
        }
    finally:
        if broker == "redis":
            _flush_prefix(settings)
