"""The ``config`` of a signal-list backtest: the signals to replay and the bot's sizing."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictStr

from autogrid.bots.fields import Positive
from autogrid.signals.grammar import MAX_BODY_CHARS

MAX_REPLAY_SIGNALS = 10_000


class SignalReplayItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime = Field(description="when the signal arrived")
    body: Annotated[StrictStr, Field(min_length=1, max_length=MAX_BODY_CHARS)] = Field(
        description="the signal as a webhook would receive it; parsed by the signal grammar"
    )


class SignalReplayParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signals: list[SignalReplayItem] = Field(min_length=1, max_length=MAX_REPLAY_SIGNALS)
    default_quote: Positive | None = Field(None, description="quote a buy without an amount")
    default_pct: Decimal = Field(
        Decimal(10), gt=0, le=100, description="else this percent of the free quote"
    )
    zone_orders: int = Field(3, ge=1, le=20, description="limit buys an entry zone is split into")
