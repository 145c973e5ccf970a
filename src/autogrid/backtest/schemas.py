"""Bodies and responses of /backtests and /backtests/sweeps.

A backtest body names a bot type and its ``config`` exactly as a bot does (the bots' own config
models, discriminated on ``type``), plus the candles to replay (exchange, symbol, timeframe,
``start <= open time < end``) and the simulated account (quote balance, fees, slippage). Request
models refuse unknown fields: owner, status and results are never set through the API.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

from autogrid.backtest.metrics import MIN_ANNUALISED_DAYS
from autogrid.backtest.signal_schemas import SignalReplayParams
from autogrid.bots.configs import DcaParams, GridParams
from autogrid.bots.fields import DecimalText, ExchangeId, Positive, Symbol, Timeframe, plain_decimal
from autogrid.bots.indicator_params import IndicatorParams
from autogrid.core.pagination import Page
from autogrid.core.sqltypes import MONEY_PRECISION, MONEY_SCALE
from autogrid.models.backtest import BacktestStatus

MAX_RATE = Decimal("0.1")  # 10 %: a fee or slippage above it is a typo, not a market
MAX_VARIED_FIELDS = 5
MAX_VALUES_PER_FIELD = 100
MAX_HOLDOUT_FRACTION = Decimal("0.9")

# A fraction such as a fee (0.001 = 0.1 %): 0 to 0.1.
Rate = Annotated[
    Decimal,
    Field(
        ge=0,
        le=MAX_RATE,
        max_digits=MONEY_PRECISION,
        decimal_places=MONEY_SCALE,
        allow_inf_nan=False,
    ),
    AfterValidator(plain_decimal),
    DecimalText,
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Fees(_Body):
    """Maker and taker fees as fractions (0.001 = 0.1 %); null: the market's own."""

    maker: Rate | None = None
    taker: Rate | None = None


class _BacktestCreateBase(_Body):
    type: str  # narrowed to one Literal by each subclass (the discriminator)
    exchange: ExchangeId
    symbol: Symbol
    timeframe: Timeframe = Field("1m", description="the stored candles to replay")
    start: AwareDatetime = Field(description="first candle open time (inclusive)")
    end: AwareDatetime = Field(description="last candle open time (exclusive)")
    initial_balance: Positive = Field(description="starting quote balance")
    fees: Fees = Field(default_factory=Fees)
    slippage: Rate = Field(Decimal(0), description="market orders fill this fraction worse")

    @model_validator(mode="after")
    def _range(self) -> _BacktestCreateBase:
        self.start = self.start.astimezone(UTC)
        self.end = self.end.astimezone(UTC)
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class GridBacktestCreate(_BacktestCreateBase):
    type: Literal["grid"]
    config: GridParams


class DcaBacktestCreate(_BacktestCreateBase):
    type: Literal["dca"]
    config: DcaParams


class IndicatorBacktestCreate(_BacktestCreateBase):
    type: Literal["indicator"]
    config: IndicatorParams


class SignalBacktestCreate(_BacktestCreateBase):
    """A stored list of signals replayed by the signal bot (``signal_replay``)."""

    type: Literal["signal"]
    config: SignalReplayParams


AnyBacktestCreate = (
    GridBacktestCreate | DcaBacktestCreate | IndicatorBacktestCreate | SignalBacktestCreate
)
BacktestCreate = Annotated[AnyBacktestCreate, Field(discriminator="type")]
BACKTEST_CREATE: TypeAdapter[AnyBacktestCreate] = TypeAdapter(BacktestCreate)


# --- sweeps -------------------------------------------------------------------------------


class RankMetric(StrEnum):
    """Figures of a result (see the results' ``summary``) a sweep can be ranked by."""

    RETURN_PCT = "return_pct"
    CAGR_PCT = "cagr_pct"
    SHARPE = "sharpe"
    SORTINO = "sortino"
    CALMAR = "calmar"
    MAX_DRAWDOWN_PCT = "max_drawdown_pct"
    WIN_RATE = "win_rate"
    PROFIT_FACTOR = "profit_factor"
    FINAL_EQUITY = "final_equity"
    FEES = "fees"
    TRADES = "trades"
    ROUND_TRIPS = "round_trips"
    EXPOSURE_PCT = "exposure_pct"


# Scaled to a year: null for a run under ``MIN_ANNUALISED_DAYS``, so no ranking by them there.
ANNUALISED_METRICS = frozenset(
    {RankMetric.CAGR_PCT, RankMetric.SHARPE, RankMetric.SORTINO, RankMetric.CALMAR}
)


class SortOrder(StrEnum):
    DESC = "desc"  # best = highest (returns, ratios)
    ASC = "asc"  # best = lowest (drawdown, fees)


FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
# Values keep their JSON type: 10 stays an integer (grid_count is strict), "95000" a decimal text.
VaryValue = (
    Annotated[StrictStr, StringConstraints(max_length=64)] | StrictInt | StrictFloat | StrictBool
)
VaryValues = Annotated[list[VaryValue], Field(min_length=1, max_length=MAX_VALUES_PER_FIELD)]


class Sample(StrEnum):
    """Which part of a held-out sweep's range: before the split (in) or from it on (out)."""

    IN = "in"
    OUT = "out"


class SweepCreate(_Body):
    """Run ``base`` once per combination of the ``vary`` values (config fields of its type).

    With ``holdout_fraction`` (or ``out_of_sample_from``) the range is split: each combination
    runs twice, on the in-sample part before the split and on the out-of-sample part from it on,
    each from a fresh account; ``rank_by_sample`` picks the part the ranking reads.
    """

    base: BacktestCreate
    vary: Annotated[dict[FieldName, VaryValues], Field(min_length=1, max_length=MAX_VARIED_FIELDS)]
    rank_by: RankMetric = RankMetric.RETURN_PCT
    order: SortOrder = SortOrder.DESC
    holdout_fraction: Annotated[Decimal, Field(gt=0, le=MAX_HOLDOUT_FRACTION)] | None = Field(
        None, description="the last part of the range held out of sample, e.g. 0.3"
    )
    out_of_sample_from: AwareDatetime | None = Field(
        None, description="or: the open time the out-of-sample part starts at"
    )
    rank_by_sample: Sample = Field(
        Sample.IN, description="rank by the in-sample or the out-of-sample figures"
    )

    @model_validator(mode="after")
    def _one_split(self) -> SweepCreate:
        if self.holdout_fraction is not None and self.out_of_sample_from is not None:
            raise ValueError("give holdout_fraction or out_of_sample_from, not both")
        if self.out_of_sample_from is not None:
            self.out_of_sample_from = self.out_of_sample_from.astimezone(UTC)
        if self.rank_by_sample is Sample.OUT and not self.held_out:
            raise ValueError("rank_by_sample out needs holdout_fraction or out_of_sample_from")
        return self

    @property
    def held_out(self) -> bool:
        return self.holdout_fraction is not None or self.out_of_sample_from is not None


# --- responses ----------------------------------------------------------------------------


class FeesRead(BaseModel):
    maker: Annotated[Decimal, DecimalText]
    taker: Annotated[Decimal, DecimalText]


class BacktestListItem(BaseModel):
    id: uuid.UUID
    sweep_id: uuid.UUID | None
    status: BacktestStatus
    progress: float = Field(description="0 to 1")
    type: str
    config: dict[str, Any]
    exchange: str
    symbol: str
    timeframe: str
    start: datetime
    end: datetime
    initial_balance: Annotated[Decimal, DecimalText]
    fees: FeesRead
    slippage: Annotated[Decimal, DecimalText]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class BacktestRead(BacktestListItem):
    results: dict[str, Any] | None = Field(
        description=(
            "when succeeded: the summary figures, equity/drawdown/price curves (at most 2,000 "
            "points each, [time, value]) and closed trades (at most 5,000 stored; "
            "closed_trades_total counts them all). Figures scaled to a year (cagr_pct, sharpe, "
            f"sortino, calmar) need a span_days of at least {MIN_ANNUALISED_DAYS}: under it they "
            "are null, annualised is false and annualised_note says why. win_rate and "
            "profit_factor count each bot type's own round trips: a grid's sell against the buy "
            "one level below, a DCA deal, an indicator entry and its exit (profit_factor is null "
            "without a losing trade). Curve points are at "
            "candle closes; a trade's entry_time and exit_time are the open time of the candle "
            "its fill happened in: a market order fills at that open, and a limit order reached "
            "inside the candle carries the same open time (candles do not say when within them)"
        )
    )


class BacktestPage(Page[BacktestListItem]):
    """A page of backtests (without their results: read one for those)."""


class SweepStatus(StrEnum):
    QUEUED = "queued"  # no run started yet
    RUNNING = "running"  # some run queued or running
    FINISHED = "finished"  # every run succeeded or failed: ranked


class SampleRead(BaseModel):
    """One part of a held-out combination: its run and its figures."""

    id: uuid.UUID
    status: BacktestStatus
    start: datetime
    end: datetime
    figures: dict[str, Any] = Field(
        description="each rank_by figure of the run's results (null until it succeeded)"
    )
    error: str | None


class SweepRunRead(BaseModel):
    id: uuid.UUID
    status: BacktestStatus
    progress: float
    parameters: dict[str, Any] = Field(description="this run's values of the varied fields")
    value: float | None = Field(description="the rank_by figure, once succeeded")
    rank: int | None = Field(description="1 = best; null until the sweep is finished")
    error: str | None
    in_sample: SampleRead | None = Field(
        None, description="held-out sweeps: the combination's in-sample run (else null)"
    )
    out_of_sample: SampleRead | None = Field(
        None,
        description="held-out sweeps: its out-of-sample run; id, status, value and rank "
        "above are those of the part named by rank_by_sample",
    )


class SweepCounts(BaseModel):
    queued: int
    running: int
    succeeded: int
    failed: int


class SweepListItem(BaseModel):
    id: uuid.UUID
    status: SweepStatus
    vary: dict[str, list[Any]]
    rank_by: RankMetric
    order: SortOrder
    runs_total: int
    runs_done: int = Field(description="runs finished so far (succeeded or failed)")
    counts: SweepCounts
    created_at: datetime


class SweepBest(BaseModel):
    """The best run finished so far by rank_by: what a running sweep has found yet."""

    id: uuid.UUID
    parameters: dict[str, Any]
    value: float


class HoldoutRead(BaseModel):
    split: datetime = Field(description="open time of the first out-of-sample candle")
    rank_by_sample: Sample


class SweepRead(SweepListItem):
    combinations: int = Field(description="parameter combinations tried")
    holdout: HoldoutRead | None = Field(
        description="null unless the range was split in and out of sample; then runs_total is "
        "twice the combinations, and each entry of runs is one combination"
    )
    best_so_far: SweepBest | None = Field(
        description="while the sweep runs too: the best succeeded run yet by rank_by (of the "
        "rank_by_sample part when held out); null until one succeeded with the figure"
    )
    runs: list[SweepRunRead] = Field(
        description="best first once finished (failed runs and runs without the figure last); "
        "before that, in combination order"
    )


class SweepPage(Page[SweepListItem]):
    """A page of sweeps (without their runs)."""
