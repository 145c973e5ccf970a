"""The served API process freezes its start-up heap; an app built by a test does not."""

from __future__ import annotations

import gc

import pytest
from asgi_lifespan import LifespanManager

from autogrid import app as app_module
from autogrid.app import create_app
from autogrid.cli.server import APP_FACTORY, create_served_app
from autogrid.core.config import Settings
from tests.infra import LIFESPAN_TIMEOUTS


@pytest.mark.usefixtures("unfrozen")
async def test_the_served_app_freezes_what_start_up_left_alive(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "get_settings", lambda: settings)
    application = create_served_app()
    assert gc.get_freeze_count() == 0
    async with LifespanManager(application, **LIFESPAN_TIMEOUTS):
        # The objects the process keeps (its modules, classes, the app) are out of the
        # collector's reach; a full collection no longer walks them.
        assert gc.get_freeze_count() > 0
        assert not any(tracked is application for tracked in gc.get_objects())


@pytest.mark.usefixtures("unfrozen")
async def test_an_app_built_without_the_flag_leaves_the_heap_to_the_collector(
    settings: Settings,
) -> None:
    async with LifespanManager(create_app(settings), **LIFESPAN_TIMEOUTS):
        assert gc.get_freeze_count() == 0


def test_serve_runs_the_freezing_factory() -> None:
    module, _, name = APP_FACTORY.partition(":")
    assert (module, name) == (create_served_app.__module__, create_served_app.__name__)
