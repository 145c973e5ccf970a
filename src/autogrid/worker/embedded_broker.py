"""The embedded broker: kombu's file-system transport, made safe for several processes.

kombu's stock transport (``filesystem://``) creates a message file under its final name in the
queue folder and only then serialises and writes the message into it. A consumer polling the
folder can claim that file while it is empty or half-written, fails to decode it and the worker
exits (celery/kombu#1551): ``autogrid dev`` died that way after about 23 minutes under load.

Here a message is written completely under a staging folder on the same file system, then renamed
into the queue folder. ``rename`` is atomic on one file system, so a consumer sees either no file
or the whole message, never a part of it. A consumer claims a message by renaming it into the
processed folder (also atomic), so of two consumers exactly one gets it; the other finds the file
gone and moves on. A file that still cannot be decoded (one left half-written by the stock
transport before an upgrade) is moved aside to a ``rejected`` folder and logged, never allowed
to stop the worker.

The exchange tables under the control folder get the same care: kombu creates one by truncating
it before taking its lock, and an empty table (a reader in that instant, or a process killed
there) made every later bind and publish fail to decode it. Here a table is created without
truncation and rewritten only under its exclusive lock, and an empty one reads as "no binding
yet" (the next bind writes it again).

No ``fsync``: the embedded mode promises no durability across a power cut (a killed worker already
loses the message it was running); what it must never do is hand out a partial message.

Why this and not another embedded broker: kombu's SQLAlchemy transport over SQLite would put a
third writer (every publish and every poll) on a database whose single write lock the API, the
worker and beat already contend for, and SQLite has no ``SELECT ... FOR UPDATE`` to stop two
consumers taking the same row. An embedded Redis from PyPI means a native server binary to build
or ship per platform and one more process to supervise. This transport is a few lines over
kombu's own, needs no server and no compiler, and its guarantees rest on POSIX ``rename``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
import uuid
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from queue import Empty
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils import json as kombu_json

logger = logging.getLogger(__name__)

# kombu's JSON, as the stock transport uses it (it knows the types Celery puts in messages).
_dumps: Callable[[Any], str] = kombu_json.dumps
_loads: Callable[[str], Any] = kombu_json.loads

# Celery's ``broker_transport``: kombu imports the transport class by this path.
TRANSPORT_PATH = "autogrid.worker.embedded_broker:Transport"


def message_file_name(queue: str) -> str:
    """Zero-padded wall-clock nanoseconds first, so a sorted listing is (nearly) oldest first."""
    return f"{time.time_ns():020d}_{uuid.uuid4().hex}.{queue}.msg"


def _is_message_of(file_name: str, queue: str) -> bool:
    return file_name.partition(".")[2] == f"{queue}.msg"


def _table(data: bytes) -> list[Any]:
    """An exchange table's bindings; an empty file (being created, or its writer died) has none."""
    if not data.strip():
        return []
    return [filesystem.exchange_queue_t(*binding) for binding in _loads(data.decode())]


class Channel(filesystem.Channel):
    """Publishes by atomic rename; claims by atomic rename; skips what it cannot decode."""

    def get_table(self, exchange: Any) -> list[Any]:
        file: Path = self._exchange_file(exchange)  # type: ignore[no-untyped-call]  # kombu
        try:
            with file.open("rb") as table:
                fcntl.flock(table.fileno(), fcntl.LOCK_SH)
                data = table.read()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        return _table(data)

    def _queue_bind(self, exchange: Any, routing_key: Any, pattern: Any, queue: Any) -> None:
        file: Path = self._exchange_file(exchange)  # type: ignore[no-untyped-call]  # kombu
        self.control_folder.mkdir(exist_ok=True)
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        try:
            # O_CREAT without O_TRUNC: an existing table is only ever rewritten under the lock.
            descriptor = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
            with os.fdopen(descriptor, "rb+", buffering=0) as table:
                fcntl.flock(table.fileno(), fcntl.LOCK_EX)
                try:
                    bindings = _table(table.read())
                except ValueError:
                    logger.error("embedded broker: rewriting the undecodable table %s", file)
                    bindings = []
                if binding not in bindings:
                    bindings.insert(0, binding)
                    table.seek(0)
                    table.truncate()
                    table.write(_dumps(bindings).encode())
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc

    # kombu names the argument "message" in one base class and "payload" in the other.
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        # Serialised before any file exists: the stock transport serialises after creating it.
        data = _dumps(payload).encode()
        name = message_file_name(queue)
        staged = self.staging_folder / name
        try:
            with staged.open("xb") as file:
                file.write(data)
            staged.rename(Path(self.data_folder_out) / name)
        except OSError as exc:
            staged.unlink(missing_ok=True)
            raise ChannelError(f"Cannot add message {name!r} to the queue folder") from exc

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        inbox = Path(self.data_folder_in)
        claimed_folder = Path(self.processed_folder)
        for name in sorted(os.listdir(inbox)):
            if not _is_message_of(name, queue):
                continue
            claimed = claimed_folder / name
            try:
                (inbox / name).rename(claimed)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            try:
                data = claimed.read_bytes()
                if not self.store_processed:
                    claimed.unlink()
                return _loads(data.decode())
            except FileNotFoundError:
                continue  # pruned under us: it was claimed long ago, nothing to deliver
            except ValueError:
                self._reject(claimed)
        raise Empty()

    def _reject(self, claimed: Path) -> None:
        rejected = self.rejected_folder / claimed.name
        try:
            claimed.rename(rejected)
        except OSError:
            rejected = claimed
        logger.error("embedded broker: skipped an undecodable message file, kept as %s", rejected)

    @cached_property
    def staging_folder(self) -> Path:
        return self._side_folder("staging_folder", "staging")

    @cached_property
    def rejected_folder(self) -> Path:
        return self._side_folder("rejected_folder", "rejected")

    def _side_folder(self, option: str, default_name: str) -> Path:
        """A folder beside the queue folder by default, so a rename never crosses file systems."""
        configured = self.transport_options.get(option)
        if configured:
            folder = Path(configured)
        else:
            folder = Path(self.data_folder_out).parent / default_name
        folder.mkdir(parents=True, exist_ok=True)
        return folder


class Transport(filesystem.Transport):
    Channel = Channel
