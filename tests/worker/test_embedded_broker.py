"""The embedded broker never hands out a half-written message, and loses or repeats none.

kombu's own file-system transport let a worker read a message file before it was written
(celery/kombu#1551); the worker died and ``autogrid dev`` with it. These tests go through the
Celery app's configured connection, so they exercise whatever the embedded mode really uses.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from kombu.entity import Queue
from kombu.messaging import Producer
from kombu.utils.json import register_type

from tests.worker.broker_clients import embedded_app
from tests.worker.processes import process_env, tail, wait_until

PRODUCERS = 3
MESSAGES_PER_PRODUCER = 1000
PADDING_BYTES = 8192
DRAIN_TIMEOUT_SECONDS = 600
REPO_ROOT = Path(__file__).resolve().parents[2]


class _SlowToSerialise:
    """A payload value whose JSON encoding waits until the test lets it finish."""

    started = threading.Event()
    release = threading.Event()

    def encode(self) -> str:
        self.started.set()
        self.release.wait(30)
        return "complete"


register_type(_SlowToSerialise, "autogrid-test-slow", lambda value: value.encode())


def test_a_message_being_written_is_not_visible_to_a_consumer(tmp_path: Path) -> None:
    app = embedded_app(tmp_path / "var")
    with app.connection_for_write() as producing, app.connection_for_read() as consuming:
        publisher = producing.channel()
        consumer = consuming.channel()
        payload: dict[str, Any] = {"body": _SlowToSerialise(), "id": 1}
        publishing = threading.Thread(target=publisher._put, args=("q", payload))
        publishing.start()
        try:
            assert _SlowToSerialise.started.wait(30)
            # Mid-publish: the stock transport's file already exists, empty, and a consumer
            # claiming it fails to decode it (the crash of finding 5).
            with pytest.raises(Empty):
                consumer._get("q")
        finally:
            _SlowToSerialise.release.set()
            publishing.join(30)
        delivered = consumer._get("q")
    assert delivered["id"] == 1
    assert delivered["body"] == "complete"  # the whole message, decoded


def test_an_undecodable_file_is_set_aside_and_the_next_message_delivered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = tmp_path / "var"
    app = embedded_app(var_dir)
    # A torn file such as the stock transport could leave behind, older than the good message.
    torn = var_dir / "broker" / "queue" / "00000000000000000001_torn.q.msg"
    with app.connection_for_write() as connection:
        channel = connection.channel()
        torn.write_bytes(b'{"body": "half')
        channel._put("q", {"id": 2})
        with caplog.at_level(logging.ERROR):
            assert channel._get("q") == {"id": 2}
            with pytest.raises(Empty):
                channel._get("q")
    assert (var_dir / "broker" / "rejected" / torn.name).read_bytes() == b'{"body": "half'
    assert "undecodable message" in caplog.text


@pytest.mark.slow
def test_several_producers_and_two_consumers_lose_repeat_and_tear_nothing(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    embedded_app(var_dir)  # creates the folders and the development secrets once
    env = process_env()
    env["PYTHONPATH"] = f"{REPO_ROOT}{':' + env['PYTHONPATH'] if env.get('PYTHONPATH') else ''}"
    client = [sys.executable, "-m", "tests.worker.broker_clients"]
    stop_file = tmp_path / "stop"
    outputs = [tmp_path / f"consumer-{n}.txt" for n in range(2)]
    logs = [tmp_path / f"consumer-{n}.log" for n in range(2)]
    consumers = [
        subprocess.Popen(
            [*client, "consume", str(var_dir), str(output), str(stop_file)],
            env=env,
            cwd=REPO_ROOT,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        for output, log in zip(outputs, logs, strict=True)
    ]
    try:
        producers = [
            subprocess.Popen(
                [
                    *client,
                    "produce",
                    str(var_dir),
                    f"p{n}",
                    str(MESSAGES_PER_PRODUCER),
                    str(PADDING_BYTES),
                ],
                env=env,
                cwd=REPO_ROOT,
            )
            for n in range(PRODUCERS)
        ]
        assert [producer.wait(DRAIN_TIMEOUT_SECONDS) for producer in producers] == [0] * PRODUCERS

        expected = PRODUCERS * MESSAGES_PER_PRODUCER

        def received() -> list[str]:
            existing = [out for out in outputs if out.exists()]
            return [line for out in existing for line in out.read_text().splitlines()]

        def drained_or_dead() -> bool:
            return len(received()) >= expected or any(c.poll() is not None for c in consumers)

        wait_until(drained_or_dead, DRAIN_TIMEOUT_SECONDS, interval=0.5)
        alive = [consumer.poll() is None for consumer in consumers]
        assert alive == [True, True], "a consumer died:\n" + "\n".join(tail(log) for log in logs)
    finally:
        stop_file.touch()
        for consumer in consumers:
            try:
                consumer.wait(30)
            except subprocess.TimeoutExpired:
                consumer.kill()
                consumer.wait()

    lines = received()
    ids = Counter(line.split()[0] for line in lines)
    assert not [line for line in lines if not line.endswith(" ok")], "a message was torn"
    assert [message_id for message_id, seen in ids.items() if seen > 1] == [], "read twice"
    wanted = {f"p{p}-{n}" for p in range(PRODUCERS) for n in range(MESSAGES_PER_PRODUCER)}
    assert wanted - set(ids) == set(), "lost"
    assert list((var_dir / "broker" / "rejected").iterdir()) == []
    assert list((var_dir / "broker" / "staging").iterdir()) == []


def test_an_empty_exchange_table_left_by_a_dead_writer_does_not_break_publishing(
    tmp_path: Path,
) -> None:
    """kombu truncates a table before locking it: a process killed there leaves it empty."""
    var_dir = tmp_path / "var"
    app = embedded_app(var_dir)
    table = var_dir / "broker" / "control" / "left-empty.exchange"
    table.write_bytes(b"")
    queue = Queue("left-empty", exchange="left-empty", routing_key="left-empty")
    with app.connection_for_write() as connection:
        channel = connection.channel()
        assert channel.get_table("left-empty") == []
        Producer(channel).publish(
            {"id": 3}, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue]
        )
        delivered = channel.basic_get("left-empty")
    assert delivered is not None
    assert delivered.decode() == {"id": 3}
