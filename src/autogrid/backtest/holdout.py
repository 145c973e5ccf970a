"""Out-of-sample holdout for sweeps: the range split in two, each combination run on both parts.

A sweep given ``holdout_fraction`` (the last part of the range, e.g. 0.3) or
``out_of_sample_from`` (an open time) runs each combination twice: in sample, from the range's
start to the split, and out of sample, from the split to its end, each from a fresh account, as
if the bot were started anew on data the choice of parameters never saw. The split is floored to
a candle open of the timeframe; each part must hold two candles.

Both runs are ordinary backtests of the sweep; their params say which part they are
(``params["sweep"]["sample"]``) and carry the split and the sample the ranking reads, so a
sweep's read needs nothing but its runs. The ranking (``sweep_ranking.rank_runs``) reads the
figure of the part named by ``rank_by_sample`` only: picking the best in sample and reading its
out-of-sample figures beside it shows how much of the in-sample edge was fitted noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from autogrid.backtest import service
from autogrid.backtest.repository import SweepRunFacts
from autogrid.backtest.schemas import HoldoutRead, Sample, SampleRead, SweepCreate
from autogrid.bots.validation import invalid
from autogrid.core.errors import Unprocessable
from autogrid.market_data.timeframes import EPOCH, ms_to_datetime, parse_timeframe
from autogrid.models.backtest import BacktestStatus


def split_at(body: SweepCreate) -> datetime | None:
    """The open time of the first out-of-sample candle, or None for a sweep without holdout;
    422 if either part would hold fewer than two candles."""
    base = body.base
    if body.out_of_sample_from is not None:
        wanted, field = body.out_of_sample_from, "out_of_sample_from"
    elif body.holdout_fraction is not None:
        span_ms = (base.end - base.start) // timedelta(milliseconds=1)
        kept_ms = int(span_ms * (1 - body.holdout_fraction))
        wanted, field = base.start + timedelta(milliseconds=kept_ms), "holdout_fraction"
    else:
        return None
    timeframe = parse_timeframe(base.timeframe)
    split = ms_to_datetime(timeframe.floor((wanted - EPOCH) // timedelta(milliseconds=1)))
    two_candles = timedelta(milliseconds=2 * timeframe.ms)
    if split - base.start < two_candles or base.end - split < two_candles:
        raise invalid(
            f"the split at {_iso(split)} leaves fewer than two {base.timeframe} candles in or "
            "out of sample: move it inside the range",
            field,
        )
    return split


def sample_range(body: SweepCreate, split: datetime | None) -> tuple[datetime, datetime]:
    """The range the ranking reads: the whole one, or the part named by ``rank_by_sample``."""
    base = body.base
    if split is None:
        return base.start, base.end
    return (base.start, split) if body.rank_by_sample is Sample.IN else (split, base.end)


def split_runs(
    all_params: Sequence[dict[str, Any]], body: SweepCreate, split: datetime | None
) -> list[dict[str, Any]]:
    """Each combination's params, as they are without holdout, or as its two parts."""
    if split is None:
        return list(all_params)
    holdout = {"split": _iso(split), "rank_by_sample": body.rank_by_sample.value}
    runs = []
    for params in all_params:
        for sample, start, end in (
            (Sample.IN, params["start"], _iso(split)),
            (Sample.OUT, _iso(split), params["end"]),
        ):
            sweep = {**params["sweep"], "sample": sample.value, "holdout": holdout}
            runs.append({**params, "start": start, "end": end, "sweep": sweep})
    return runs


def check_size(combinations: int, body: SweepCreate, limit: int) -> int:
    """The number of runs; 422 over ``limit`` (a held-out combination runs twice)."""
    runs = combinations * (2 if body.held_out else 1)
    if runs <= limit:
        return runs
    twice = " (each combination runs in and out of sample)" if body.held_out else ""
    message = (
        f"the sweep expands to {runs:,} runs{twice}; at most {limit:,} are allowed: vary fewer "
        "values"
    )
    raise Unprocessable(
        message,
        details=[service.detail(message, ("vary",), "sweep_too_large", limit=limit, runs=runs)],
    )


def holdout_of(sweep_params: Sequence[dict[str, Any]]) -> HoldoutRead | None:
    """What a sweep's runs say of its holdout (every run of a held-out sweep carries it)."""
    for params in sweep_params:
        holdout = params.get("holdout")
        if holdout is not None:
            return HoldoutRead(
                split=datetime.fromisoformat(holdout["split"]),
                rank_by_sample=Sample(holdout["rank_by_sample"]),
            )
    return None


def sample_read(row: SweepRunFacts) -> SampleRead:
    succeeded = row.status == BacktestStatus.SUCCEEDED
    return SampleRead(
        id=row.id,
        status=BacktestStatus(row.status),
        start=datetime.fromisoformat(row.start),
        end=datetime.fromisoformat(row.end),
        figures={name: value if succeeded else None for name, value in row.figures.items()},
        error=row.error,
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
