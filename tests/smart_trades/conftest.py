"""The bot-running fixtures (tests/support/fixtures.py): live smart trades on the simulator."""

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
