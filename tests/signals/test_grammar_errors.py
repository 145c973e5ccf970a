"""Malformed signals are refused with a clear message pointing at the fault."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from autogrid.signals.grammar import MAX_BODY_CHARS, parse_signal, parse_signal_bytes
from autogrid.signals.model import SignalParseError


def refusal(body: str, **kwargs: object) -> SignalParseError:
    with pytest.raises(SignalParseError) as caught:
        parse_signal(body, **kwargs)  # type: ignore[arg-type]
    return caught.value


def at(body: str, fragment: str, nth: int = 0) -> int:
    """Position of the `nth` occurrence of `fragment` in `body`."""
    index = -1
    for _ in range(nth + 1):
        index = body.index(fragment, index + 1)
    return index


# (body, fragment the error must point at, words the message must contain)
CASES = [
    # Whole body
    ("", "", "empty"),
    ("   \n ", "", "empty"),
    ("[1, 2]", "[", "object"),
    ('{"action": "buy", "ticker": "{{ticker}}"}', "{{ticker}}", "placeholder"),
    # JSON syntax and values
    ('{"action": "buy", "ticker": "BTCUSDT",}', "}", "invalid JSON"),
    ('{"action": "buy", "action": "sell"}', '"action": "sell"', "twice"),
    ('{"action": "buy", "ticker": "BTCUSDT", "price": NaN}', "NaN", "NaN"),
    ('{"action": "buy", "ticker": "BTCUSDT", "leverage": 10}', '"leverage"', "unknown field"),
    ('{"action": "buy", "ticker": "BTCUSDT", "volume": 1}', '"volume"', "quantity"),
    ('{"action": "short", "ticker": "BTCUSDT"}', '"action"', "short"),
    ('{"action": "hold", "ticker": "BTCUSDT"}', '"action"', "buy, sell, close, pause or resume"),
    ('{"action": "buy", "ticker": "BTCUSDT", "price": -5}', '"price"', "number"),
    ('{"action": "buy", "ticker": "BTCUSDT", "price": 0}', '"price"', "positive"),
    ('{"action": "buy", "ticker": "BTCUSDT", "price": 1e5}', '"price"', "number"),
    ('{"action": "buy", "ticker": "BTCUSDT", "price": true}', '"price"', "string or a number"),
    ('{"action": "buy", "ticker": "BTCUSDT", "quantity": "150%"}', '"quantity"', "at most 100"),
    ('{"action": "buy", "ticker": "BTCUSDT.P"}', '"ticker"', "perpetual"),
    ('{"action": "buy", "ticker": "XYZABC"}', '"ticker"', "quote currency"),
    ('{"action": "buy", "ticker": "BTCUSDT", "time": "yesterday"}', '"time"', "ISO 8601"),
    ('{"action": "buy", "ticker": "BTCUSDT", "time": "2026-12-06T15:00:00"}', '"time"', "zone"),
    ('{"action": "buy", "ticker": "BTCUSDT", "max_lag": "-1"}', '"max_lag"', "whole number"),
    ('{"action": "buy", "ticker": "BTCUSDT", "order_type": "limit"}', '"order_type"', "price"),
    (
        '{"action": "buy", "ticker": "BTCUSDT", "price": 100, "stop_loss": 120}',
        '"stop_loss"',
        "below the entry",
    ),
    (
        '{"action": "buy", "ticker": "BTCUSDT", "price": 100, "take_profit": [90]}',
        '"take_profit"',
        "above the entry",
    ),
    (
        '{"action": "sell", "ticker": "BTCUSDT", "stop_loss": 90}',
        '"stop_loss"',
        "belong to an entry",
    ),
    ('{"action": "buy", "ticker": "BTCUSDT", "tp": [1,2,3,4,5,6,7,8,9,10,11]}', '"tp"', "at most"),
    ('{"action": "buy", "ticker": "BTCUSDT", "tp": [110, 110]}', '"tp"', "same price"),
    (
        '{"action": "buy", "ticker": "BTCUSDT", "stop_loss": 1, "stopLoss": 2}',
        '"stopLoss"',
        "twice",
    ),
    (
        '{"action": "buy", "ticker": "BTCUSDT", "strategy": {"order_action": "sell"}}',
        '"order_action"',
        "twice",
    ),
    (
        '{"ticker": "BTCUSDT", "strategy": {"market_position": "short"}}',
        '"market_position"',
        "short",
    ),
    ('{"action": "buy", "ticker": "BTCUSDT", "market_position": "flat"}', '"action"', "covers"),
    (
        '{"action": "buy", "ticker": "BTCUSDT", "time": "0001-01-01T00:00:00+05:00"}',
        '"time"',
        "out of range",
    ),
    # 3Commas
    ('{"secret": "s", "action": "enter_short", "tv_instrument": "BTCUSDT"}', '"action"', "short"),
    ('{"bot_uuid": "u", "action": "teleport"}', '"action"', "unknown action"),
    ('{"secret": "s", "tv_instrument": "BTCUSDT"}', "", "action"),
    (
        '{"bot_uuid": "u", "action": "buy", "strategy_info": {"market_position": "flat"}}',
        '"action"',
        "covers",
    ),
    ('{"message_type": "bot", "delay_seconds": 30}', '"delay_seconds"', "delay"),
    ('{"message_type": "deal"}', '"message_type"', "bot"),
    ('{"message_type": "bot", "pair": "BTCUSDT"}', '"pair"', "QUOTE_BASE"),
    (
        '{"action": "enter_long", "order": {"amount": "5", "currency_type": "lots"}}',
        '"currency_type"',
        "currency_type",
    ),
    (
        '{"secret": "s", "action": "enter_long", "order": {"amount": "5", "leverage": 3}}',
        '"leverage"',
        "unknown field",
    ),
    # KEY=VALUE
    ("SYMBOL=BTCUSDT\nVOLUME=1", "", "SIGNAL"),
    ("SIGNAL=HODL", "HODL", "BUY or SELL"),
    ("SIGNAL=BUY\nSIGNAL=SELL", "SIGNAL=SELL", "twice"),
    ("SIGNAL=BUY\nLEVERAGE=10", "LEVERAGE", "unknown key"),
    ("SIGNAL=BUY\nthis is not a pair", "this", "KEY=VALUE"),
    ("SIGNAL=BUY;VOLUME=12a%", "12a%", "plain %"),
    ("SIGNAL=BUY;VOLUME=0", "0", "positive"),
    ("SIGNAL=BUY;PRICE=65000;STOP_PRICE=70000", "70000", "below the entry"),
    ("SIGNAL=BUY;ORDER_TYPE=STOP", "STOP", "MARKET or LIMIT"),
    ("SIGNAL=BUY;ORDER_TYPE=LIMIT", "LIMIT", "price"),
    ("SIGNAL=BUY;TAKE_PROFIT_VOLUME_PERCENT_1=50", "50", "no price"),
    ("SIGNAL=BUY;PRICE=" + "9" * 25, "9" * 25, "digits"),
    ("SIGNAL=BUY;PRICE=0.0000000000000000001", "0.0000000000000000001", "digits"),
    # Free text
    ("hello there", "hello", "unexpected word"),
    ("I will buy BTC/USDT tomorrow", "I", "unexpected word"),
    ("buy the dip", "the", "unexpected word"),
    ("BTC/USDT 65000", "65000", "before any label"),
    ("BTC/USDT @ 65000", "", "not a signal"),
    ("BUY @ 65000", "", "pair"),
    ("SHORT BTC/USDT @ 65000", "SHORT", "short"),
    ("BUY BTC/USDT @ 65000\nLeverage: 10x", "Leverage", "leverage"),
    ("BUY BTC/USDT @ 65000 SL 5%", "5%", "percentage"),
    ("#BTC/USDT\nSignal Type: Regular (Short)\nEntry: 65000", "Short", "short"),
    ("#BTC/USDT\nExchange: Binance Futures x20 leverage\nBuy 65000", "leverage", "leverage"),
    ("BUY BTC/USDT @ 65000 SL 64000 SL 63000", "63000", "more than one stop"),
    ("BUY BTC/USDT @ 65000 SL 66000", "66000", "below the entry"),
    ("BUY BTC/USDT @ 65000 TP 64000", "64000", "above the entry"),
    ("BUY BTC/USDT ETH/USDT", "ETH/USDT", "second pair"),
    ("buy and/or", "and/or", "not a pair"),
    ("BUY BTC/USDT zone 64000", "64000", "two prices"),
    ("BUY BTC/USDT amount 100", "100", "unit"),
    ("BUY BTC/USDT then SELL", "then", "unexpected word"),
    ("SELL BTC/USDT BUY", "BUY", "contradicts"),
    ("BUY BTC/USDT @ 65000?", "?", "unexpected character"),
    ("BUY BTC/USDT @ ٦٥٠٠٠", "٦", "unexpected character"),
    ("BUY BTC/USDT TP 67000 (150%)", "150", "at most 100"),
    ("CLOSE BTC/USDT 65000", "65000", "means nothing"),
    # TradingView default strategy message
    ("order buy @ 1 filled on BTCUSDT. New strategy position is 0", "0", "short"),
    ("order sell @ 1 filled on BTCUSDT. New strategy position is -1", "-1", "short"),
]


@pytest.mark.parametrize(("body", "fragment", "words"), CASES, ids=[c[0][:40] for c in CASES])
def test_malformed_signal_is_refused_at_its_fault(body: str, fragment: str, words: str) -> None:
    error = refusal(body)
    assert words.lower() in error.message.lower(), error.message
    expected = at(body, fragment) if fragment else 0
    if fragment == "0" and body.startswith("order buy"):
        expected = body.rindex("0")
    assert error.position == expected, (error.message, error.position, expected)
    assert f"(at character {error.position})" in str(error)


def test_a_body_over_the_size_limit_is_refused_before_any_parsing() -> None:
    body = "BUY BTC/USDT " + " " * MAX_BODY_CHARS
    assert "longer than" in refusal(body).message
    with pytest.raises(SignalParseError, match="longer than"):
        parse_signal_bytes(b" " * (4 * MAX_BODY_CHARS + 1))


def test_bad_utf8_is_refused_at_the_character_where_it_breaks() -> None:
    with pytest.raises(SignalParseError) as caught:
        parse_signal_bytes("BUY é".encode() + b"\xff BTC/USDT")
    assert caught.value.position == len("BUY é")
    assert "UTF-8" in caught.value.message


def test_deep_json_nesting_is_a_parse_error_not_a_crash() -> None:
    body = '{"a":' * 10000 + "1" + "}" * 10000
    assert "nested" in refusal(body).message or "unknown field" in refusal(body).message


def test_a_signal_time_far_in_the_future_is_refused_when_now_is_given() -> None:
    body = '{"action": "buy", "ticker": "BTCUSDT", "time": "2026-12-06T15:10:00Z"}'
    now = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
    error = refusal(body, now=now)
    assert "future" in error.message
    assert error.position == body.index('"time"')
    assert parse_signal(body, now=now.replace(minute=6)).sent_at is not None


def test_a_bad_default_symbol_is_refused() -> None:
    assert "BASE/QUOTE" in refusal("BUY", default_symbol="nonsense").message


def test_free_text_must_name_its_pair_even_with_a_default() -> None:
    for body in ("close", "buy now", "BUY @ 65000"):
        error = refusal(body, default_symbol="BTC/USDT")
        assert "no pair" in error.message


def test_free_text_longer_than_a_telegram_message_is_refused() -> None:
    body = "BUY BTC/USDT @ 65000 " + "🚀" * 4096
    error = refusal(body)
    assert "4096" in error.message
    assert error.position == 4096


def test_check_signal_applies_the_money_rules_to_a_signal_built_elsewhere() -> None:
    from decimal import Decimal

    from autogrid.signals.grammar import check_signal
    from autogrid.signals.model import ParsedSignal, SignalAction, TakeProfit

    good = ParsedSignal(
        SignalAction.BUY,
        "llm",
        "BTC/USDT",
        price=Decimal(100),
        take_profits=(TakeProfit(Decimal(120)), TakeProfit(Decimal(110))),
    )
    assert [step.price for step in check_signal(good).take_profits] == [110, 120]
    bad = [
        ParsedSignal(SignalAction.BUY, "llm", "btc/usdt"),
        ParsedSignal(SignalAction.BUY, "llm", "BTC/USDT", price=Decimal("NaN")),
        ParsedSignal(SignalAction.BUY, "llm", "BTC/USDT", price=Decimal(-1)),
        ParsedSignal(
            SignalAction.BUY, "llm", "BTC/USDT", price=Decimal(100), stop_loss=Decimal(101)
        ),
        ParsedSignal(SignalAction.SELL, "llm", "BTC/USDT", take_profits=(TakeProfit(Decimal(1)),)),
        ParsedSignal(SignalAction.BUY, "llm", take_profits=(TakeProfit(Decimal(0)),)),
    ]
    for signal in bad:
        with pytest.raises(SignalParseError):
            check_signal(signal)
