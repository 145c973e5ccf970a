"""Fixtures: the Binance simulator, and the app's connector factory pointed at it (real ccxt)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt
import httpx
import pytest
from fastapi import FastAPI

from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.budget import MemoryBudgets, RequestBudgets, credential_key
from autogrid.exchanges.ccxt import CcxtConnector, budget_spec_for
from autogrid.exchanges.pool import ConnectorFactory, ConnectorKey
from autogrid.exchanges.retry import RetryPolicy
from autogrid.exchanges.types import ApiCredentials
from tests.exchange_sim import BinanceSimulator
from tests.helpers import ApiUser

# Generous, so a loaded machine never turns a good answer into a timeout; tests that inject a
# stall use STALL_TIMEOUT_MS (stall_sensitive_factory) so they need not wait seconds per attempt.
CLIENT_TIMEOUT_MS = 10_000
STALL_TIMEOUT_MS = 400
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, max_elapsed=5)


def sim_api_urls(sim_url: str) -> dict[str, str]:
    """Every Binance REST base URL rebased onto the simulator (host swapped, path kept)."""
    target = urlsplit(sim_url)
    urls: dict[str, Any] = ccxt.binance().urls["api"]
    return {
        name: urlunsplit((target.scheme, target.netloc, *urlsplit(url)[2:]))
        for name, url in urls.items()
        if isinstance(url, str) and url.startswith("http")
    }


def simulator_factory(
    sim: BinanceSimulator, budgets: RequestBudgets, *, timeout_ms: int = CLIENT_TIMEOUT_MS
) -> ConnectorFactory:
    """Real CcxtConnectors whose REST base URLs point at the simulator."""
    urls = sim_api_urls(sim.url)

    def build(key: ConnectorKey, credentials: ApiCredentials | None) -> ExchangeConnector:
        connector = CcxtConnector(
            key.exchange_id,
            credentials,
            sandbox=key.sandbox,
            budget=budgets.budget_for(
                key.exchange_id,
                credential_key(credentials.api_key if credentials else None),
                budget_spec_for(key.exchange_id),
            ),
            timeout_ms=timeout_ms,
            retry_policy=FAST_RETRY,
            api_urls=urls if key.exchange_id == "binance" else None,
        )
        # ccxt sleeps 250 ms in close() for TLS shutdown; the simulator speaks plain HTTP.
        connector._exchange.timeout_on_exit = 0
        return connector

    return build


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSimulator]:
    async with BinanceSimulator() as simulator:
        yield simulator


@pytest.fixture
def sim_app(app: FastAPI, sim: BinanceSimulator) -> FastAPI:
    """The app, verifying keys against the simulator."""
    app.state.connector_factory = simulator_factory(sim, MemoryBudgets())
    return app


@contextmanager
def stalls_expected(app: FastAPI, sim: BinanceSimulator) -> Iterator[None]:
    """Short client timeouts inside, for a stall longer than STALL_TIMEOUT_MS; the usual after."""
    usual = app.state.connector_factory
    app.state.connector_factory = simulator_factory(
        sim, MemoryBudgets(), timeout_ms=STALL_TIMEOUT_MS
    )
    try:
        yield
    finally:
        app.state.connector_factory = usual


@dataclass(frozen=True)
class SimKey:
    api_key: str
    secret: str
    passphrase: str

    def body(self, label: str = "main", **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "exchange": "binance",
            "label": label,
            "api_key": self.api_key,
            "api_secret": self.secret,
            "passphrase": self.passphrase,
            "sandbox": False,
        }
        body.update(overrides)
        return body

    @property
    def strings(self) -> tuple[str, str, str]:
        return (self.api_key, self.secret, self.passphrase)


def new_sim_key(sim: BinanceSimulator, **permissions: object) -> SimKey:
    """A funded account with fresh, unique key material (64-char key and secret, like Binance)."""
    key = SimKey(
        api_key="AK" + secrets.token_hex(31),
        secret="SK" + secrets.token_hex(31),
        passphrase="PP" + secrets.token_hex(10),
    )
    sim.add_account(key.api_key, key.secret, {"USDT": "1000", "BTC": "0.5"}, permissions)
    return key


async def create_credential(
    client: httpx.AsyncClient, user: ApiUser, key: SimKey, label: str = "main", **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/credentials", json=key.body(label, **overrides), headers=user.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def credential_url(credential_id: uuid.UUID | str, suffix: str = "") -> str:
    return f"/api/v1/credentials/{credential_id}{suffix}"
