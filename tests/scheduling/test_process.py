"""Runtime tasks from a threads pool (the embedded worker) each get their own event loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from autogrid.core.config import Settings, load_settings
from autogrid.engine.context import RuntimeContext
from autogrid.scheduling.process import run_in_runtime, shutdown_runtime


def test_two_threads_run_runtime_work_at_the_same_time(tmp_path: Path) -> None:
    settings: Settings = load_settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/r.db")
    both_inside = threading.Barrier(2, timeout=10)
    seen: dict[str, tuple[asyncio.AbstractEventLoop, RuntimeContext]] = {}
    errors: list[BaseException] = []

    async def work(context: RuntimeContext) -> None:
        await asyncio.sleep(0)
        await asyncio.to_thread(both_inside.wait)  # proves the two loops run concurrently
        seen[threading.current_thread().name] = (asyncio.get_running_loop(), context)

    def run() -> None:
        try:
            run_in_runtime(settings, work)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, name=f"t{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    try:
        assert errors == []
        (loop_a, context_a), (loop_b, context_b) = seen.values()
        assert loop_a is not loop_b and context_a is not context_b
    finally:
        shutdown_runtime()
