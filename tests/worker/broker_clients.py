"""Producer and consumer processes for the embedded broker's concurrency test.

``python -m tests.worker.broker_clients produce VAR_DIR NAME COUNT SIZE`` publishes COUNT messages;
``... consume VAR_DIR OUTPUT STOP_FILE`` appends one line per message received (its id, and
whether its padding still matches its checksum) until STOP_FILE exists. Both go through the
Celery app's own connection, so they use whichever transport the embedded mode is configured with.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from kombu.entity import Queue
from kombu.message import Message
from kombu.messaging import Consumer, Producer

from autogrid.core.config import load_settings
from autogrid.worker.celery_app import AutoGridCelery, create_celery

QUEUE = Queue("concurrency", exchange="concurrency", routing_key="concurrency")
# Consumers poll much faster than the platform's worker, to widen any window for a torn read.
FAST_POLLING = {"polling_interval": 0.005}


def embedded_app(var_dir: Path) -> AutoGridCelery:
    return create_celery(
        load_settings(
            environment="development",
            database_url=f"sqlite+aiosqlite:///{var_dir / 'autogrid.db'}",
            var_dir=var_dir,
        )
    )


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def produce(var_dir: Path, name: str, count: int, size: int) -> None:
    with embedded_app(var_dir).connection_for_write() as connection:
        producer = Producer(connection.default_channel)
        for number in range(count):
            message_id = f"{name}-{number}"
            padding = (message_id * (size // len(message_id) + 1))[:size]
            body = {"id": message_id, "padding": padding, "sha": checksum(padding)}
            producer.publish(
                body,
                exchange=QUEUE.exchange,
                routing_key=QUEUE.routing_key,
                declare=[QUEUE],
                serializer="json",
            )


def consume(var_dir: Path, output: Path, stop_file: Path) -> None:
    app = embedded_app(var_dir)
    with (
        app.connection_for_read(transport_options=FAST_POLLING) as connection,
        output.open("a") as out,
    ):

        def on_message(body: dict[str, Any], message: Message) -> None:
            intact = checksum(body["padding"]) == body["sha"]
            out.write(f"{body['id']} {'ok' if intact else 'CORRUPT'}\n")
            out.flush()
            message.ack()

        with Consumer(connection, [QUEUE], callbacks=[on_message], accept=["json"]):
            while not stop_file.exists():
                try:
                    connection.drain_events(timeout=0.5)
                except TimeoutError:
                    continue


def main(argv: list[str]) -> None:
    command, var_dir = argv[0], Path(argv[1])
    if command == "produce":
        produce(var_dir, argv[2], int(argv[3]), int(argv[4]))
    elif command == "consume":
        consume(var_dir, Path(argv[2]), Path(argv[3]))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
