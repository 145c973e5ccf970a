"""The REST calls a trader makes, tolerant of an API that is being killed and restarted.

A call is retried while the API is unreachable or answers 5xx, until its deadline. A retried
write may have been applied by the attempt whose answer was lost: callers make their writes
idempotent (a start answered 409 is checked by reading the bot back).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

API = "/api/v1"
PASSWORD = "chaos-run-password-1234"
CALL_DEADLINE = 120.0


class ApiError(RuntimeError):
    """The API answered a 4xx, or did not answer in time."""


@dataclass
class Trader:
    """A registered user with its login and its exchange key."""

    email: str
    api_key: str
    secret: str
    headers: dict[str, str] = field(default_factory=dict)
    credential_id: str = ""


class AutoGridApi:
    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=15.0)

    def close(self) -> None:
        self.client.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201, 202, 204),
        deadline: float = CALL_DEADLINE,
    ) -> httpx.Response:
        """The answer once it is one of ``ok`` or a 4xx (ApiError); retried while down or 5xx."""
        until = time.monotonic() + deadline
        last = "no attempt"
        while time.monotonic() < until:
            try:
                response = self.client.request(method, path, json=json, headers=headers)
            except httpx.TransportError as error:
                last = f"{type(error).__name__}: {error}"
            else:
                if response.status_code in ok:
                    return response
                if response.status_code < 500:
                    raise ApiError(f"{method} {path}: {response.status_code} {response.text}")
                last = f"{response.status_code} {response.text[:200]}"
            time.sleep(0.5)
        raise ApiError(f"{method} {path}: no answer within {deadline:.0f}s ({last})")

    def ready(self) -> bool:
        try:
            return self.client.get("/ready", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    def register(self, api_key: str, secret: str) -> Trader:
        trader = Trader(f"chaos-{uuid.uuid4().hex[:10]}@example.com", api_key, secret)
        body = {"email": trader.email, "password": PASSWORD}
        self.call("POST", f"{API}/auth/register", json=body)
        tokens = self.call("POST", f"{API}/auth/login", json=body).json()
        trader.headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        credential = {
            "exchange": "binance",
            "label": "chaos key",
            "api_key": api_key,
            "api_secret": secret,
        }
        created = self.call("POST", f"{API}/credentials", json=credential, headers=trader.headers)
        trader.credential_id = str(created.json()["id"])
        return trader

    def create_bot(self, trader: Trader, body: dict[str, Any]) -> str:
        body = {**body, "mode": "live", "credential_id": trader.credential_id}
        created = self.call("POST", f"{API}/bots", json=body, headers=trader.headers)
        return str(created.json()["id"])

    def bot(self, trader: Trader, bot_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.call(
            "GET", f"{API}/bots/{bot_id}", headers=trader.headers
        ).json()
        return answer

    def start(self, trader: Trader, bot_id: str) -> None:
        self._command(trader, bot_id, "start", None, {"starting", "running"})

    def stop(self, trader: Trader, bot_id: str, sell_base: bool) -> None:
        body = {"cancel_orders": True, "sell_base": sell_base}
        self._command(trader, bot_id, "stop", body, {"stopping", "stopped"})

    def _command(self, trader: Trader, bot_id: str, action: str, body: Any, done: set[str]) -> None:
        path = f"{API}/bots/{bot_id}/{action}"
        try:
            self.call("POST", path, json=body, headers=trader.headers)
        except ApiError:
            # A retry after a lost answer finds the command already applied (409): fine then.
            if self.bot(trader, bot_id)["status"] not in done:
                raise
