"""The Celery application, for the worker, beat, the API (to send tasks) and tests.

**Every task must be idempotent.** Delivery is at least once: a task is acknowledged only after it
finished (``task_acks_late``), a worker killed mid-task has its message delivered again
(``task_reject_on_worker_lost``), and Redis delivers again any message not acknowledged within
the visibility timeout, sometimes while the first run is still going. Running a task twice, even
in parallel, must have the effect of running it once: claim rows with ``SELECT ... FOR UPDATE
SKIP LOCKED``, deduplicate by unique keys. Tasks take ids only and are sent after the commit that
created their rows; each opens its own session (:mod:`autogrid.worker.base`).

Brokers, chosen by :attr:`Settings.broker_url`:

- Redis (production): every key is under ``REDIS_KEY_PREFIX`` and the queue and control exchanges
  are named after it (:func:`celery_namespace`), so deployments and test runs can share a server.
  Results go to ``CELERY_RESULT_BACKEND``, else to Redis, and expire after a day; tasks ignore
  results unless they ask for them.
- The embedded file-system broker ("filesystem://", when no Redis is configured): messages are
  files under ``VAR_DIR/broker``, published and claimed by atomic renames
  (:mod:`autogrid.worker.embedded_broker` says why kombu's own transport is not enough),
  results files under ``VAR_DIR/celery-results`` (Celery's
  ``file://`` backend, pruned by beat's daily ``celery.backend_cleanup``; no SQLite file to lock
  against the application database). It is for ``autogrid dev`` on one machine: a worker killed
  mid-task loses that message, there is no visibility timeout, and remote control (``celery
  inspect``) is off because broadcasts would pile up as files nobody reads.
"""

from __future__ import annotations

import functools
import gc
import logging
import re
from pathlib import Path
from typing import Any

from celery import Celery, current_app, signals

from autogrid.core.config import Settings, load_settings
from autogrid.core.heap import freeze_startup_heap
from autogrid.live.wakeup import announcer
from autogrid.observability import configure_logging
from autogrid.worker.base import AutoGridTask, settings_of
from autogrid.worker.embedded_broker import TRANSPORT_PATH as EMBEDDED_TRANSPORT_PATH

# The beat scheduler (worker/beat.py), named by path: beat imports this module, not the reverse.
SCHEDULER_PATH = "autogrid.worker.beat:SingleInstanceScheduler"

# Modules whose tasks the worker registers.
TASK_MODULES: tuple[str, ...] = (
    "autogrid.worker.tasks",
    "autogrid.backtest.tasks",
    "autogrid.scheduling.tasks",
    "autogrid.auth.tasks",
    "autogrid.events.tasks",
    "autogrid.notifications.tasks",
    "autogrid.signals.tasks",
    # A domain with tasks adds its module here, one line each: "autogrid.bots.tasks", ...
)

# Redis hands a message to another worker if it is not acknowledged within this time.
VISIBILITY_TIMEOUT_SECONDS = 3600
# Kept below the visibility timeout, so Redis never redelivers a task that is still running.
# (Enforced by the prefork pool; the solo and threads pools cannot interrupt a task.) A task that
# needs longer sets its own limit and must stay below VISIBILITY_TIMEOUT_SECONDS.
TASK_TIME_LIMIT_SECONDS = 1800
TASK_SOFT_TIME_LIMIT_SECONDS = 1740
RESULT_EXPIRES_SECONDS = 86_400
EMBEDDED_POLLING_SECONDS = 0.5
EMBEDDED_BROKER_URL = "filesystem://"
# Same transport; naming the host keeps kombu from warning "No hostname was supplied" each start.
EMBEDDED_BROKER_CONNECTION_URL = "filesystem://localhost//"


class AutoGridCelery(Celery):  # type: ignore[misc]  # celery ships no type hints
    """A Celery app that remembers the settings it was built from (tasks read them)."""

    def __init__(self, *args: Any, settings: Settings | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # None only when Celery rebuilds the app from a pickle; tasks then use get_settings().
        self.settings = settings


BACKTEST_TASK = "autogrid.backtest.tasks.run_backtest"
BACKTEST_CHUNK_TASK = "autogrid.backtest.tasks.run_backtest_chunk"


def backtest_queue(settings: Settings) -> str:
    return f"{celery_namespace(settings)}.backtests"


def worker_queues(settings: Settings) -> list[str]:
    """Every queue of the deployment: bot work (ticks, reconciliation) first, then backtests."""
    return [celery_namespace(settings), backtest_queue(settings)]


def celery_namespace(settings: Settings) -> str:
    """Queue and exchange name for this deployment: "autogrid:" -> "autogrid".

    Only characters every transport accepts in a queue or exchange name (the file-system broker
    puts them in file names).
    """
    name = re.sub(r"[^A-Za-z0-9_-]+", ".", settings.redis_key_prefix).strip(".")
    return name or "autogrid"


def is_embedded(settings: Settings) -> bool:
    return settings.broker_url.startswith(EMBEDDED_BROKER_URL)


def embedded_broker_options(settings: Settings) -> dict[str, Any]:
    """Folders of the file-system broker, created here so a fresh ./var just works."""
    broker_dir = settings.embedded_broker_dir.resolve()
    queue_dir = broker_dir / "queue"
    processed_dir = broker_dir / "processed"
    control_dir = broker_dir / "control"
    staging_dir = broker_dir / "staging"
    rejected_dir = broker_dir / "rejected"
    for folder in (queue_dir, processed_dir, control_dir, staging_dir, rejected_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        # Producers and consumers on this machine share one folder.
        "data_folder_in": str(queue_dir),
        "data_folder_out": str(queue_dir),
        "control_folder": str(control_dir),
        # A consumer claims a message by renaming it into processed/: atomic on one file system,
        # so two workers never take the same message (the default moves it to /tmp, which may be
        # another file system). Old files there are pruned by a periodic task.
        "store_processed": True,
        "processed_folder": str(processed_dir),
        # A message is written whole here, then renamed into the queue folder (same file system).
        "staging_folder": str(staging_dir),
        # Files that cannot be decoded are moved here and logged instead of stopping the worker.
        "rejected_folder": str(rejected_dir),
        "polling_interval": EMBEDDED_POLLING_SECONDS,
    }


def embedded_results_dir(settings: Settings) -> Path:
    return (settings.var_dir / "celery-results").resolve()


def _result_backend(settings: Settings) -> str | None:
    if settings.celery_result_backend:
        return settings.celery_result_backend
    if is_embedded(settings):
        results = embedded_results_dir(settings)
        results.mkdir(parents=True, exist_ok=True)
        return f"file://{results}"
    return settings.redis_url


def _result_backend_options(settings: Settings, backend: str | None) -> dict[str, Any]:
    if backend and backend.startswith(("redis://", "rediss://")):
        return {"global_keyprefix": settings.redis_key_prefix}
    return {}


def _broker_options(settings: Settings) -> dict[str, Any]:
    if is_embedded(settings):
        return embedded_broker_options(settings)
    if settings.broker_url.startswith(("redis://", "rediss://")):
        return {
            "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
            "global_keyprefix": settings.redis_key_prefix,
        }
    return {}


# The bot runtime's periodic work (autogrid.scheduling.tasks), by task name so that building the app
# does not import the runtime. Each effect is idempotent: a second beat or a redelivery is harmless.
RUNTIME_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Due bots are claimed (committed) before their ticks are sent; stale claims expire quickly.
    "claim-due-bot-ticks": {
        "task": "autogrid.scheduling.tasks.claim_due_ticks",
        "schedule": 1.0,
        "options": {"expires": 5},
    },
    "reconcile-bots": {
        "task": "autogrid.scheduling.tasks.reconcile_bots",
        "schedule": 30.0,
        "options": {"expires": 60},
    },
    "record-bot-metrics": {
        "task": "autogrid.scheduling.tasks.record_bot_metrics",
        "schedule": 30.0,
        "options": {"expires": 60},
    },
}


def _beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    schedule: dict[str, dict[str, Any]] = {
        # Fails backtests a dead worker left running; re-sends queued ones whose message was lost.
        "recover-backtests": _every(
            "autogrid.backtest.tasks.recover_backtests", 300.0, expires=300
        ),
    }
    # A row per login otherwise accumulates forever; batches keep each run short.
    schedule["prune-refresh-tokens"] = _every(
        "autogrid.auth.tasks.prune_refresh_tokens", 3600.0, expires=3600
    )
    # Accepted signals whose execution message was lost (sent once their commit is visible).
    schedule["sweep-signals"] = _every("autogrid.signals.tasks.sweep_signals", 15.0, expires=15)
    schedule.update(RUNTIME_BEAT_SCHEDULE)
    # Idempotent: a second run finds nothing older than the retention left to delete.
    schedule["prune-events"] = _every("autogrid.events.tasks.prune_events", 3600.0, expires=3600)
    # The notification outbox: claims with a lease, so overlapping runs never send a row twice
    # at once; a run that finds nothing costs one indexed query.
    schedule["deliver-notifications"] = _every(
        "autogrid.notifications.tasks.deliver_notifications", 2.0, expires=10
    )
    # Commands to the platform's Telegram bot when it has no webhook (no public URL): one short
    # getUpdates pass; a lease lets one process poll, each update is handled once.
    if settings.telegram_bot_token is not None and settings.telegram_webhook_secret is None:
        schedule["poll-telegram-updates"] = _every(
            "autogrid.notifications.tasks.poll_telegram_updates", 2.0, expires=10
        )
    # Received signals are kept SIGNAL_RETENTION_DAYS (idempotent, bounded batches).
    schedule["prune-signals"] = _every("autogrid.signals.tasks.prune_signals", 3600.0, expires=3600)
    # The delivery log follows the journal's retention (idempotent, bounded batches).
    schedule["prune-notification-deliveries"] = _every(
        "autogrid.notifications.tasks.prune_deliveries", 3600.0, expires=3600
    )
    # The dead-man check: each stall is journalled once (bot_stall_alerts), whoever runs it.
    schedule["alert-stalled-bots"] = _every(
        "autogrid.notifications.tasks.alert_stalled_bots", 60.0, expires=60
    )
    # Daily summaries at each user's local hour: keyed per user and day, so a second beat or an
    # overlapping run sends nothing twice; every 5 minutes is the latest a summary comes.
    schedule["send-daily-summaries"] = _every(
        "autogrid.notifications.tasks.send_daily_summaries", 300.0, expires=300
    )
    if is_embedded(settings):
        schedule["prune-embedded-broker"] = _every(
            "autogrid.worker.tasks.prune_processed_messages", 3600.0
        )
    return schedule


def _every(task: str, seconds: float, *, expires: int | None = None) -> dict[str, Any]:
    """A beat entry running ``task`` every ``seconds``; a message older than ``expires`` seconds
    is dropped unrun (the next one is on its way)."""
    entry: dict[str, Any] = {"task": task, "schedule": seconds}
    if expires is not None:
        entry["options"] = {"expires": expires}
    return entry


def create_celery(settings: Settings) -> AutoGridCelery:
    # Commits that write events wake the API's live streams (through Redis when it runs).
    announcer.configure(settings)
    namespace = celery_namespace(settings)
    embedded = is_embedded(settings)
    backend = _result_backend(settings)
    app = AutoGridCelery(
        "autogrid",
        settings=settings,
        broker=EMBEDDED_BROKER_CONNECTION_URL if embedded else settings.broker_url,
        backend=backend,
        include=list(TASK_MODULES),
        task_cls=AutoGridTask,
    )
    app.conf.update(
        # JSON only: a pickled message from anyone who can write to the broker would run code.
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        # At least once, one message at a time per process: see the module docstring.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # A lost broker connection redelivers unacknowledged messages; stop the running copies
        # rather than let them run alongside the redelivered ones.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_time_limit=TASK_TIME_LIMIT_SECONDS,
        task_soft_time_limit=TASK_SOFT_TIME_LIMIT_SECONDS,
        task_ignore_result=True,
        result_expires=RESULT_EXPIRES_SECONDS,
        result_backend_transport_options=_result_backend_options(settings, backend),
        # An explicit transport wins over the URL's scheme: ours instead of kombu's filesystem.
        broker_transport=EMBEDDED_TRANSPORT_PATH if embedded else None,
        broker_transport_options=_broker_options(settings),
        broker_connection_retry_on_startup=True,
        **_routing(settings, namespace),
        worker_enable_remote_control=not embedded,
        beat_scheduler=SCHEDULER_PATH,
        beat_schedule=_beat_schedule(settings),
        beat_schedule_filename=str(settings.var_dir / "celerybeat-schedule"),
    )
    return app


def _routing(settings: Settings, namespace: str) -> dict[str, Any]:
    """Queues, exchanges and routes, all under the deployment's ``namespace``."""
    backtests = backtest_queue(settings)
    return {
        "task_default_queue": namespace,
        "task_default_exchange": namespace,
        "task_default_routing_key": namespace,
        # Backtests have their own queue, so a sweep can never hold up live bot ticks on a fleet
        # that dedicates workers to each (`autogrid worker --queues ...`). Both are declared, so
        # a worker started without --queues consumes both.
        "task_queues": {
            name: {"exchange": namespace, "exchange_type": "direct", "routing_key": name}
            for name in worker_queues(settings)
        },
        "task_routes": {
            BACKTEST_TASK: {"queue": backtests, "routing_key": backtests},
            BACKTEST_CHUNK_TASK: {"queue": backtests, "routing_key": backtests},
        },
        "control_exchange": namespace,
        "event_exchange": f"{namespace}.events",
    }


def _log_like_the_api(loglevel: int | str | None = None, **_: Any) -> None:
    """Workers and beat log in the platform's format, with request ids and secret scrubbing.

    Connecting here replaces Celery's own logging set-up, which would write unscrubbed text.
    """
    settings = settings_of(current_app)
    if loglevel:
        level = logging.getLevelName(loglevel) if isinstance(loglevel, int) else loglevel.upper()
        settings = settings.model_copy(update={"log_level": level})
    configure_logging(settings)


signals.setup_logging.connect(_log_like_the_api, weak=False, dispatch_uid="autogrid.worker.logging")


def _freeze_startup_heap(**_: Any) -> None:
    """What a worker or beat keeps from its start (modules, the app, SQLAlchemy metadata, ccxt:
    ~430k objects) for its whole life, frozen out of the cyclic collector (``core.heap``), as
    the API does. Every full collection walked them all (on a 100-run sweep's worker process one
    took 0.16 s of about a second of work), and so did Python's collections at exit, for 2-5 s
    between a stop's last log line and the process's end.

    A worker's main process freezes once the task modules are imported, before the pool forks,
    so every prefork child starts with it frozen (its collections do not write to the pages it
    shares), and again once it consumes (the solo and threads pools run tasks there); beat once
    it starts scheduling."""
    freeze_startup_heap()


def _freeze_inherited_heap(**_: Any) -> None:
    """A prefork child also freezes what the main process made between that and the fork (its
    pool and consumer). Without a collection first: this runs before the child reports itself
    alive, within a time limit, and whatever garbage it inherited is small and made once."""
    gc.freeze()


for _started in (signals.worker_init, signals.worker_ready, signals.beat_init):
    _started.connect(_freeze_startup_heap, weak=False, dispatch_uid="autogrid.worker.heap")
signals.worker_process_init.connect(
    _freeze_inherited_heap, weak=False, dispatch_uid="autogrid.worker.child_heap"
)


@functools.cache
def _process_app() -> AutoGridCelery:
    return create_celery(load_settings())


def __getattr__(name: str) -> AutoGridCelery:
    """``celery_app``: the process-wide app, for ``celery -A autogrid.worker.celery_app``.

    Built from the environment on first access (``celery -A`` asks for ``app``), so importing
    :func:`create_celery` from here neither reads settings nor creates ./var folders.
    """
    if name in {"celery_app", "app"}:
        return _process_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
