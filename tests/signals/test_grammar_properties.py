"""Property tests: no body makes the parser raise anything but SignalParseError, the same body
always gives the same answer, whatever it accepts obeys the money rules, and signals written out
in a format read back as themselves."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from autogrid.signals.grammar import key_value, parse_signal, parse_signal_bytes
from autogrid.signals.model import (
    Amount,
    AmountUnit,
    OrderKind,
    ParsedSignal,
    SignalAction,
    SignalParseError,
    TakeProfit,
)
from tests.signals.test_grammar_examples import EXAMPLES

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SYMBOL = re.compile(r"[A-Z0-9]{1,15}/[A-Z0-9]{1,15}")


def outcome(body: str) -> ParsedSignal | tuple[str, int]:
    """The parse, or the refusal's message and position; anything else fails the test."""
    try:
        signal = parse_signal(body)
    except SignalParseError as error:
        assert 0 <= error.position <= len(body), (error.message, error.position)
        assert error.message
        return error.message, error.position
    check_money_rules(signal)
    return signal


def check_money_rules(signal: ParsedSignal) -> None:
    prices = [signal.price, signal.stop_loss, *(step.price for step in signal.take_profits)]
    for price in prices:
        assert price is None or (isinstance(price, Decimal) and price > 0 and price.is_finite())
    assert signal.symbol is None or SYMBOL.fullmatch(signal.symbol)
    if signal.amount is not None:
        assert signal.amount.value > 0
        if signal.amount.unit is AmountUnit.PERCENT:
            assert signal.amount.value <= 100
    targets = [step.price for step in signal.take_profits]
    assert targets == sorted(set(targets))
    assert len(targets) <= 10
    if signal.order_kind is OrderKind.LIMIT:
        assert signal.price is not None or signal.entry_zone is not None
    if signal.action is SignalAction.BUY:
        low = signal.entry_zone.low if signal.entry_zone else signal.price
        high = signal.entry_zone.high if signal.entry_zone else signal.price
        if signal.stop_loss is not None and low is not None:
            assert signal.stop_loss < low
        if targets and high is not None:
            assert targets[0] > high
    assert signal.sent_at is None or signal.sent_at.utcoffset() == timedelta(0)


def assert_total_and_deterministic(body: str) -> None:
    assert outcome(body) == outcome(body)


@PROPERTY
@given(st.text(max_size=300))
def test_any_text_is_a_signal_or_a_parse_error(body: str) -> None:
    assert_total_and_deterministic(body)


@PROPERTY
@given(st.binary(max_size=300))
def test_any_bytes_are_a_signal_or_a_parse_error(body: bytes) -> None:
    def bytes_outcome() -> ParsedSignal | tuple[str, int]:
        try:
            return parse_signal_bytes(body)
        except SignalParseError as error:
            return error.message, error.position

    assert bytes_outcome() == bytes_outcome()


JSON_KEYS = [
    "action", "ticker", "symbol", "price", "close", "quantity", "contracts", "market_position",
    "time", "timenow", "timestamp", "max_lag", "order_type", "stop_loss", "sl", "take_profit",
    "tp", "id", "tag", "comment", "exchange", "interval", "volume", "trigger_price",
    "tv_instrument", "bot_uuid", "secret", "message_type", "pair", "order", "amount",
    "currency_type", "strategy_info", "delay_seconds", "bot_id", "Action", "TICKER",
]  # fmt: skip
WORDS = [
    "buy", "sell", "long", "short", "flat", "close", "enter_long", "exit_long", "start_deal",
    "close_at_market_price", "stop_bot", "bot", "quote", "base", "margin_percent", "limit",
    "market", "BTCUSDT", "BTC/USDT", "USDT_BTC", "ETHBTC", "BINANCE:BTCUSDT", "X", "",
    "2026-12-06T15:00:00Z", "2026-12-06T15:00:00", "1796569200", "0", "-1", "5%", "150%",
    "65000", "0.00000001", "1e5", "99999999999999999999999", "NaN",
]  # fmt: skip
scalars = st.one_of(
    st.sampled_from(WORDS),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.text(max_size=10),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(JSON_KEYS), inner, max_size=4),
    ),
    max_leaves=12,
)


@PROPERTY
@given(st.dictionaries(st.sampled_from(JSON_KEYS) | st.text(max_size=8), json_values, max_size=8))
def test_json_like_bodies_are_signals_or_parse_errors(document: dict[str, object]) -> None:
    assert_total_and_deterministic(json.dumps(document))


KV_KEYS = [
    "SIGNAL", "SYMBOL", "ORDER_TYPE", "VOLUME", "PRICE", "STOP_PRICE", "TAKE_PROFIT_PRICE",
    "TAKE_PROFIT_PRICE_1", "TAKE_PROFIT_PRICE_2", "TAKE_PROFIT_VOLUME_PERCENT_1", "TAG", "ID",
    "TIMESTAMP", "MAX_LAG", "EXCHANGE", "REDUCE_ONLY", "signal", "LEVERAGE",
]  # fmt: skip
kv_words = [*WORDS, "BUY", "SELL", "LIMIT", "12a%", "67000", "63000"]
kv_values = st.sampled_from(kv_words) | st.text(max_size=8)


@PROPERTY
@given(
    st.lists(st.tuples(st.sampled_from(KV_KEYS), kv_values), min_size=1, max_size=8),
    st.sampled_from(["\n", ";", " ; ", "\r\n"]),
)
def test_key_value_like_bodies_are_signals_or_parse_errors(
    items: list[tuple[str, str]], separator: str
) -> None:
    assert_total_and_deterministic(separator.join(f"{key}={value}" for key, value in items))


FREE_WORDS = [
    "BUY", "buy", "Long", "SELL", "close", "Entry", "Zone", "Entry Zone:", "Buy:", "@", "at",
    "SL", "Stop:", "Stop Loss", "TP", "TP1", "TP2", "Targets:", "Take-Profit Targets:", "1)",
    "2)", "1️⃣", "Amount", "5%", "(50%)", "100", "USDT", "BTC", "-", "to", "market", "limit",
    "BTC/USDT", "#ETH/USDT", "#BTCUSDT", "btc-usdt", "#signal", "65000", "64,200", "63000",
    "67000", "0", ".5", "🚀", "⚡️", "Exchange: Binance", "short", "Leverage", "the", "\n", ":",
    "|", "99999999999999999999999999",
]  # fmt: skip


@PROPERTY
@given(st.lists(st.sampled_from(FREE_WORDS), min_size=1, max_size=20))
def test_free_text_like_bodies_are_signals_or_parse_errors(words: list[str]) -> None:
    assert_total_and_deterministic(" ".join(words))


@st.composite
def mutated_examples(draw: st.DrawFn) -> str:
    body = draw(st.sampled_from([body for body, _ in EXAMPLES]))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        index = draw(st.integers(min_value=0, max_value=len(body)))
        edit = draw(st.sampled_from(["delete", "insert", "replace", "repeat"]))
        piece = draw(st.text(max_size=3) | st.sampled_from(["{", "}", '"', ",", "=", ";", "-"]))
        if edit == "delete":
            body = body[:index] + body[index + 1 :]
        elif edit == "insert":
            body = body[:index] + piece + body[index:]
        elif edit == "replace":
            body = body[:index] + piece + body[index + len(piece) :]
        else:
            body = body[:index] + body[index : index + 8] + body[index:]
    return body


@PROPERTY
@given(mutated_examples())
def test_mutated_examples_are_signals_or_parse_errors(body: str) -> None:
    assert_total_and_deterministic(body)


# Round trips: a valid signal written out in a format parses back to itself.
prices = st.decimals(
    min_value=Decimal("0.00000001"), max_value=Decimal("1000000"), places=8, allow_nan=False
).map(lambda value: value.normalize() if value == value.to_integral() else value)
symbols = st.tuples(
    st.sampled_from(["BTC", "ETH", "SOL", "PEPE", "1INCH"]), st.sampled_from(["USDT", "BTC", "EUR"])
).filter(lambda pair: pair[0] != pair[1])


@st.composite
def long_entries(draw: st.DrawFn) -> ParsedSignal:
    base, quote = draw(symbols)
    entry = draw(prices)
    stop = draw(st.none() | prices.filter(lambda value: value < entry))
    targets = sorted(set(draw(st.lists(prices.filter(lambda v: v > entry), max_size=4))))
    amount = draw(
        st.none()
        | st.builds(Amount, prices, st.just(AmountUnit.BASE))
        | st.builds(
            Amount,
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal(100), places=2),
            st.just(AmountUnit.PERCENT),
        )
    )
    sent_at = draw(
        st.none()
        | st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        )
    )
    return ParsedSignal(
        action=SignalAction.BUY,
        format="key_value",
        symbol=f"{base}/{quote}",
        order_kind=draw(st.sampled_from(OrderKind)),
        price=entry,
        amount=amount,
        stop_loss=stop,
        take_profits=tuple(TakeProfit(price) for price in targets),
        alert_id=draw(st.none() | st.from_regex(r"[A-Za-z0-9_-]{1,30}", fullmatch=True)),
        sent_at=sent_at,
        max_lag_seconds=draw(st.none() | st.integers(min_value=1, max_value=999999)),
        tag=draw(st.none() | st.from_regex(r"[A-Za-z0-9_-]{1,30}", fullmatch=True)),
    )


@PROPERTY
@given(long_entries())
def test_key_value_round_trip(signal: ParsedSignal) -> None:
    assert parse_signal(key_value.render(signal)) == signal


def free_text(signal: ParsedSignal) -> str:
    parts = [f"BUY {signal.symbol} @ {signal.price:f}"]
    if signal.stop_loss is not None:
        parts.append(f"SL {signal.stop_loss:f}")
    parts += [f"TP{i} {step.price:f}" for i, step in enumerate(signal.take_profits, start=1)]
    return " ".join(parts)


@PROPERTY
@given(long_entries())
def test_free_text_round_trip(signal: ParsedSignal) -> None:
    limit = ParsedSignal(
        action=SignalAction.BUY,
        format="free_text",
        symbol=signal.symbol,
        order_kind=OrderKind.LIMIT,
        price=signal.price,
        stop_loss=signal.stop_loss,
        take_profits=signal.take_profits,
    )
    assert parse_signal(free_text(limit)) == limit


offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timedelta(minutes=minutes)
)


@PROPERTY
@given(st.datetimes(), offsets)
@example(datetime(1, 1, 1), timedelta(hours=5))  # moved before year 1 by its offset
@example(datetime(9999, 12, 31, 23), timedelta(hours=-5))
def test_any_iso_time_with_an_offset_is_read_as_utc_or_refused(
    moment: datetime, offset: timedelta
) -> None:
    stamp = moment.replace(tzinfo=timezone(offset)).isoformat()
    result = outcome(f'{{"action": "buy", "ticker": "BTCUSDT", "time": "{stamp}"}}')
    if isinstance(result, ParsedSignal):
        assert result.sent_at == moment.replace(tzinfo=timezone(offset))
    else:
        assert "out of range" in result[0]


def tradingview_json(signal: ParsedSignal) -> str:
    assert signal.symbol is not None and signal.price is not None
    document: dict[str, object] = {
        "action": "buy",
        "ticker": signal.symbol.replace("/", ""),
        "order_type": signal.order_kind.value,
        "price": f"{signal.price:f}",
    }
    if signal.amount is not None:
        percent = "%" if signal.amount.unit is AmountUnit.PERCENT else ""
        document["quantity"] = f"{signal.amount.value:f}{percent}"
    if signal.stop_loss is not None:
        document["stop_loss"] = f"{signal.stop_loss:f}"
    if signal.take_profits:
        document["take_profit"] = [f"{step.price:f}" for step in signal.take_profits]
    optional = {
        "id": signal.alert_id,
        "tag": signal.tag,
        "time": signal.sent_at.isoformat() if signal.sent_at else None,
        "max_lag": signal.max_lag_seconds,
    }
    document.update({key: value for key, value in optional.items() if value is not None})
    return json.dumps(document)


@PROPERTY
@given(long_entries())
def test_tradingview_json_round_trip(signal: ParsedSignal) -> None:
    expected = replace(signal, format="tradingview")
    assert parse_signal(tradingview_json(signal)) == expected
