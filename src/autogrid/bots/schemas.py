"""Bodies and responses of /bots.

The create body is a union discriminated on ``type``, so /docs shows each bot type with its own
``config``. Request models refuse unknown fields: owner, status, state and the breaker's trip are
never set through the API. Responses repeat the request's names, plus what the server owns.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    model_validator,
)
from sqlalchemy.engine import Row

from autogrid.bots.configs import DcaParams, GridParams, dca_max_deal_funds
from autogrid.bots.fields import (
    Amount,
    BotName,
    Currency,
    ExchangeId,
    NonNegative,
    PositivePercent,
    Symbol,
    Timeframe,
)
from autogrid.bots.indicator_params import IndicatorParams
from autogrid.bots.read_params import validated
from autogrid.bots.scheduled_buys import (
    next_runs,
    recurring_buy_of,
    schedule_state,
    settled_through,
)
from autogrid.bots.signal_params import SignalBotParams
from autogrid.bots.smart_trade_params import SmartTradeParams
from autogrid.bots.state import GRID_WAIT_KEYS, parse_state
from autogrid.core.pagination import Page
from autogrid.models.bot import Bot, BotMode, BotStatus, BotType

# A bot as the reads see it: the ORM object, or a Core row of the bots table's columns (the
# list and detail reads, which build no ORM objects).
BotFields = Bot | Row[Any]

MIN_TICK_SECONDS = 1
MAX_TICK_SECONDS = 3600
DEFAULT_TICK_SECONDS = 5
MAX_REPLAY_SPEED = 100_000

TickInterval = Annotated[int, Field(ge=MIN_TICK_SECONDS, le=MAX_TICK_SECONDS)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PriceSource(StrEnum):
    REPLAY = "replay"  # stored candles from ``start``, ``speed`` times faster than real time
    LIVE = "live"  # the exchange's public prices


class PaperSettings(_Body):
    """Simulated trading: where prices come from and the starting balances."""

    price_source: PriceSource
    timeframe: Timeframe = "1m"
    start: AwareDatetime | None = Field(None, description="replay only: first candle time")
    speed: Annotated[int, Field(ge=1, le=MAX_REPLAY_SPEED)] | None = Field(
        None, description="replay only: times faster than real time (default 1)"
    )
    balances: Annotated[dict[Currency, NonNegative], Field(min_length=1, max_length=2)] = Field(
        description="starting balances of the symbol's base and/or quote currency"
    )

    @model_validator(mode="after")
    def _fits_price_source(self) -> PaperSettings:
        if self.price_source is PriceSource.REPLAY:
            if self.start is None:
                raise ValueError("a replay needs a start time")
            self.start = self.start.astimezone(UTC)
            if self.speed is None:
                self.speed = 1
        elif self.start is not None or self.speed is not None:
            raise ValueError("start and speed only apply to price_source replay")
        return self


class BreakerSettings(_Body):
    """Circuit breaker limits; each may only be tighter than the platform's (null: platform's)."""

    max_orders_per_minute: Annotated[int, Field(ge=1)] | None = None
    max_loss_pct_per_hour: PositivePercent | None = None
    max_price_deviation_pct: PositivePercent | None = Field(
        None,
        description="how far through the market a limit price may be (a buy above the last "
        "price, a sell below it); orders resting on their own side are never refused for "
        "their distance",
    )
    max_consecutive_errors: Annotated[int, Field(ge=1)] | None = None
    cancel_open_orders_on_trip: bool = False

    def limit_overrides(self) -> dict[str, int | Decimal]:
        """The limits the bot sets, by ``BreakerLimits`` field name."""
        values: dict[str, int | Decimal | None] = {
            "max_orders_per_minute": self.max_orders_per_minute,
            "max_loss_pct_per_hour": self.max_loss_pct_per_hour,
            "max_price_deviation_pct": self.max_price_deviation_pct,
            "max_consecutive_errors": self.max_consecutive_errors,
        }
        return {name: value for name, value in values.items() if value is not None}


class _BotSettings(_Body):
    """What a bot is given beyond its strategy: name, mode, account and safety settings."""

    name: BotName
    mode: BotMode = BotMode.PAPER
    credential_id: uuid.UUID | None = Field(None, description="live only: one of your API keys")
    paper: PaperSettings | None = Field(None, description="paper only")
    tick_interval_seconds: TickInterval = DEFAULT_TICK_SECONDS
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)

    @model_validator(mode="after")
    def _fits_mode(self) -> _BotSettings:
        if self.mode is BotMode.PAPER:
            if self.paper is None:
                raise ValueError("a paper bot needs paper settings")
            if self.credential_id is not None:
                raise ValueError("credential_id only applies to live bots")
        else:
            if self.credential_id is None:
                raise ValueError("a live bot needs a credential_id")
            if self.paper is not None:
                raise ValueError("paper settings only apply to paper bots")
        return self


# Shown in /docs, and sent as is by the property-based API tests, whose later steps then work on
# a real bot: a paper grid replaying stored BTC/USDT candles.
GRID_BOT_EXAMPLE: dict[str, Any] = {
    "type": "grid",
    "name": "btc grid",
    "exchange": "binance",
    "symbol": "BTC/USDT",
    "mode": "paper",
    "paper": {
        "price_source": "replay",
        "timeframe": "1m",
        "start": "2025-05-20T00:00:00Z",
        "speed": 600,
        "balances": {"USDT": "10000"},
    },
    "config": {
        "lower_price": "100000",
        "upper_price": "125000",
        "grid_count": 20,
        "investment": "5000",
    },
}


class _BotCreateBase(_BotSettings):
    type: str  # narrowed to one Literal by each subclass (the discriminator)
    exchange: ExchangeId
    symbol: Symbol


# What smart trades build their bodies on.
BotSettings = _BotSettings


class GridBotCreate(_BotCreateBase):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [GRID_BOT_EXAMPLE]})

    type: Literal["grid"]
    config: GridParams


class DcaBotCreate(_BotCreateBase):
    type: Literal["dca"]
    config: DcaParams


class IndicatorBotCreate(_BotCreateBase):
    type: Literal["indicator"]
    config: IndicatorParams


class SignalBotCreate(_BotCreateBase):
    """A signal bot trades on what the signal sources targeting it send (buy, sell, close_all,
    reverse); paper bots use live prices."""

    type: Literal["signal"]
    config: SignalBotParams = Field(default_factory=SignalBotParams)


class SmartTradeBotCreate(_BotCreateBase):
    """The bot a smart trade runs as: made by /smart-trades, never a /bots body."""

    type: Literal["smart_trade"] = "smart_trade"
    config: SmartTradeParams


AnyBotCreate = GridBotCreate | DcaBotCreate | IndicatorBotCreate | SignalBotCreate
BotCreate = Annotated[AnyBotCreate, Field(discriminator="type")]
BOT_CREATE: TypeAdapter[AnyBotCreate] = TypeAdapter(BotCreate)


class BotFromBacktestCreate(_BotSettings):
    """A bot of a tested configuration: its type, exchange, symbol and config are those of the
    backtest ``from_backtest_id`` (a sweep's run is a backtest too: use its id). Each of them
    may be given as well, to state what is expected; if one differs from the backtest's, the
    request is refused (422), never silently changed. The backtest must have succeeded (409)."""

    from_backtest_id: uuid.UUID = Field(description="one of your succeeded backtests or runs")
    type: Literal["grid", "dca", "indicator"] | None = None
    exchange: ExchangeId | None = None
    symbol: Symbol | None = None
    config: dict[str, Any] | None = Field(None, description="if given: must equal the tested")


def _create_kind(data: Any) -> str | None:
    """The body's variant: from a backtest when it names one, else its bot type."""
    if isinstance(data, dict):
        if "from_backtest_id" in data:
            return "from_backtest"
        kind = data.get("type")
    elif isinstance(data, BotFromBacktestCreate):
        return "from_backtest"
    else:
        kind = getattr(data, "type", None)
    return kind if isinstance(kind, str) else None


BotCreateRequest = Annotated[
    Annotated[GridBotCreate, Tag("grid")]
    | Annotated[DcaBotCreate, Tag("dca")]
    | Annotated[IndicatorBotCreate, Tag("indicator")]
    | Annotated[SignalBotCreate, Tag("signal")]
    | Annotated[BotFromBacktestCreate, Tag("from_backtest")],
    Discriminator(
        _create_kind,
        custom_error_type="bot_type",
        custom_error_message=(
            "type must be grid, dca, indicator or signal, or give from_backtest_id"
        ),
    ),
]


class BotUpdate(_Body):
    """Fields left out (or null) keep their value. config, paper and breaker are replaced whole,
    and only while the bot is stopped."""

    name: BotName | None = None
    tick_interval_seconds: TickInterval | None = None
    credential_id: uuid.UUID | None = Field(None, description="live bots: another of your keys")
    config: dict[str, Any] | None = Field(
        None, description="the complete config for the bot's type (see the create body)"
    )
    paper: PaperSettings | None = None
    breaker: BreakerSettings | None = None

    @property
    def changes_configuration(self) -> bool:
        return any(
            value is not None
            for value in (self.config, self.paper, self.breaker, self.credential_id)
        )


class StopRequest(_Body):
    cancel_orders: bool = Field(True, description="cancel the bot's open orders")
    sell_base: bool = Field(False, description="then sell the base it holds at market")

    @model_validator(mode="after")
    def _cancel_before_selling(self) -> StopRequest:
        if self.sell_base and not self.cancel_orders:
            raise ValueError("sell_base needs cancel_orders: open sells hold the base")
        return self


# --- responses ----------------------------------------------------------------------------


class BreakerState(BaseModel):
    tripped: bool
    reason: str | None
    tripped_at: datetime | None


class StoppedBy(StrEnum):
    OWNER = "owner"
    BOT = "bot"


class _BotReadBase(BaseModel):
    id: uuid.UUID
    type: str  # narrowed to one Literal by each subclass (the discriminator)
    name: str
    exchange: str
    symbol: str
    mode: BotMode
    credential_id: uuid.UUID | None
    paper: PaperSettings | None
    tick_interval_seconds: int
    breaker: BreakerSettings
    status: BotStatus
    breaker_state: BreakerState
    error: str | None
    investment: Amount | None = Field(
        description="quote at stake (null: a share of whatever quote is free)"
    )
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None
    stopped_by: StoppedBy | None = Field(
        description="who took the bot out of running: its owner, or the bot itself (an error, "
        "the breaker, its strategy, the replay's end, an order given up); null while it runs"
    )


class GridOrdersWaiting(BaseModel):
    """A grid's orders the exchange refused (a balance spent elsewhere, a price filter) or
    someone else cancelled, each to be placed again at the first tick from ``retry_at``."""

    sell_levels: list[int] = Field(description="the levels whose sell waits (0: the lowest)")
    buy_levels: list[int] = Field(description="the levels whose buy waits")
    refusals: int = Field(description="refusals in a row; each waits longer, at most 16 minutes")
    retry_at: datetime | None = Field(description="when they are placed again (UTC)")


class GridBotRead(_BotReadBase):
    type: Literal["grid"]
    config: GridParams
    orders_waiting: GridOrdersWaiting | None = Field(
        description="orders of its ladder waiting to be placed again (null: none waits)"
    )


class RecurringBuysRead(BaseModel):
    """Where the bot's schedule stands (times in UTC)."""

    next_runs: list[datetime] = Field(description="the next slots it will buy")
    settled_through: datetime | None = Field(
        description="every slot up to here is bought or dropped (null: never started)"
    )
    buys: int = Field(description="slots bought since the bot was created")
    last_slot: datetime | None = Field(description="the newest slot bought")
    missed: int = Field(description="slots dropped by the catch-up policy")


class DcaBotRead(_BotReadBase):
    type: Literal["dca"]
    config: DcaParams
    max_deal_funds: Amount | None = Field(
        description="quote one deal can commit, all safety orders in (null: no deals)"
    )
    recurring_buys: RecurringBuysRead | None = Field(
        None, description="the schedule's next runs and record (null: no schedule)"
    )


class IndicatorBotRead(_BotReadBase):
    type: Literal["indicator"]
    config: IndicatorParams


class SignalBotRead(_BotReadBase):
    type: Literal["signal"]
    config: SignalBotParams


class SmartTradeBotRead(_BotReadBase):
    """A smart trade seen as the bot that runs it (its own view: /smart-trades/{id})."""

    type: Literal["smart_trade"]
    config: SmartTradeParams


AnyBotRead = GridBotRead | DcaBotRead | IndicatorBotRead | SignalBotRead | SmartTradeBotRead
BotRead = Annotated[AnyBotRead, Field(discriminator="type")]


class BotPage(Page[BotRead]):
    """A page of bots (named, so /docs does not spell out the union)."""


_BOT_READ: TypeAdapter[AnyBotRead] = TypeAdapter(BotRead)


# --- what is stored in bot.config ---------------------------------------------------------


def stored_config(params: BaseModel, breaker: BreakerSettings) -> dict[str, Any]:
    """``bot.config``: the strategy's parameters and the breaker settings, JSON-ready."""
    return {"strategy": params.model_dump(mode="json"), "breaker": breaker.model_dump(mode="json")}


def stored_json(value: Any) -> Any:
    """A JSON column's value: decoded by the ORM, or its text in a read row (``bot_reads``)."""
    return json.loads(value) if isinstance(value, str) else value


def strategy_data(bot: BotFields) -> dict[str, Any]:
    data: dict[str, Any] = stored_json(bot.config)["strategy"]
    return data


def breaker_settings(bot: Bot) -> BreakerSettings:
    return BreakerSettings.model_validate(bot.config.get("breaker") or {})


def _stopped_by(bot: BotFields) -> StoppedBy | None:
    if bot.stop_initiator is not None:
        return StoppedBy(bot.stop_initiator)
    # Halted or in error before the initiator was recorded: the bot stopped itself.
    return StoppedBy.BOT if bot.status in (BotStatus.HALTED, BotStatus.ERROR) else None


# Each type's strategy parameters, validated for its read model (``read_params.validated``);
# an indicator bot's are a union of models, left to the read model's own validation.
_PARAMS: dict[str, type[BaseModel]] = {
    BotType.GRID: GridParams,
    BotType.DCA: DcaParams,
    BotType.SIGNAL: SignalBotParams,
    BotType.SMART_TRADE: SmartTradeParams,
}


def bot_read(bot: BotFields) -> AnyBotRead:
    # The stored settings as the models validation makes of them, from memory when their
    # content was read before (``read_params``): the read model takes them as they are.
    params = _PARAMS.get(bot.type)
    stored = stored_json(bot.config)
    config = stored["strategy"]
    paper = stored_json(bot.paper)
    data: dict[str, Any] = {
        "id": bot.id,
        "type": bot.type,
        "name": bot.name,
        "exchange": bot.exchange,
        "symbol": bot.symbol,
        "mode": bot.mode,
        "credential_id": bot.credential_id,
        "paper": validated(PaperSettings, paper) if paper is not None else None,
        "tick_interval_seconds": bot.tick_interval_seconds,
        "config": validated(params, config) if params is not None else config,
        "breaker": validated(BreakerSettings, stored.get("breaker") or {}),
        "status": bot.status,
        "breaker_state": {
            "tripped": bot.breaker_reason is not None,
            "reason": bot.breaker_reason,
            "tripped_at": bot.breaker_tripped_at,
        },
        "error": bot.error,
        "investment": bot.investment,
        "created_at": bot.created_at,
        "updated_at": bot.updated_at,
        "started_at": bot.started_at,
        "stopped_at": bot.stopped_at,
        "stopped_by": _stopped_by(bot),
    }
    if bot.type == BotType.GRID:
        data["orders_waiting"] = _grid_orders_waiting(bot)
    if isinstance(data["config"], DcaParams):
        dca = data["config"]
        data["max_deal_funds"] = dca_max_deal_funds(dca)
        data["recurring_buys"] = _recurring_buys(bot, dca)
    return _BOT_READ.validate_python(data)


def _grid_orders_waiting(bot: BotFields) -> dict[str, Any] | None:
    # A read row carries these parts of the state alone (``repository``), as JSON text.
    if isinstance(bot, Bot):
        strategy = (bot.state or {}).get("strategy") or {}
        sells, buys, backoff = (strategy.get(key) for key in GRID_WAIT_KEYS)
    else:
        sells, buys, backoff = (stored_json(getattr(bot, f"grid_{key}")) for key in GRID_WAIT_KEYS)
    if not sells and not buys:
        return None
    backoff = backoff or {}
    return {
        "sell_levels": sorted(sells or ()),
        "buy_levels": sorted(int(level) for level in buys or {}),
        "refusals": backoff.get("refusals", 0),
        "retry_at": backoff.get("retry_at"),
    }


def _recurring_buys(bot: BotFields, params: DcaParams) -> dict[str, Any] | None:
    schedule = recurring_buy_of(params)
    if schedule is None:
        return None
    started_at = bot.started_at if bot.status != BotStatus.STOPPED else None
    state = parse_state(stored_json(bot.state))
    memory = schedule_state(state)
    last = memory.get("last_slot")
    return {
        "next_runs": next_runs(schedule[0], state, started_at, datetime.now(UTC)),
        "settled_through": settled_through(state, started_at),
        "buys": int(memory.get("buys", 0)),
        "last_slot": datetime.fromisoformat(last) if last else None,
        "missed": int(memory.get("missed", 0)),
    }
