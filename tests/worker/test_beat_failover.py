"""Beat fail-over with real processes: when the leader is killed, the standby's first send follows
the leader's last one within 5 s, and the two never send alongside each other.

The times are the beat processes' own: each logs (JSON, millisecond timestamps) every task it
sends, "Scheduler: Sending due task ...", right before publishing it. Both modes are covered: the
Redis lock (a production deployment) and the file lock of the embedded mode (no Redis).
"""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import redis

from tests.worker.processes import AUTOGRID, process_env, running, tail, wait_until

FAILOVER_LIMIT_SECONDS = 5.0
SENDING = "Scheduler: Sending due task "
# Generous: processes start slowly on a loaded machine. No assertion is about these.
START_DEADLINE = 120.0
TAKEOVER_DEADLINE = 90.0


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    value = f"agtest:{uuid.uuid4().hex[:10]}:"
    yield value
    client = redis.Redis.from_url(redis_url)
    for stale in client.scan_iter(match=f"{value}*", count=1000):
        client.delete(stale)
    client.close()


def sends(log: Path) -> list[tuple[datetime, str]]:
    """(time, task entry) of every task this beat sent, from its JSON log."""
    found = []
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # Celery's start-up banner is plain text
        message = record.get("message", "") if isinstance(record, dict) else ""
        if message.startswith(SENDING):
            stamp = datetime.fromisoformat(record["ts"].replace("Z", "+00:00"))
            found.append((stamp, message[len(SENDING) :].split(" ")[0]))
    return found


def logged(log: Path, words: str) -> bool:
    return log.exists() and words in log.read_text(errors="replace")


@pytest.mark.slow
@pytest.mark.parametrize("lock", ["redis", "file"])
def test_a_killed_leader_is_replaced_within_5_seconds_and_never_overlapped(
    lock: str, tmp_path: Path, redis_url: str, prefix: str
) -> None:
    settings = {"log_json": "true", "log_level": "INFO", "var_dir": str(tmp_path / "var")}
    if lock == "redis":
        settings.update(redis_url=redis_url, redis_key_prefix=prefix)
    env = process_env(**settings)
    argv = [*AUTOGRID, "beat"]  # the default lock lifetime is what is under test
    logs = {name: tmp_path / f"beat-{name}.log" for name in ("leader", "standby")}
    for name in logs:
        (tmp_path / name).mkdir()

    with running(argv, env=env, cwd=tmp_path / "leader", log=logs["leader"]) as leader:
        assert wait_until(lambda: len(sends(logs["leader"])) >= 2, START_DEADLINE), tail(
            logs["leader"]
        )
        with running(argv, env=env, cwd=tmp_path / "standby", log=logs["standby"]):
            assert wait_until(lambda: logged(logs["standby"], "standing by"), START_DEADLINE), tail(
                logs["standby"]
            )
            # Both run for a while: the leader keeps sending (it renews its lock in time) and
            # the standby sends nothing.
            seen = len(sends(logs["leader"]))
            assert wait_until(lambda: len(sends(logs["leader"])) >= seen + 5, START_DEADLINE)
            assert sends(logs["standby"]) == []

            leader.send_signal(signal.SIGKILL)  # no chance to release its lock
            leader.wait(30)
            took_over = wait_until(lambda: sends(logs["standby"]) != [], TAKEOVER_DEADLINE)
            assert took_over, tail(logs["standby"])

    old, new = sends(logs["leader"]), sends(logs["standby"])
    last_old, first_new = max(t for t, _ in old), min(t for t, _ in new)
    gap = (first_new - last_old).total_seconds()
    # Never two schedulers at once: everything the standby sent came after the leader's last.
    assert gap > 0, (old[-3:], new[:3])
    assert gap < FAILOVER_LIMIT_SECONDS, f"no ticks for {gap:.2f} s\n{tail(logs['standby'])}"
    assert "claim-due-bot-ticks" in {name for _, name in new}
