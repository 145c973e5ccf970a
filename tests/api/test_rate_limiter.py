"""Who a request is counted against, and how the limiter rides out (and notices the end of) an
outage of its storage, without a server."""

from __future__ import annotations

import logging
import uuid

import pytest
from limits import parse

from autogrid.api.rate_limits import (
    OUTAGE_RECHECK_SECONDS,
    ApiRateLimiter,
    ApiRateLimits,
    Caller,
)
from autogrid.auth.tokens import issue_access_token, issue_refresh_token
from autogrid.core.config import Settings
from autogrid.core.moving_window import MemoryMovingWindow, WindowHit, WindowUnavailable
from autogrid.core.sqltypes import utcnow
from autogrid.models import Plan, Role


@pytest.fixture
def limits(settings: Settings) -> ApiRateLimits:
    return ApiRateLimits(
        settings.model_copy(
            update={
                "rate_limit_api_default": "10/minute",
                "rate_limit_api_plans": {Plan.PRO: "20/minute"},
                "rate_limit_api_admin": "30/minute",
                "rate_limit_api_anonymous": "5/minute",
            }
        )
    )


def bearer(settings: Settings, plan: str | None = None, role: str | None = None) -> str:
    token = issue_access_token(settings, uuid.uuid4(), utcnow(), plan=plan, role=role).token
    return f"Bearer {token}"


def test_a_users_budget_follows_the_plan_and_role_in_the_token(
    limits: ApiRateLimits, settings: Settings
) -> None:
    user_id = uuid.uuid4()
    token = issue_access_token(settings, user_id, utcnow(), plan=Plan.PRO).token
    assert limits.caller(f"Bearer {token}", "192.0.2.1") == Caller(
        f"user:{user_id}", parse("20/minute")
    )
    assert limits.caller(f"bearer {token}", None).key == f"user:{user_id}"
    assert limits.caller(bearer(settings, plan=Plan.FREE), None).limit == parse("10/minute")
    admin = bearer(settings, plan=Plan.FREE, role=Role.ADMIN)
    assert limits.caller(admin, None).limit == parse("30/minute")
    # A token from before plans were in tokens gets the default.
    assert limits.caller(bearer(settings), None).limit == parse("10/minute")


def test_anything_but_a_valid_access_token_is_counted_per_address(
    limits: ApiRateLimits, settings: Settings
) -> None:
    refresh = issue_refresh_token(settings, uuid.uuid4(), uuid.uuid4(), utcnow()).token
    address = limits.caller(None, "192.0.2.1")
    assert address.key.startswith("address:") and address.limit == parse("5/minute")
    assert "192.0.2.1" not in address.key  # stored hashed
    for authorization in ("Bearer forged", f"Bearer {refresh}", "Basic abc", "Bearer ", ""):
        assert limits.caller(authorization, "192.0.2.1") == address
    # One IPv6 host commonly holds a whole /64: it is one caller, not 2^64 of them.
    first = limits.caller(None, "2001:db8:1:2::1")
    assert first == limits.caller(None, "2001:db8:1:2:ffff::9")
    assert first != limits.caller(None, "2001:db8:1:3::1")


class FlakyWindow(MemoryMovingWindow):
    """The memory window, unreachable while ``down`` is set; counts the attempts."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.attempts = 0

    async def hit(
        self, key: str, limit: int, window_seconds: int, also_read: tuple[str, str] | None = None
    ) -> WindowHit:
        self.attempts += 1
        if self.down:
            raise WindowUnavailable(ConnectionError("connection refused"))
        return await super().hit(key, limit, window_seconds, also_read)


async def test_an_outage_fails_open_until_the_storage_answers_again(
    limits: ApiRateLimits, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1000.0]
    storage = FlakyWindow()
    limiter = ApiRateLimiter(limits, storage, clock=lambda: now[0])
    caller = Caller("user:x", parse("1/minute"))
    storage.down = True
    with caplog.at_level(logging.WARNING, logger="autogrid.api.rate_limits"):
        assert await limiter.hit(caller) is None
        # Within the recheck pause nothing asks the storage (a hanging Redis costs one wait).
        now[0] += OUTAGE_RECHECK_SECONDS / 2
        assert await limiter.hit(caller) is None
        assert storage.attempts == 1
        storage.down = False
        now[0] += OUTAGE_RECHECK_SECONDS
        first = await limiter.hit(caller)
        second = await limiter.hit(caller)
    assert first is not None and first.allowed
    assert second is not None and not second.allowed and second.reset_seconds >= 1
    messages = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert [level for level, _ in messages] == [logging.ERROR, logging.WARNING]
    assert "API rate limits are off" in messages[0][1] and "ConnectionError" in messages[0][1]
    assert "API rate limits are back" in messages[1][1]
