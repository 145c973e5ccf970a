"""No secret in any log record, response body or error text, on success and on every failure.

Two captures: pytest's caplog (records as the handlers left them) and a handler installed first on
the root logger that renders each record the moment it is emitted, before the platform's
scrubbing filter could hide a leak.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.credentials.conftest import (
    SimKey,
    create_credential,
    credential_url,
    new_sim_key,
    stalls_expected,
)
from tests.exchange_sim import BinanceSimulator
from tests.helpers import ApiUser

pytestmark = pytest.mark.usefixtures("sim_app")


class RawCapture(logging.Handler):
    """Everything a record carries, rendered before any other handler's filter touches it."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        parts = [record.name, str(record.msg), repr(record.args)]
        with contextlib.suppress(TypeError, ValueError):
            parts.append(record.getMessage())
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        parts.extend(str(v) for k, v in vars(record).items() if k not in {"msg", "args"})
        self.texts.append("\n".join(parts))


@pytest.fixture
def raw_logs(caplog: pytest.LogCaptureFixture) -> Iterator[RawCapture]:
    caplog.set_level(logging.DEBUG)
    root = logging.getLogger()
    handler = RawCapture()
    root.handlers.insert(0, handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def _assert_clean(
    texts: list[str], bodies: list[str], keys: list[SimKey], caplog: pytest.LogCaptureFixture
) -> None:
    secrets = [value for key in keys for value in key.strings]
    captured = [
        "\n".join(
            filter(
                None,
                [record.getMessage(), record.exc_text or "", str(record.args or "")],
            )
        )
        for record in caplog.records
    ]
    assert captured, "nothing was logged: the capture is broken"
    assert len(texts) >= len(captured)
    for secret in secrets:
        for kind, pool in (("raw log", texts), ("caplog", captured), ("response", bodies)):
            leaks = [entry for entry in pool if secret in entry]
            assert not leaks, f"secret found in {kind}: {leaks[0][:300]}"


async def test_no_secret_leaks_anywhere(
    client: httpx.AsyncClient,
    user: ApiUser,
    sim: BinanceSimulator,
    sim_app: FastAPI,
    raw_logs: RawCapture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bodies: list[str] = []
    keys: list[SimKey] = []

    async def post(key: SimKey, label: str, **overrides: object) -> httpx.Response:
        keys.append(key)
        response = await client.post(
            "/api/v1/credentials", json=key.body(label, **overrides), headers=user.headers
        )
        bodies.append(response.text)
        return response

    # Success, then list / get / validate.
    good = new_sim_key(sim)
    credential = await create_credential(client, user, good, label="good")
    keys.append(good)
    for method, url in [
        ("GET", "/api/v1/credentials"),
        ("GET", credential_url(credential["id"])),
        ("POST", credential_url(credential["id"], "/validate")),
    ]:
        response = await client.request(method, url, headers=user.headers)
        assert response.status_code == 200
        bodies.append(response.text)

    # The exchange refuses: unknown key, then a known key with a wrong secret.
    unknown = SimKey("AK" + "9" * 62, good.secret + "x", good.passphrase + "x")
    assert (await post(unknown, label="unknown")).status_code == 422
    wrong_secret = new_sim_key(sim)
    bad = SimKey(wrong_secret.api_key, "SK" + "8" * 62, wrong_secret.passphrase)
    assert (await post(bad, label="bad")).status_code == 422
    keys.append(wrong_secret)

    # A key that can withdraw.
    assert (await post(new_sim_key(sim, enableWithdrawals=True), label="wd")).status_code == 422

    # Simulator faults: 5xx, rate limit, timeout, lost connection, odd answer, clock skew.
    faults: list[tuple[str, dict[str, Any], int]] = [
        ("http_error", {"status": 500, "body": "oops"}, 503),
        ("rate_limit", {"retry_after": 0}, 503),
        ("delay", {"seconds": 0.8}, 503),
        ("accepted_response_lost", {}, 503),
        ("http_error", {"status": 400, "body": '{"code":-1131,"msg":"odd"}'}, 502),
        ("timestamp", {}, 503),  # -1021 after a clock resync: still temporary
    ]
    for fault, options, status in faults:
        sim.clear_faults()
        sim.inject_fault(fault, "GET /api/v3/account", times=None, **options)
        with stalls_expected(sim_app, sim):
            response = await post(new_sim_key(sim), label=f"fault {fault}")
        assert response.status_code == status, (fault, response.text)
    sim.clear_faults()

    # Validation failures of the request itself.
    malformed = new_sim_key(sim)
    assert (await post(malformed, label="x", extra_field=malformed.secret)).status_code == 422
    spaced = new_sim_key(sim)
    assert (
        await post(spaced, label="y", api_key=spaced.api_key + " " + spaced.secret)
    ).status_code == 422

    # Validate after the key was revoked.
    del sim.exchange.accounts[good.api_key]
    revoked = await client.post(credential_url(credential["id"], "/validate"), headers=user.headers)
    assert revoked.status_code == 422
    bodies.append(revoked.text)

    _assert_clean(raw_logs.texts, bodies, keys, caplog)
    # The failures were logged (scrubbed), so the search above had something to search.
    assert any("AuthenticationError" in text for text in raw_logs.texts)
