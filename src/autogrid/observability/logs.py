"""Process-wide logging: one JSON object per line (or plain text), request ids, no secrets.

``configure_logging`` is idempotent: it replaces the handler it installed before and leaves any
other handler (pytest's, a debugger's) alone. Scrubbing happens in a handler filter that rewrites
the record itself (message, arguments, traceback, extras), so every handler that sees the record
after ours sees the cleaned version too.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from autogrid.core.config import Settings
from autogrid.observability.log_summary import RoutineSummary
from autogrid.observability.redaction import REDACTED, is_sensitive_name, scrub, scrub_value

# The id of the request (or, later, the task) being served; every log record carries it.
request_id_var: ContextVar[str | None] = ContextVar("autogrid_request_id", default=None)

_HANDLER_MARK = "_autogrid_handler"
_SCRUBBED_MARK = "_autogrid_scrubbed"
# Attributes every LogRecord has; anything else on a record was passed by the caller as `extra`.
_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", (), None).__dict__
) | {"message", "asctime", "request_id", "taskName", _SCRUBBED_MARK}

# uvicorn installs its own handlers; routing its loggers through ours gives one format and the
# scrubber. Its access log is replaced by ours, which logs route templates instead of raw paths.
_ADOPTED_LOGGERS = ("uvicorn", "uvicorn.error")
_SILENCED_LOGGERS = ("uvicorn.access",)
_PLAIN_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"


@contextmanager
def request_id_context(request_id: str) -> Iterator[None]:
    """Bind an id to every log record in this block (for Celery tasks and scripts)."""
    token = request_id_var.set(request_id)
    try:
        yield
    finally:
        request_id_var.reset(token)


class RequestIdFilter(logging.Filter):
    """Stamp the current request id on the record (a caller-provided one wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        return True


class SecretScrubber(logging.Filter):
    """Rewrite the record with secrets removed from its message, traceback and extras."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _SCRUBBED_MARK, False):
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # Mismatched %-arguments: keep the template, drop arguments we cannot render safely.
            message = str(record.msg) + " [unformattable arguments dropped]"
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
            # Without exc_info no later formatter can re-render the raw, unscrubbed exception.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name in _STANDARD_ATTRIBUTES or name.startswith("_"):
                continue
            # extra={"api_secret": ...}: the name alone says the value must not be written.
            setattr(record, name, REDACTED if is_sensitive_name(name) else scrub_value(value))
        setattr(record, _SCRUBBED_MARK, True)
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        name: value
        for name, value in record.__dict__.items()
        if name not in _STANDARD_ATTRIBUTES and not name.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """ts, level, logger, message, request_id, the caller's extras, then exc/stack if any."""

    def format(self, record: logging.LogRecord) -> str:
        timestamp = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "ts": timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for name, value in _extras(record).items():
            entry.setdefault(name, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines for development; extras are appended as key=value."""

    def __init__(self) -> None:
        super().__init__(_PLAIN_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        record.request_id = request_id or "-"
        try:
            line = super().format(record)
        finally:
            record.request_id = request_id
        extras = _extras(record)
        if extras and "\n" not in line:
            line += " " + " ".join(f"{key}={value}" for key, value in extras.items())
        return line


class _StandardErrorHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is *now*, so a replaced stderr (pytest capture) still works."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> logging.Handler:
    """Install the one root handler (JSON or text per LOG_JSON) at LOG_LEVEL; returns it."""
    root = logging.getLogger()
    for previous in list(root.handlers):
        if getattr(previous, _HANDLER_MARK, False):
            root.removeHandler(previous)
            previous.close()

    handler: logging.Handler = (
        logging.StreamHandler(stream) if stream is not None else _StandardErrorHandler()
    )
    setattr(handler, _HANDLER_MARK, True)
    if settings.log_summary_seconds:
        # First: it reads Celery's arguments, which the scrubber then renders into the message.
        handler.addFilter(RoutineSummary(settings.log_summary_seconds))
    handler.addFilter(RequestIdFilter())
    handler.addFilter(SecretScrubber())
    handler.setFormatter(JsonFormatter() if settings.log_json else TextFormatter())
    root.addHandler(handler)
    root.setLevel(settings.log_level)

    for name in _ADOPTED_LOGGERS:
        adopted = logging.getLogger(name)
        adopted.handlers.clear()
        adopted.propagate = True
        # LOG_LEVEL governs: a level set on them earlier (uvicorn's log_level) would hide lines.
        adopted.setLevel(logging.NOTSET)
    for name in _SILENCED_LOGGERS:
        silenced = logging.getLogger(name)
        silenced.handlers.clear()
        silenced.propagate = False
    # SQL statements carry bound parameters (password hashes, ciphertexts): never below WARNING.
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    return handler
