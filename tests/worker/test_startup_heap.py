"""Workers and beat freeze their start-up heap once started, as the served API does
(tests/cli/test_served_app.py): their exit no longer walks it for seconds."""

from __future__ import annotations

import gc

import pytest
from celery import signals
from celery.utils.dispatch import Signal

import autogrid.worker.celery_app  # noqa: F401 - connects the receivers under test


@pytest.mark.usefixtures("unfrozen")
@pytest.mark.parametrize(
    "started",
    [signals.worker_ready, signals.worker_process_init, signals.beat_init],
    ids=["worker ready", "prefork child", "beat"],
)
def test_a_started_worker_or_beat_freezes_what_start_up_left_alive(started: Signal) -> None:
    assert gc.get_freeze_count() == 0
    started.send(sender=None)
    assert gc.get_freeze_count() > 0
