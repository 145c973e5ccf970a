"""Only one beat schedules at a time; a standby takes over when the leader goes away."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from autogrid.core.config import load_settings
from autogrid.core.redis import key
from autogrid.worker.beat import LOCK_TTL_CONF_KEY, SingleInstanceScheduler
from autogrid.worker.celery_app import create_celery
from autogrid.worker.locks import FileLeaderLock, RedisLeaderLock
from tests.worker.processes import AUTOGRID, process_env, running, tail, wait_until


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    value = f"agtest:{uuid.uuid4().hex[:10]}:"
    yield value
    for stale in redis_client.scan_iter(match=f"{value}*", count=1000):
        redis_client.delete(stale)


# --- The Redis lock ----------------------------------------------------------------------------


def test_redis_lock_has_one_holder_and_passes_on_after_expiry(
    redis_client: redis.Redis, prefix: str
) -> None:
    lock_key = f"{prefix}beat:leader"
    first = RedisLeaderLock(redis_client, lock_key, ttl_seconds=1.0)
    second = RedisLeaderLock(redis_client, lock_key, ttl_seconds=1.0)

    assert first.hold()
    assert not second.hold()
    assert redis_client.get(lock_key) == first.token.encode()

    # The holder renews: past the original lifetime it still holds, the other still waits.
    for _ in range(6):
        time.sleep(0.25)
        assert first.hold()
        assert not second.hold()

    # The holder stops renewing (crashed or stalled): once the key expires the standby takes it,
    # and the old holder learns it lost the lock instead of carrying on.
    time.sleep(1.3)
    assert second.hold()
    assert redis_client.get(lock_key) == second.token.encode()
    assert not first.hold()

    # Releasing someone else's lock does nothing; releasing one's own hands it over at once.
    first.release()
    assert redis_client.get(lock_key) == second.token.encode()
    second.release()
    assert redis_client.get(lock_key) is None
    assert first.hold()


class FlakyRedis:
    """A real client whose scripts fail while ``down`` is set (Redis unreachable)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.down = False

    def register_script(self, source: str) -> Callable[..., Any]:
        script = self.client.register_script(source)

        def call(**kwargs: Any) -> Any:
            if self.down:
                raise redis.ConnectionError("Redis is down")
            return script(**kwargs)

        return call


def test_holder_cut_off_from_redis_stops_before_its_key_can_expire(
    redis_client: redis.Redis, prefix: str
) -> None:
    now = [0.0]
    flaky = FlakyRedis(redis_client)
    lock = RedisLeaderLock(
        flaky,  # type: ignore[arg-type]
        f"{prefix}beat:leader",
        ttl_seconds=10,
        clock=lambda: now[0],
    )
    assert lock.hold()
    flaky.down = True
    now[0] = 4.0  # renewal due, Redis unreachable, but nobody else can hold the key yet
    assert lock.hold()
    now[0] = 9.0  # the key may have expired on the server by now: stop acting
    assert not lock.hold()
    flaky.down = False
    assert lock.hold()  # the key was still ours: renewed


def test_a_renewal_answered_after_the_lock_could_expire_grants_nothing(
    redis_client: redis.Redis, prefix: str
) -> None:
    """The answer took longer than the trusted lifetime (a stalled network, a paused process):
    the key may be someone else's by now, whatever the script said when it ran."""
    now = [0.0]

    class SlowRedis(FlakyRedis):
        def register_script(self, source: str) -> Callable[..., Any]:
            script = self.client.register_script(source)

            def call(**kwargs: Any) -> Any:
                result = script(**kwargs)
                now[0] += 10  # the answer arrives a whole lifetime later
                return result

            return call

    lock = RedisLeaderLock(
        SlowRedis(redis_client),  # type: ignore[arg-type]
        f"{prefix}beat:leader",
        ttl_seconds=10,
        clock=lambda: now[0],
    )
    assert not lock.hold()
    assert not lock.still_held()


def test_nobody_leads_while_redis_is_unreachable() -> None:
    no_retries = Retry(NoBackoff(), 0)
    unreachable = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=no_retries
    )
    lock = RedisLeaderLock(unreachable, "agtest:unreachable", ttl_seconds=5)
    assert not lock.hold()


# --- The file lock (embedded mode) -------------------------------------------------------------


def test_file_lock_has_one_holder_and_passes_on_when_released(tmp_path: Path) -> None:
    path = tmp_path / "beat.lock"
    first, second = FileLeaderLock(path), FileLeaderLock(path)
    assert first.hold()
    assert first.hold()  # holding is stable
    assert not second.hold()
    first.release()
    assert second.hold()
    assert not first.hold()
    second.release()


def test_file_lock_passes_on_when_its_holder_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "beat.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, pathlib\n"
            "from autogrid.worker.locks import FileLeaderLock\n"
            f"lock = FileLeaderLock(pathlib.Path({str(path)!r}))\n"
            "assert lock.hold()\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"held"
        standby = FileLeaderLock(path)
        assert not standby.hold()
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert standby.hold()
        standby.release()
    finally:
        holder.kill()
        holder.wait()


# --- The scheduler ---------------------------------------------------------------------------


class RecordingScheduler(SingleInstanceScheduler):
    """Records what it would send instead of publishing it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sent: list[str] = []
        super().__init__(*args, **kwargs)

    def apply_async(self, entry: Any, producer: Any = None, advance: bool = True, **_: Any) -> None:
        self.sent.append(entry.name)


def run_ticks(scheduler: RecordingScheduler, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(max(0.0, min(scheduler.tick(), 0.05)))


def test_only_the_leading_scheduler_sends_due_tasks(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    settings = load_settings(
        environment="development",
        redis_url=redis_url,
        redis_key_prefix=prefix,
        var_dir=tmp_path / "var",
    )
    app = create_celery(settings)
    app.conf[LOCK_TTL_CONF_KEY] = 3
    app.conf.beat_schedule = {"probe": {"task": "autogrid.worker.tasks.ping", "schedule": 0.1}}

    leader, standby = RecordingScheduler(app=app), RecordingScheduler(app=app)
    try:
        run_ticks(leader, 0.5)
        run_ticks(standby, 0.5)
        assert leader.is_leader and "probe" in leader.sent
        assert not standby.is_leader and standby.sent == []

        leader.close()  # a clean shutdown hands over without waiting for the lock to expire
        run_ticks(standby, 0.5)
        assert standby.is_leader and "probe" in standby.sent
    finally:
        standby.close()
        leader.close()


def test_a_leader_paused_after_its_check_sends_nothing_once_its_lock_may_have_expired(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, prefix: str
) -> None:
    settings = load_settings(
        environment="development",
        redis_url=redis_url,
        redis_key_prefix=prefix,
        var_dir=tmp_path / "var",
    )
    app = create_celery(settings)
    app.conf.beat_schedule = {"probe": {"task": "autogrid.worker.tasks.ping", "schedule": 0.1}}
    now = [0.0]
    scheduler = RecordingScheduler(app=app)
    scheduler.leader_lock = RedisLeaderLock(
        redis_client, key(settings, "beat", "leader"), ttl_seconds=3, clock=lambda: now[0]
    )
    try:
        assert scheduler.leader_lock.hold()
        probe = scheduler.schedule["probe"]
        scheduler.apply_entry(probe)
        assert scheduler.sent == ["probe"]

        now[0] += 3  # paused (SIGSTOP, a suspend, starved) between hold() and the send
        scheduler.apply_entry(probe)
        assert scheduler.sent == ["probe"]
        assert not scheduler.is_leader
    finally:
        scheduler.close()


def _lock_holder_pid(client: redis.Redis, lock_key: str) -> int | None:
    token = client.get(lock_key)
    if not token:
        return None
    assert isinstance(token, bytes)  # the client does not decode responses
    return int(token.decode().split(":")[1])


@pytest.mark.slow
def test_two_beat_processes_one_leader_and_takeover_after_a_crash(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, prefix: str
) -> None:
    ttl = 3.0
    settings = load_settings(environment="development", redis_key_prefix=prefix)
    lock_key = key(settings, "beat", "leader")
    env = process_env(redis_url=redis_url, redis_key_prefix=prefix, log_json="false")
    argv = [*AUTOGRID, "beat", "--lock-ttl", str(ttl)]
    logs = [tmp_path / "beat-a.log", tmp_path / "beat-b.log"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        running(argv, env=env, cwd=tmp_path / "a", log=logs[0]) as beat_a,
        running(argv, env=env, cwd=tmp_path / "b", log=logs[1]) as beat_b,
    ):
        by_pid = {beat_a.pid: (beat_a, logs[0]), beat_b.pid: (beat_b, logs[1])}

        def both_running_with_a_leader() -> bool:
            return _lock_holder_pid(redis_client, lock_key) in by_pid and all(
                "standing by" in log.read_text() or "acquired" in log.read_text()
                for log in logs
                if log.exists()
            )

        assert wait_until(both_running_with_a_leader, 60), tail(logs[0]) + tail(logs[1])
        leader_pid = _lock_holder_pid(redis_client, lock_key)
        assert leader_pid is not None
        standby_pid = next(pid for pid in by_pid if pid != leader_pid)
        standby_log = by_pid[standby_pid][1]
        assert wait_until(lambda: "standing by" in standby_log.read_text(), 30), tail(standby_log)
        # Leadership is stable while the leader lives (it renews within its TTL).
        time.sleep(ttl * 1.5)
        assert _lock_holder_pid(redis_client, lock_key) == leader_pid

        by_pid[leader_pid][0].send_signal(signal.SIGKILL)  # no chance to release the lock
        took_over = wait_until(
            lambda: _lock_holder_pid(redis_client, lock_key) == standby_pid, ttl * 3 + 5
        )
        assert took_over, tail(standby_log)
        # The lock is taken before the line saying so is written.
        assert wait_until(lambda: "acquired" in standby_log.read_text(), 30), tail(standby_log)
