"""The exchange catalog: every ccxt exchange, capabilities from ccxt, our trading level, offline."""

from __future__ import annotations

import socket

import ccxt
import pytest

from autogrid.exchanges import catalog
from autogrid.exchanges.catalog import TradingSupport, exchange_catalog, exchange_info


def test_building_the_catalog_opens_no_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the catalog tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    exchange_catalog.cache_clear()
    infos = exchange_catalog()
    assert [info.exchange_id for info in infos] == sorted(ccxt.exchanges)
    assert exchange_catalog() is infos  # cached


def test_trading_levels() -> None:
    levels = {info.exchange_id: info.trading for info in exchange_catalog()}
    assert levels["binance"] is TradingSupport.SUPPORTED
    for offered in ("bybit", "okx", "kraken", "kucoin", "mexc", "gate", "coinbase"):
        assert levels[offered] is TradingSupport.OFFERED, offered
    assert levels["bitstamp"] is TradingSupport.MARKET_DATA
    assert sum(level is TradingSupport.MARKET_DATA for level in levels.values()) == len(levels) - 8


def test_binance_capabilities() -> None:
    info = exchange_info("binance")
    assert info is not None and info.can_trade and info.sandbox
    assert info.name == "Binance"
    assert all(info.capabilities[name] for name in catalog.CAPABILITY_NAMES)


def test_aliases_and_unknown_ids() -> None:
    gate = exchange_info("GateIO")
    assert gate is not None and gate.exchange_id == "gate"
    assert gate.trading is TradingSupport.OFFERED
    assert exchange_info("no-such-exchange") is None


def test_market_data_exchanges_still_report_what_they_can_do() -> None:
    info = exchange_info("bitstamp")
    assert info is not None and not info.can_trade
    assert info.capabilities["fetchOHLCV"] is True
