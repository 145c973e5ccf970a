"""Each format's documented examples parse to exactly the signal they describe."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from autogrid.signals.grammar import parse_signal, parse_signal_bytes
from autogrid.signals.model import (
    Amount,
    AmountUnit,
    EntryZone,
    OrderKind,
    ParsedSignal,
    SignalAction,
    SignalParseError,
    TakeProfit,
)

D = Decimal
T0 = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
BUY = SignalAction.BUY
LIMIT = OrderKind.LIMIT


def tps(*prices: str) -> tuple[TakeProfit, ...]:
    return tuple(TakeProfit(D(price)) for price in prices)


TRADINGVIEW = [
    (
        '{"action": "buy", "ticker": "BTCUSDT", "price": 65000.5, "quantity": "0.01",'
        ' "time": "2026-12-06T15:00:00Z"}',
        ParsedSignal(
            BUY,
            "tradingview",
            "BTC/USDT",
            price=D("65000.5"),
            amount=Amount(D("0.01"), AmountUnit.BASE),
            sent_at=T0,
        ),
    ),
    (
        '{"action": "sell", "ticker": "BINANCE:BTCUSDT", "market_position": "flat", "quantity": 1}',
        ParsedSignal(SignalAction.CLOSE_ALL, "tradingview", "BTC/USDT"),
    ),
    (
        '{"action": "sell", "ticker": "ETHUSDT", "market_position": "long", "quantity": "0.5",'
        ' "close": "3500"}',
        ParsedSignal(
            SignalAction.SELL,
            "tradingview",
            "ETH/USDT",
            price=D("3500"),
            amount=Amount(D("0.5"), AmountUnit.BASE),
        ),
    ),
    (
        '{"Action": "BUY", "Symbol": "SOL/USDT", "order_type": "limit", "price": "150",'
        ' "quantity": "10%", "stop_loss": 140, "take_profit": [170, "160"], "max_lag": 60,'
        ' "id": "alert-7", "comment": "breakout", "interval": "15", "exchange": "BINANCE"}',
        ParsedSignal(
            BUY,
            "tradingview",
            "SOL/USDT",
            order_kind=LIMIT,
            price=D("150"),
            amount=Amount(D("10"), AmountUnit.PERCENT),
            stop_loss=D("140"),
            take_profits=tps("160", "170"),
            alert_id="alert-7",
            max_lag_seconds=60,
            tag="breakout",
        ),
    ),
    (
        '{"market_position": "long", "ticker": "BTCUSDT"}',
        ParsedSignal(BUY, "tradingview", "BTC/USDT"),
    ),
    (
        "Long: order buy @ 0.5 filled on BTCUSDT. New strategy position is 0.5",
        ParsedSignal(
            BUY, "tradingview", "BTC/USDT", amount=Amount(D("0.5"), AmountUnit.BASE), tag="Long"
        ),
    ),
    (
        "order sell @ 0.2 filled on ETHBTC. New strategy position is 0.3",
        ParsedSignal(
            SignalAction.SELL, "tradingview", "ETH/BTC", amount=Amount(D("0.2"), AmountUnit.BASE)
        ),
    ),
    (
        "Exit: order sell @ 0.5 filled on BTCUSDT. New strategy position is 0",
        ParsedSignal(SignalAction.CLOSE_ALL, "tradingview", "BTC/USDT", tag="Exit"),
    ),
]

TRADINGVIEW += [
    (  # the nested layout many webhook tutorials use, {{strategy.*}} values grouped
        '{"passphrase": "x", "time": "2026-12-06T15:00:00Z", "exchange": "BINANCE",'
        ' "ticker": "ETHUSDT", "bar": {"time": "2026-12-06T14:59:00Z", "open": 3490,'
        ' "high": 3510, "low": 3480, "close": 3500, "volume": 1200}, "strategy":'
        ' {"position_size": 1.5, "order_action": "buy", "order_contracts": 0.5,'
        ' "order_price": 3500, "order_id": "Long", "market_position": "long",'
        ' "market_position_size": 1.5, "prev_market_position": "long",'
        ' "prev_market_position_size": 1}}',
        ParsedSignal(
            BUY,
            "tradingview",
            "ETH/USDT",
            price=D("3500"),
            amount=Amount(D("0.5"), AmountUnit.BASE),
            sent_at=T0,
        ),
    ),
    (  # camelCase keys and a strategy name
        '{"side": "buy", "symbol": "BTCUSDT", "strategy": "rsi", "orderType": "limit",'
        ' "price": 95000, "quantity": 0.001, "stopLoss": 94000, "takeProfit": 97000,'
        ' "nonce": "n-1"}',
        ParsedSignal(
            BUY,
            "tradingview",
            "BTC/USDT",
            order_kind=LIMIT,
            price=D("95000"),
            amount=Amount(D("0.001"), AmountUnit.BASE),
            stop_loss=D("94000"),
            take_profits=tps("97000"),
            alert_id="n-1",
            tag="rsi",
        ),
    ),
]

THREECOMMAS = [
    (
        '{"secret": "eyJhbGciOi", "max_lag": "300", "timestamp": "2026-12-06T15:00:00Z",'
        ' "trigger_price": "65000", "tv_exchange": "BINANCE", "tv_instrument": "BTCUSDT",'
        ' "action": "enter_long", "bot_uuid": "8d6c2c8e",'
        ' "order": {"amount": "100", "currency_type": "quote"}}',
        ParsedSignal(
            BUY,
            "3commas",
            "BTC/USDT",
            price=D("65000"),
            amount=Amount(D("100"), AmountUnit.QUOTE),
            sent_at=T0,
            max_lag_seconds=300,
        ),
    ),
    (
        '{"secret": "s", "tv_instrument": "BTCUSDT", "action": "exit_long",'
        ' "order": {"amount": "50", "currency_type": "position_percent"}}',
        ParsedSignal(
            SignalAction.SELL, "3commas", "BTC/USDT", amount=Amount(D("50"), AmountUnit.PERCENT)
        ),
    ),
    (
        '{"secret": "s", "tv_instrument": "ETHUSDT", "action": "sell", "bot_uuid": "u",'
        ' "strategy_info": {"market_position": "flat", "market_position_size": "0",'
        ' "prev_market_position": "long", "prev_market_position_size": "1"},'
        ' "order": {"amount": "1", "currency_type": "base"}}',
        ParsedSignal(
            SignalAction.CLOSE_ALL, "3commas", "ETH/USDT", amount=Amount(D("1"), AmountUnit.BASE)
        ),
    ),
    (
        '{"secret": "s", "tv_instrument": "BTCUSDT", "action": "enter_long",'
        ' "order": {"amount": "2", "currency_type": "margin_percent", "order_type": "limit",'
        ' "price": "64000"}}',
        ParsedSignal(
            BUY,
            "3commas",
            "BTC/USDT",
            order_kind=LIMIT,
            price=D("64000"),
            amount=Amount(D("2"), AmountUnit.PERCENT),
        ),
    ),
    (
        '{"message_type": "bot", "bot_id": 123, "email_token": "t", "delay_seconds": 0,'
        ' "pair": "USDT_BTC"}',
        ParsedSignal(SignalAction.START_DEAL, "3commas", "BTC/USDT"),
    ),
    (
        '{"message_type": "bot", "bot_id": 123, "email_token": "t", "delay_seconds": 0,'
        ' "pair": "USDT_BTC", "action": "close_at_market_price"}',
        ParsedSignal(SignalAction.CLOSE_DEAL, "3commas", "BTC/USDT"),
    ),
    (
        '{"message_type": "bot", "bot_id": 1, "email_token": "t", "action": "stop_bot"}',
        ParsedSignal(SignalAction.PAUSE, "3commas"),
    ),
    (
        '{"message_type": "bot", "bot_id": 1, "email_token": "t", "action": "start_bot"}',
        ParsedSignal(SignalAction.RESUME, "3commas"),
    ),
]

KEY_VALUE = [
    (
        "EXCHANGE=binance\nSYMBOL=BTCUSDT\nSIGNAL=BUY",
        ParsedSignal(BUY, "key_value", "BTC/USDT"),
    ),
    (
        "EXCHANGE=binance;SYMBOL=BTCUSDT;SIGNAL=BUY;ORDER_TYPE=LIMIT;PRICE=65000;VOLUME=2%",
        ParsedSignal(
            BUY,
            "key_value",
            "BTC/USDT",
            order_kind=LIMIT,
            price=D("65000"),
            amount=Amount(D("2"), AmountUnit.PERCENT),
        ),
    ),
    (
        "SIGNAL=SELL\nSYMBOL=ETH/USDT\nVOLUME=0.5\nTAG=swing",
        ParsedSignal(
            SignalAction.SELL,
            "key_value",
            "ETH/USDT",
            amount=Amount(D("0.5"), AmountUnit.BASE),
            tag="swing",
        ),
    ),
    (
        "symbol = BTCUSDT ; signal = buy ; volume = 0.01 ; stop_price = 63000 ;"
        " take_profit_price_1 = 67000 ; take_profit_volume_percent_1 = 50 ;"
        " take_profit_price_2 = 69000 ; id = tv-1 ; timestamp = 2026-12-06T15:00:00Z ;"
        " max_lag = 30 ; reduce_only = false",
        ParsedSignal(
            BUY,
            "key_value",
            "BTC/USDT",
            amount=Amount(D("0.01"), AmountUnit.BASE),
            stop_loss=D("63000"),
            take_profits=(TakeProfit(D("67000"), D("50")), TakeProfit(D("69000"))),
            alert_id="tv-1",
            sent_at=T0,
            max_lag_seconds=30,
        ),
    ),
    (
        "SIGNAL=BUY\nTAKE_PROFIT_PRICE=70000\nSTOP_PRICE=60000\nPRICE=65000",
        ParsedSignal(
            BUY,
            "key_value",
            price=D("65000"),
            stop_loss=D("60000"),
            take_profits=tps("70000"),
        ),
    ),
]

FREE_TEXT = [
    (
        "BUY BTC/USDT @ 65000 SL 63000 TP1 67000 TP2 69000",
        ParsedSignal(
            BUY,
            "free_text",
            "BTC/USDT",
            order_kind=LIMIT,
            price=D("65000"),
            stop_loss=D("63000"),
            take_profits=tps("67000", "69000"),
        ),
    ),
    (
        "BUY BTC/USDT entry 64000-65000 SL 63000 TP 67000",
        ParsedSignal(
            BUY,
            "free_text",
            "BTC/USDT",
            order_kind=LIMIT,
            entry_zone=EntryZone(D("64000"), D("65000")),
            stop_loss=D("63000"),
            take_profits=tps("67000"),
        ),
    ),
    (
        "#BTC/USDT\nBuy: 64000 - 65000\nTargets: 67000 - 69000\nStop: 63000",
        ParsedSignal(
            BUY,
            "free_text",
            "BTC/USDT",
            order_kind=LIMIT,
            entry_zone=EntryZone(D("64000"), D("65000")),
            stop_loss=D("63000"),
            take_profits=tps("67000", "69000"),
        ),
    ),
    (
        "⚡️⚡️ #LINK/USDT ⚡️⚡️\nExchanges: Binance\nSignal Type: Regular (Long)\n"
        "Entry Targets:\n1️⃣ 14.50\n2️⃣ 14.20\nTake-Profit Targets:\n1) 15.00\n2) 15.50\n"
        "3) 16.25\nStop Targets:\n1) 13.80",
        ParsedSignal(
            BUY,
            "free_text",
            "LINK/USDT",
            order_kind=LIMIT,
            entry_zone=EntryZone(D("14.20"), D("14.50")),
            stop_loss=D("13.80"),
            take_profits=tps("15.00", "15.50", "16.25"),
        ),
    ),
    (
        "📈 ETH/USDT\nEntry Zone: 3,000 - 3,100\nTake-Profit Targets: 1) 3,300 2) 3,200\n"
        "Stop Loss: 2,900\nAmount: 5%",
        ParsedSignal(
            BUY,
            "free_text",
            "ETH/USDT",
            order_kind=LIMIT,
            amount=Amount(D("5"), AmountUnit.PERCENT),
            entry_zone=EntryZone(D("3000"), D("3100")),
            stop_loss=D("2900"),
            take_profits=tps("3200", "3300"),
        ),
    ),
    (
        "Long #SOLUSDT now 150 | TP1 160 (50%) TP2 170 (50%) | SL 140",
        ParsedSignal(
            BUY,
            "free_text",
            "SOL/USDT",
            price=D("150"),
            stop_loss=D("140"),
            take_profits=(TakeProfit(D("160"), D("50")), TakeProfit(D("170"), D("50"))),
        ),
    ),
    (
        "Buy BTC/USDT size 100 USDT",
        ParsedSignal(BUY, "free_text", "BTC/USDT", amount=Amount(D("100"), AmountUnit.QUOTE)),
    ),
    (
        "BTC/USDT\nBuy 64000\nSell 67000 69000\nStop 63000",
        ParsedSignal(
            BUY,
            "free_text",
            "BTC/USDT",
            order_kind=LIMIT,
            price=D("64000"),
            stop_loss=D("63000"),
            take_profits=tps("67000", "69000"),
        ),
    ),
    (
        "SELL ETH/USDT @ 3500",
        ParsedSignal(SignalAction.SELL, "free_text", "ETH/USDT", order_kind=LIMIT, price=D("3500")),
    ),
    (
        "BUY BTCUSDT 65000 TP 67000",
        ParsedSignal(
            BUY,
            "free_text",
            "BTC/USDT",
            order_kind=LIMIT,
            price=D("65000"),
            take_profits=tps("67000"),
        ),
    ),
    ("SELL ETH/PLN", ParsedSignal(SignalAction.SELL, "free_text", "ETH/PLN")),
    ("sell btc-usdt", ParsedSignal(SignalAction.SELL, "free_text", "BTC/USDT")),
    ("CLOSE BTC/USDT", ParsedSignal(SignalAction.CLOSE_ALL, "free_text", "BTC/USDT")),
]

EXAMPLES = TRADINGVIEW + THREECOMMAS + KEY_VALUE + FREE_TEXT


@pytest.mark.parametrize(("body", "expected"), EXAMPLES, ids=[b[:40] for b, _ in EXAMPLES])
def test_documented_example_parses_to_its_signal(body: str, expected: ParsedSignal) -> None:
    assert parse_signal(body) == expected
    assert parse_signal_bytes(body.encode()) == expected


def test_a_signal_naming_no_pair_takes_the_default_or_none() -> None:
    body = '{"message_type": "bot", "bot_id": 1, "email_token": "t"}'
    assert parse_signal(body).symbol is None
    assert parse_signal(body, default_symbol="eth-usdt").symbol == "ETH/USDT"


def test_bytes_are_utf8_with_an_optional_bom() -> None:
    for body in ("BUY BTC/USDT @ 65000 🚀", '{"action": "buy", "ticker": "BTCUSDT"}'):
        assert parse_signal_bytes(b"\xef\xbb\xbf" + body.encode()) == parse_signal(body)
        assert parse_signal("\ufeff" + body) == parse_signal(body)


def test_sent_at_is_utc_whatever_offset_the_sender_used() -> None:
    body = '{"action": "buy", "ticker": "BTCUSDT", "time": "2026-12-06T16:00:00+01:00"}'
    assert parse_signal(body).sent_at == T0
    epoch = '{"action": "buy", "ticker": "BTCUSDT", "time": "1796569200000"}'
    assert parse_signal(epoch).sent_at == T0


def test_every_documented_example_in_the_guide_parses() -> None:
    from tests.signals.doc_examples import documented_examples

    examples = documented_examples()
    assert len(examples) >= 12
    for body in examples:
        parse_signal(body, default_symbol="BTC/USDT")


# What TradingView puts in place of each placeholder when a long-only strategy exits to flat.
FIRED = {
    "{{strategy.order.action}}": "sell",
    "{{ticker}}": "BTCUSDT",
    "{{close}}": "65000.5",
    "{{strategy.order.contracts}}": "0.01",
    "{{strategy.market_position}}": "flat",
    "{{timenow}}": "2026-12-06T15:00:00Z",
}


def test_the_guides_alert_templates_parse_once_tradingview_fills_them_in() -> None:
    from tests.signals.doc_examples import placeholder_templates

    templates = placeholder_templates()
    assert len(templates) == 3
    for template in templates:
        with pytest.raises(SignalParseError, match="placeholder"):
            parse_signal(template)
        body = template
        for placeholder, value in FIRED.items():
            body = body.replace(placeholder, value)
        signal = parse_signal(body)
        assert signal.symbol == "BTC/USDT"
        assert signal.sent_at == T0
        assert signal.max_lag_seconds == 60
        expected = SignalAction.CLOSE_ALL if "strategy.order.action" in template else BUY
        assert signal.action is expected
