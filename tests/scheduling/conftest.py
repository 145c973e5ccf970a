"""The fixtures shared with the other bot-running tests (tests/support/fixtures.py)."""

from tests.support.fixtures import (  # noqa: F401 (fixtures are found by name)
    bot_id,
    client_timeout_ms,
    clock,
    credential_id,
    ctx,
    live,
    make_connector,
    manager,
    sim,
    user_id,
)
