"""Queue depths through the broker itself: Redis and the embedded broker count what waits."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from kombu.exceptions import OperationalError

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
    assert app.settings is not None
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


@pytest.fixture
def failing_broker() -> Iterator[tuple[str, list[None]]]:
    """A loopback port that accepts each connection and drops it at once, as a broker going down
    does; with the list of connections it accepted."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[None] = []

    def serve() -> None:
        with suppress(OSError):
            while True:
                connection, _ = listener.accept()
                accepted.append(None)
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0", accepted
    finally:
        with suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept
        listener.close()
        thread.join(5)


def test_a_broker_that_drops_the_connection_is_reported_after_one_attempt(
    settings: Settings, failing_broker: tuple[str, list[None]]
) -> None:
    url, accepted = failing_broker
    app = create_celery(settings.model_copy(update={"celery_broker_url": url}))
    with pytest.raises(OperationalError):
        queue_depths(app, worker_queues(settings))
    # Not kombu's default of three attempts over 6 s: the fleet view and the metrics task say
    # at once that the broker did not answer.
    assert len(accepted) == 1
