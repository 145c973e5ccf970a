"""Bodies and responses of the risk routes: the kill switch, a user's account limits."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from autogrid.bots.fields import DECIMAL_TEXT_PATTERN, DecimalText, Positive, plain_decimal
from autogrid.core.sqltypes import MONEY_PRECISION, MONEY_SCALE


class KillSwitchEngage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class KillSwitchRead(BaseModel):
    engaged: bool
    reason: str | None
    changed_by: uuid.UUID | None
    changed_at: datetime | None
    halted_bots: int | None = Field(None, description="bots halted by this engagement")


# A share of equity, in percent: more than 0, at most 100.
SharePct = Annotated[
    Decimal,
    Field(
        gt=0,
        le=100,
        max_digits=MONEY_PRECISION,
        decimal_places=MONEY_SCALE,
        allow_inf_nan=False,
        json_schema_extra={"pattern": DECIMAL_TEXT_PATTERN},
    ),
    AfterValidator(plain_decimal),
    DecimalText,
]


class AccountLimitsBody(BaseModel):
    """The owner's limits over all their bots; each one left out or null is no limit. A PUT
    replaces them all. Only entries (buys) are ever refused: exits always go out."""

    model_config = ConfigDict(extra="forbid")

    max_trades_per_day: int | None = Field(
        None,
        gt=0,
        le=1_000_000,
        description="entries (buy orders) placed per UTC day, all bots together",
    )
    max_daily_loss: Positive | None = Field(
        None,
        description="realised loss per UTC day, in USDT, all bots together (a bot trading in"
        " another quote counts each booking at that quote's USDT rate when it was booked; a"
        " loss with no rate at all refuses entries); once reached, new entries wait for the"
        " next day",
    )
    max_risk_per_trade_pct: SharePct | None = Field(
        None,
        description="for an order with a stop: (entry - stop) x amount, in % of the equity it"
        " trades against",
    )
    max_open_positions: int | None = Field(
        None,
        gt=0,
        le=100_000,
        description="bots holding a position (or with a live buy) at once",
    )


class AccountLimitsRead(AccountLimitsBody):
    model_config = ConfigDict(extra="ignore")

    updated_at: datetime | None = Field(description="null: never set")
