"""The config of a signal bot: how it sizes a buy that names no amount, and splits an entry zone.

What it trades comes from its signal sources (a source targets the bot); the sizing names are the
signal-list backtest's (``backtest.signal_schemas``), so a tested source runs as it was tested.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field

from autogrid.bots.fields import Count, DecimalText, ParamsModel, Positive, plain_decimal
from autogrid.trading.strategies.signal_bot import SignalBotConfig

DefaultPercent = Annotated[Decimal, Field(gt=0, le=100), AfterValidator(plain_decimal), DecimalText]


class SignalBotParams(ParamsModel):
    """A long-only spot bot that buys and sells on what its signal sources send."""

    default_quote: Positive | None = Field(None, description="quote a buy without an amount")
    default_pct: DefaultPercent = Field(
        Decimal(10), description="else this percent of the free quote"
    )
    zone_orders: Count = Field(3, ge=1, le=20, description="limit buys an entry zone is split into")


def to_signal_bot_config(params: SignalBotParams) -> SignalBotConfig:
    return SignalBotConfig(
        default_quote=params.default_quote,
        default_pct=params.default_pct,
        zone_orders=params.zone_orders,
    )
