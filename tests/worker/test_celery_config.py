"""The Celery settings that keep tasks safe to redeliver, and isolation between deployments."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from autogrid.core.config import Settings, load_settings
from autogrid.worker.celery_app import (
    TASK_MODULES,
    VISIBILITY_TIMEOUT_SECONDS,
    celery_namespace,
    create_celery,
)

REDIS = "redis://127.0.0.1:6379/0"


def settings_for(tmp_path: Path, **values: object) -> Settings:
    return load_settings(environment="development", var_dir=tmp_path / "var", **values)


def test_delivery_is_late_acknowledged_one_at_a_time_and_json_only(tmp_path: Path) -> None:
    conf = create_celery(settings_for(tmp_path, redis_url=REDIS)).conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json"
    assert conf.result_serializer == "json"
    assert list(conf.accept_content) == ["json"]
    assert list(conf.result_accept_content) == ["json"]
    # A task still running when Redis redelivers it would run twice in parallel.
    assert conf.task_time_limit < VISIBILITY_TIMEOUT_SECONDS


def test_redis_deployment_keeps_its_keys_and_queues_under_its_prefix(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, redis_url=REDIS, redis_key_prefix="tenant-a:")
    app = create_celery(settings)
    assert app.conf.broker_url == REDIS
    assert app.conf.result_backend == REDIS
    assert app.conf.broker_transport_options == {
        "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
        "global_keyprefix": "tenant-a:",
    }
    assert app.conf.result_backend_transport_options == {"global_keyprefix": "tenant-a:"}
    assert app.conf.task_default_queue == "tenant-a"
    assert app.conf.control_exchange == "tenant-a"
    assert app.conf.event_exchange == "tenant-a.events"
    assert app.conf.worker_enable_remote_control is True


def test_namespace_is_safe_for_every_transport(tmp_path: Path) -> None:
    assert celery_namespace(settings_for(tmp_path)) == "autogrid"
    odd = settings_for(tmp_path, redis_key_prefix="ag test:42/x:")
    assert celery_namespace(odd) == "ag.test.42.x"
    assert celery_namespace(settings_for(tmp_path, redis_key_prefix=":::")) == "autogrid"


def test_explicit_result_backend_wins(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, redis_url=REDIS, celery_result_backend="redis://127.0.0.1:6379/5"
    )
    assert create_celery(settings).conf.result_backend == "redis://127.0.0.1:6379/5"


def test_embedded_mode_keeps_messages_and_results_under_var(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    app = create_celery(settings)
    broker_dir = (tmp_path / "var" / "broker").resolve()
    options = app.conf.broker_transport_options
    assert app.conf.broker_url.startswith("filesystem://")
    assert options["data_folder_in"] == options["data_folder_out"] == str(broker_dir / "queue")
    assert options["processed_folder"] == str(broker_dir / "processed")
    assert options["control_folder"] == str(broker_dir / "control")
    for folder in ("queue", "processed", "control"):
        assert (broker_dir / folder).is_dir()
    results = (tmp_path / "var" / "celery-results").resolve()
    assert app.conf.result_backend == f"file://{results}"
    assert results.is_dir()
    assert app.conf.worker_enable_remote_control is False
    assert "prune-embedded-broker" in app.conf.beat_schedule


def test_every_task_module_is_included_and_registers_its_tasks(tmp_path: Path) -> None:
    app = create_celery(settings_for(tmp_path))
    assert list(app.conf.include) == list(TASK_MODULES)
    app.loader.import_default_modules()
    assert "autogrid.worker.tasks.ping" in app.tasks
    assert "autogrid.worker.tasks.prune_processed_messages" in app.tasks
    assert app.tasks["autogrid.worker.tasks.ping"].ignore_result is False


def test_the_app_remembers_its_settings(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, redis_key_prefix="remember:")
    assert create_celery(settings).settings is settings


def test_backtests_have_their_own_queue_and_workers_consume_every_queue(tmp_path: Path) -> None:
    from autogrid.worker.celery_app import BACKTEST_TASK, backtest_queue, worker_queues

    settings = load_settings(
        var_dir=tmp_path, redis_url="redis://127.0.0.1:6379/0", redis_key_prefix="deploy1:"
    )
    app = create_celery(settings)
    route = app.amqp.router.route({}, BACKTEST_TASK)
    assert route["queue"].name == backtest_queue(settings) == "deploy1.backtests"
    tick = app.amqp.router.route({}, "autogrid.scheduling.tasks.tick_bot")
    assert tick["queue"].name == "deploy1"
    assert set(app.amqp.queues) == set(worker_queues(settings))


def test_a_worker_freezes_its_startup_heap_before_forking_and_each_child_what_it_inherits() -> None:
    """The signals Celery sends in the main process once the task modules are imported, then in
    each prefork child: what they hold by then leaves the collector's reach (in a process of its
    own: a frozen heap would outlive this test)."""
    probe = (
        "import gc, autogrid.worker.celery_app\n"
        "from celery import signals\n"
        "before = gc.get_freeze_count()\n"
        "signals.worker_init.send(sender=None)\n"
        "started = gc.get_freeze_count()\n"
        "made_after = [[] for _ in range(1000)]  # the pool and consumer, say\n"
        "signals.worker_process_init.send(sender=None)\n"
        "print(before, started, gc.get_freeze_count())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    before, started, child = map(int, done.stdout.split())
    assert before == 0
    assert started > 10_000  # the modules, the app and their metadata
    assert child >= started + 1000
