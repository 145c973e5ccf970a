"""What every task builds on: the task base class, async execution and a session per task.

A task receives ids, never ORM objects, and opens its own database session: the job may run in
another process, minutes later, after the row changed. Each call of :func:`run_async` gets a fresh
event loop, so the engine behind :func:`task_session` is created and disposed inside that loop
(asyncpg connections cannot cross loops). That costs one connection per task, which is cheap next
to an exchange round trip and keeps worker processes free of shared async state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from celery import Task, current_app, current_task, shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.config import Settings, get_settings
from autogrid.core.db import Database

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class AutoGridTask(Task):  # type: ignore[misc]  # celery ships no type hints
    """Base class of every task of the AutoGrid Celery app (its ``task_cls``).

    Delivery is at least once (late acknowledgement): a task must be idempotent.
    """

    @property
    def settings(self) -> Settings:
        return settings_of(self.app)

    def run_async(self, coroutine: Coroutine[Any, Any, R]) -> R:
        return run_async(coroutine)


def settings_of(app: Any) -> Settings:
    """The settings a Celery app was built with, or the process settings for a foreign app."""
    settings = getattr(app, "settings", None)
    return settings if isinstance(settings, Settings) else get_settings()


def task_settings() -> Settings:
    """Settings of the app running the current task (process settings outside a task)."""
    running = current_task._get_current_object()  # a proxy; None outside a task
    if running is None:
        return get_settings()
    return settings_of(running.app)


def task_app() -> Any:
    """The Celery app running the current task (Celery's current app outside a task)."""
    running = current_task._get_current_object()
    return current_app if running is None else running.app


def run_async(coroutine: Coroutine[Any, Any, R]) -> R:
    """Run async code from a (synchronous) Celery task, in a loop of its own."""
    return asyncio.run(coroutine)


@asynccontextmanager
async def task_session(settings: Settings | None = None) -> AsyncIterator[AsyncSession]:
    """One unit of work for a task: commits if the block succeeds, rolls back if it raises."""
    database = Database.from_settings(settings or task_settings(), pooled=False)
    try:
        async with database.session_scope() as session:
            yield session
    finally:
        await database.dispose()


def run_in_session(
    work: Callable[[AsyncSession], Coroutine[Any, Any, R]], settings: Settings | None = None
) -> R:
    """Run ``work(session)`` in its own event loop and transaction; return its result."""

    async def unit_of_work() -> R:
        async with task_session(settings) as session:
            return await work(session)

    return run_async(unit_of_work())


class TaskHandle(Protocol[P, R_co]):
    """The typed face of a registered task: call it directly, or send it with delay/apply_async."""

    name: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> Any: ...

    def apply_async(
        self,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Any: ...


def task(**options: Any) -> Callable[[Callable[P, R]], TaskHandle[P, R]]:
    """Register a function as a task of whichever AutoGrid app is running (typed shared_task).

    The task is named after its module and function unless ``name=`` is given, so a message
    always reaches the same code whatever imported it. Results are ignored unless the task asks
    for them (``ignore_result=False``); the app-wide default keeps Redis from filling with them.
    """

    def register(function: Callable[P, R]) -> TaskHandle[P, R]:
        named = {"name": f"{function.__module__}.{function.__name__}", **options}
        return cast("TaskHandle[P, R]", shared_task(**named)(function))

    return register
