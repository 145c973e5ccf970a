"""Synchronous access to a simulator running in another process (e.g. for Celery workers).

``SimulatorProcess`` starts ``python -m tests.exchange_sim`` and waits until it serves;
``SimulatorClient`` calls the control API. Its methods have the names and arguments of
BinanceSimulator's control methods; results come back as JSON (orders and trades as dicts in
Binance's field names plus ``apiKey``, Decimals as strings).
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from tests.exchange_sim.control import CONTROL_PREFIX
from tests.exchange_sim.server import DEFAULT_API_KEY

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_PREFIX = "LISTENING "

Number = str | float | int
T = TypeVar("T")


class SimulatorControlError(RuntimeError):
    """The control API refused an operation (bad arguments, unknown order, ...)."""


class SimulatorClient:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def call(self, operation: str, **arguments: Any) -> Any:
        # None is sent as null: every control method treats a None argument as "not given".
        body = json.dumps(arguments, default=str)
        request = urllib.request.Request(
            self.base_url + CONTROL_PREFIX + operation,
            data=body.encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())["result"]
        except urllib.error.HTTPError as error:
            raise SimulatorControlError(error.read().decode(errors="replace")) from None

    def call_returning(self, shape: type[T], operation: str, **arguments: Any) -> T:
        """``call`` for an operation whose result is a ``shape`` (dict, list, int or str)."""
        result = self.call(operation, **arguments)
        if not isinstance(result, shape):
            raise SimulatorControlError(f"{operation} returned {result!r}, not a {shape.__name__}")
        return result

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(
                    self.base_url + CONTROL_PREFIX + "health", timeout=1.0
                ) as response:
                    if response.status == 200:
                        return
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)

    # The control operations, mirroring BinanceSimulator.
    def add_account(
        self,
        api_key: str,
        secret: str,
        balances: Mapping[str, Number] | None = None,
        permissions: Mapping[str, object] | None = None,
    ) -> dict[str, Any]:
        return self.call_returning(
            dict,
            "add_account",
            api_key=api_key,
            secret=secret,
            balances=balances,
            permissions=permissions,
        )

    def set_balances(self, api_key: str, balances: Mapping[str, Number]) -> dict[str, Any]:
        return self.call_returning(dict, "set_balances", api_key=api_key, balances=balances)

    def set_permissions(self, api_key: str, **changes: object) -> dict[str, Any]:
        return self.call_returning(dict, "set_permissions", api_key=api_key, **changes)

    def balances(self, api_key: str = DEFAULT_API_KEY) -> dict[str, dict[str, str]]:
        return self.call_returning(dict, "balances", api_key=api_key)

    def set_price(self, symbol: str, price: Number) -> list[dict[str, Any]]:
        return self.call_returning(list, "set_price", symbol=symbol, price=price)

    def price(self, symbol: str) -> str:
        return self.call_returning(str, "price", symbol=symbol)

    def set_price_path(self, symbol: str, prices: Iterable[Number]) -> int:
        return self.call_returning(int, "set_price_path", symbol=symbol, prices=list(prices))

    def step_price(self, symbol: str, steps: int = 1) -> list[dict[str, Any]]:
        return self.call_returning(list, "step_price", symbol=symbol, steps=steps)

    def set_candles(self, symbol: str, interval: str, candles: Iterable[Sequence[object]]) -> int:
        rows = [list(c) for c in candles]
        return self.call_returning(
            int, "set_candles", symbol=symbol, interval=interval, candles=rows
        )

    def set_clock_offset(self, offset_ms: int) -> int:
        return self.call_returning(int, "set_clock_offset", offset_ms=offset_ms)

    def inject_fault(
        self, kind: str, endpoint: str = "*", times: int | None = 1, **options: Any
    ) -> dict[str, Any]:
        """``times=None`` keeps the fault until ``clear_faults``."""
        return self.call_returning(
            dict, "inject_fault", kind=kind, endpoint=endpoint, times=times, **options
        )

    def clear_faults(self) -> int:
        return self.call_returning(int, "clear_faults")

    def active_faults(self) -> list[dict[str, Any]]:
        return self.call_returning(list, "active_faults")

    def orders(
        self,
        api_key: str | None = None,
        symbol: str | None = None,
        client_order_id: str | None = None,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        return self.call_returning(
            list,
            "orders",
            api_key=api_key,
            symbol=symbol,
            client_order_id=client_order_id,
            status=status,
        )

    def trades(self, api_key: str | None = None, symbol: str | None = None) -> list[dict[str, Any]]:
        return self.call_returning(list, "trades", api_key=api_key, symbol=symbol)

    def fill_order(
        self,
        order_id: int | None = None,
        client_order_id: str | None = None,
        quantity: Number | None = None,
        price: Number | None = None,
    ) -> dict[str, Any]:
        return self.call_returning(
            dict,
            "fill_order",
            order_id=order_id,
            client_order_id=client_order_id,
            quantity=quantity,
            price=price,
        )

    def add_past_trades(
        self,
        count: int,
        symbol: str = "BTC/USDT",
        api_key: str = DEFAULT_API_KEY,
        per_order: int = 1,
        qty: Number = "0.001",
        spread_ms: int = 0,
    ) -> int:
        return self.call_returning(
            int,
            "add_past_trades",
            count=count,
            symbol=symbol,
            api_key=api_key,
            per_order=per_order,
            qty=str(qty),
            spread_ms=spread_ms,
        )

    def request_log(
        self, method: str | None = None, path: str | None = None
    ) -> list[dict[str, Any]]:
        return self.call_returning(list, "request_log", method=method, path=path)

    def create_request_counts(self) -> dict[str, int]:
        return self.call_returning(dict, "create_request_counts")

    def create_request_count(self, client_order_id: str) -> int:
        return self.call_returning(int, "create_request_count", client_order_id=client_order_id)

    def unhandled_requests(self) -> list[dict[str, Any]]:
        return self.call_returning(list, "unhandled_requests")

    def reset(self) -> None:
        self.call("reset")


class SimulatorProcess:
    """``with SimulatorProcess() as sim: sim.url, sim.client`` runs the simulator in a child
    process on a free port and stops it on exit."""

    def __init__(self, port: int = 0, args: Sequence[str] = (), startup_timeout: float = 20.0):
        self.port, self.args, self.startup_timeout = port, tuple(args), startup_timeout
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    @property
    def client(self) -> SimulatorClient:
        return SimulatorClient(self.url)

    def start(self) -> SimulatorClient:
        command = [sys.executable, "-m", "tests.exchange_sim", "--port", str(self.port), *self.args]
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], self.startup_timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line.startswith(READY_PREFIX):
            self.stop()
            raise RuntimeError(f"simulator did not start (first output: {line!r})")
        self.url = line[len(READY_PREFIX) :].strip()
        client = self.client
        client.wait_ready(self.startup_timeout)
        return client

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None

    def __enter__(self) -> SimulatorProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
