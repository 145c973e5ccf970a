"""Only keys the exchange accepted are registered with the log scrubber, while they exist."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from autogrid.observability.redaction import REDACTED, clear_registered_secrets, scrub
from tests.credentials.conftest import SimKey, create_credential, credential_url, new_sim_key
from tests.exchange_sim import BinanceSimulator
from tests.helpers import ApiUser

pytestmark = pytest.mark.usefixtures("sim_app")


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    clear_registered_secrets()
    yield
    clear_registered_secrets()


async def test_a_refused_key_cannot_blank_out_log_lines(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    """A user posting their own id as a key used to make every line naming them read [REDACTED]."""
    own_id = str(user.id)
    chosen = SimKey(api_key=own_id, secret=f"user_id={own_id}", passphrase=own_id + "-pp")
    response = await client.post(
        "/api/v1/credentials", json=chosen.body("mine"), headers=user.headers
    )
    assert response.status_code == 422, response.text
    line = f"bot started user_id {own_id}"
    assert scrub(line) == line


async def test_an_accepted_key_is_scrubbed_until_its_credential_is_deleted(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    key = new_sim_key(sim)
    credential = await create_credential(client, user, key)
    for secret in key.strings:
        assert scrub(f"ccxt echoed {secret}") == f"ccxt echoed {REDACTED}"
    deleted = await client.delete(credential_url(credential["id"]), headers=user.headers)
    assert deleted.status_code == 204
    assert scrub(f"ccxt echoed {key.api_key}") == f"ccxt echoed {key.api_key}"
