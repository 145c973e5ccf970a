"""Field types of the bot API: decimals that travel as strings, names, symbols, currencies.

Money and amounts are accepted as JSON strings or numbers and always emitted as plain decimal
strings (``"5000"``, ``"0.5"``, ``"0.00000001"``; never ``"5E+3"``, ``"1E-8"`` or ``"5000.00"``),
the same normal form the database's Money column reads back, so a value round-trips unchanged.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
)

from autogrid.core.sqltypes import MONEY_PRECISION, MONEY_SCALE
from autogrid.market_data.timeframes import parse_timeframe


def plain_decimal(value: Decimal) -> Decimal:
    """``5000.00`` -> ``5000``, ``1E+3`` -> ``1000``, ``0.50`` -> ``0.5``."""
    normalized = value.normalize()
    exponent = normalized.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        return normalized.quantize(Decimal(1))
    return normalized


def _plain_text(value: Decimal) -> str:
    return format(value, "f")  # str() would write 0.00000001 as 1E-8


# Emits a Decimal as a plain string in JSON (Python-mode dumps keep the Decimal).
DecimalText = PlainSerializer(_plain_text, return_type=str, when_used="json")
# A computed or stored amount, in the normal form and emitted as a plain string.
Amount = Annotated[Decimal, AfterValidator(plain_decimal), DecimalText]


# What a decimal sent as a JSON string may look like ("5000", " 0.5", "1e-8", "1_000"), stated in
# the OpenAPI: pydantic documents the string form as any string at all.
DECIMAL_TEXT_PATTERN = r"^\s*[+-]?(\d(_?\d)*(\.(\d(_?\d)*)?)?|\.\d(_?\d)*)([eE][+-]?\d+)?\s*$"


def _decimal(**bounds: Any) -> Any:
    # The column is NUMERIC(38, 18): a value that does not fit is refused here, not by the database.
    return Field(
        max_digits=MONEY_PRECISION,
        decimal_places=MONEY_SCALE,
        allow_inf_nan=False,
        json_schema_extra={"pattern": DECIMAL_TEXT_PATTERN},
        **bounds,
    )


# A price or an amount of money: strictly positive.
Positive = Annotated[Decimal, _decimal(gt=0), AfterValidator(plain_decimal), DecimalText]
# A balance: zero allowed.
NonNegative = Annotated[Decimal, _decimal(ge=0), AfterValidator(plain_decimal), DecimalText]
# A percentage of something, strictly between 0 and 100.
Percent = Annotated[Decimal, _decimal(gt=0, lt=100), AfterValidator(plain_decimal), DecimalText]
# A percentage that may exceed 100 (a take profit of +150%), capped to refuse typos.
PositivePercent = Annotated[
    Decimal, _decimal(gt=0, le=1000), AfterValidator(plain_decimal), DecimalText
]
# A multiplier (3Commas' martingale coefficients).
Coefficient = Annotated[
    Decimal, _decimal(ge=Decimal("0.1"), le=10), AfterValidator(plain_decimal), DecimalText
]

BotName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


# Case is normalised before the pattern is checked: "Binance" is binance, "btc/usdt" BTC/USDT.
# The OpenAPI states what is accepted before that (any case, surrounding spaces): pydantic leaves
# a pattern behind a before-validator out of the schema, and clients should not have to guess.
# ccxt's exchange ids are lowercase letters and digits ("binance", "gate", "okx").
ExchangeId = Annotated[
    str,
    BeforeValidator(_lower),
    StringConstraints(pattern=r"^[a-z][a-z0-9]{1,31}$"),
    Field(json_schema_extra={"pattern": r"^\s*[A-Za-z][A-Za-z0-9]{1,31}\s*$"}),
]
# Spot symbols in ccxt's unified form, "BASE/QUOTE".
Symbol = Annotated[
    str,
    BeforeValidator(_upper),
    StringConstraints(max_length=40, pattern=r"^[A-Z0-9]{1,16}/[A-Z0-9]{1,16}$"),
    Field(json_schema_extra={"pattern": r"^\s*[A-Za-z0-9]{1,16}/[A-Za-z0-9]{1,16}\s*$"}),
]
Currency = Annotated[
    str,
    BeforeValidator(_upper),
    StringConstraints(pattern=r"^[A-Z0-9]{1,16}$"),
    Field(json_schema_extra={"pattern": r"^\s*[A-Za-z0-9]{1,16}\s*$"}),
]


Count = Annotated[int, Strict()]


def _timeframe(text: str) -> str:
    return parse_timeframe(text).name  # InvalidTimeframe is a ValueError: a 422 naming the field


Timeframe = Annotated[str, Field(max_length=8), AfterValidator(_timeframe)]


class ParamsModel(BaseModel):
    """A strategy's parameters: an unknown name is a mistake to report, never to ignore."""

    model_config = ConfigDict(extra="forbid")
