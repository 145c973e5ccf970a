"""A real worker process runs a task end to end, on Redis and on the embedded file-system broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from autogrid.core.config import Settings, load_settings
from autogrid.worker.celery_app import celery_namespace, create_celery
from tests.worker.processes import AUTOGRID, CELERY, process_env, running, tail

pytestmark = pytest.mark.slow

RESULT_TIMEOUT_SECONDS = 60


@pytest.fixture
def isolated_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix (and so queue names) no other test run uses; its keys are removed after."""
    prefix = f"agtest:{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)
    client.close()


def test_worker_on_redis_answers_ping_through_the_database(
    tmp_path: Path, pg_url: str, redis_url: str, isolated_prefix: str
) -> None:
    settings = load_settings(
        environment="development",
        database_url=pg_url,
        redis_url=redis_url,
        redis_key_prefix=isolated_prefix,
        var_dir=tmp_path / "var",
    )
    env = process_env(
        database_url=pg_url,
        redis_url=redis_url,
        redis_key_prefix=isolated_prefix,
        var_dir=str(tmp_path / "var"),
        log_json="false",
    )
    log = tmp_path / "worker.log"
    # The documented production entry point: celery -A autogrid.worker.celery_app worker.
    argv = [*CELERY, "-A", "autogrid.worker.celery_app", "worker", "--pool=solo", "-l", "INFO"]
    with running(argv, env=env, cwd=tmp_path, log=log):
        result = create_celery(settings).send_task("autogrid.worker.tasks.ping")
        try:
            answer = result.get(timeout=RESULT_TIMEOUT_SECONDS)
        except Exception as error:
            pytest.fail(f"no answer from the worker ({error!r}); its log:\n{tail(log)}")
    assert answer == "pong"
    assert f"Task autogrid.worker.tasks.ping[{result.id}] succeeded" in log.read_text()


def test_messages_stay_under_the_deployment_prefix(
    tmp_path: Path, redis_url: str, isolated_prefix: str
) -> None:
    """Two deployments (or test runs) on one Redis never see each other's messages."""
    settings = load_settings(
        environment="development",
        redis_url=redis_url,
        redis_key_prefix=isolated_prefix,
        var_dir=tmp_path / "var",
    )
    app = create_celery(settings)
    app.send_task("autogrid.worker.tasks.ping")
    client = redis.Redis.from_url(redis_url)
    try:
        queue_key = f"{isolated_prefix}{celery_namespace(settings)}"
        assert client.llen(queue_key) == 1
        assert client.llen(celery_namespace(settings)) == 0
    finally:
        client.close()


def embedded_settings(var_dir: Path) -> Settings:
    return load_settings(
        environment="development",
        database_url=f"sqlite+aiosqlite:///{var_dir / 'autogrid.db'}",
        var_dir=var_dir,
    )


def test_embedded_worker_answers_ping_without_any_server(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    settings = embedded_settings(var_dir)
    assert settings.broker_url == "filesystem://"
    env = process_env(
        var_dir=str(var_dir),
        database_url=settings.database_url,
        log_json="false",
    )
    log = tmp_path / "worker.log"
    with running([*AUTOGRID, "worker"], env=env, cwd=tmp_path, log=log):
        result = create_celery(settings).send_task("autogrid.worker.tasks.ping")
        try:
            answer = result.get(timeout=RESULT_TIMEOUT_SECONDS)
        except Exception as error:
            pytest.fail(f"no answer from the worker ({error!r}); its log:\n{tail(log)}")
    assert answer == "pong"
    # The message went through files under VAR_DIR, and the worker consumed it.
    broker_dir = var_dir / "broker"
    assert list((broker_dir / "queue").glob("*.msg")) == []
    assert len(list((broker_dir / "processed").glob("*.msg"))) == 1
    assert (var_dir / "celery-results" / f"celery-task-meta-{result.id}").exists()
