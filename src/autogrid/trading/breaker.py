"""Circuit breaker arithmetic: pure checks and state updates, the bot runner does the I/O.

Four limits, each with a safe platform default that a bot's config may only tighten:
- orders per rolling minute (a runaway strategy loop),
- loss over a rolling hour, as a percentage of the bot's investment (see ``record_pnl``),
- price deviation of an order through the reference (last/mid) price (fat fingers, bad data): a
  buy priced above it or a sell priced below it, which would trade at once at a price nobody
  meant; an order resting on its own side of the market is never refused for its distance,
- consecutive exchange errors (a broken key, an exchange in trouble).

Hitting a limit *trips* the breaker: every new or modified order is denied until a human resets it.
Cancels are never checked (``check_cancel``): stopping exposure must always be possible.

The state is an immutable value that serialises to JSON (``to_dict``/``from_dict``) so it lives in
the bot's state column and survives restarts and worker changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from autogrid.exchanges.types import Side

ORDER_RATE_WINDOW = timedelta(minutes=1)
LOSS_WINDOW = timedelta(hours=1)
_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class BreakerLimits:
    max_orders_per_minute: int = 50
    max_loss_pct_per_hour: Decimal = Decimal("5")
    max_price_deviation_pct: Decimal = Decimal("10")
    max_consecutive_errors: int = 5

    def __post_init__(self) -> None:
        for limit in fields(self):
            value = getattr(self, limit.name)
            if isinstance(value, Decimal) and not value.is_finite():
                raise ValueError(f"{limit.name} must be finite, got {value}")
            if value <= 0:
                raise ValueError(f"{limit.name} must be positive, got {value}")

    def tightened(self, overrides: Mapping[str, object]) -> BreakerLimits:
        """These limits with a bot's ``overrides`` applied; each may only be lowered (tightened).

        Raises ValueError for an unknown name, a value of the wrong kind, a non-positive value, or
        any attempt to loosen a limit above the platform's.
        """
        known = {limit.name: limit for limit in fields(self)}
        changes: dict[str, Any] = {}
        for name, raw in overrides.items():
            if name not in known:
                raise ValueError(
                    f"unknown circuit breaker limit {name!r}; known: {', '.join(sorted(known))}"
                )
            current = getattr(self, name)
            value = _parse_limit(name, raw, as_int=isinstance(current, int))
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
            if value > current:
                raise ValueError(
                    f"{name} may only be tightened: {value} is looser than the limit {current}"
                )
            changes[name] = value
        return replace(self, **changes)


def _parse_limit(name: str, raw: object, *, as_int: bool) -> int | Decimal:
    if isinstance(raw, bool):  # bool is an int subclass; True is not a limit
        raise ValueError(f"{name} must be a number, got {raw!r}")
    if as_int:
        if isinstance(raw, int):
            return raw
        raise ValueError(f"{name} must be a whole number, got {raw!r}")
    if isinstance(raw, Decimal | int | str | float):
        try:
            # str() first: a JSON float like 2.5 becomes Decimal("2.5"), not its binary expansion.
            value = Decimal(str(raw))
        except InvalidOperation:
            raise ValueError(f"{name} must be a number, got {raw!r}") from None
        if value.is_finite():
            return value
    raise ValueError(f"{name} must be a finite number, got {raw!r}")


@dataclass(frozen=True, slots=True)
class PnlSample:
    at: datetime
    pnl: Decimal


@dataclass(frozen=True, slots=True)
class BreakerState:
    # Times of orders sent within the last ORDER_RATE_WINDOW (older ones are pruned).
    order_times: tuple[datetime, ...] = ()
    # Only the samples that can still be the highest PnL of a future LOSS_WINDOW: strictly
    # decreasing PnL in time order (a sliding-window maximum), so the first one is the hour's high.
    pnl_samples: tuple[PnlSample, ...] = ()
    consecutive_errors: int = 0
    tripped_reason: str | None = None
    tripped_at: datetime | None = None

    @property
    def tripped(self) -> bool:
        return self.tripped_reason is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_times": [at.isoformat() for at in self.order_times],
            "pnl_samples": [{"at": s.at.isoformat(), "pnl": str(s.pnl)} for s in self.pnl_samples],
            "consecutive_errors": self.consecutive_errors,
            "tripped_reason": self.tripped_reason,
            "tripped_at": self.tripped_at.isoformat() if self.tripped_at else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BreakerState:
        """The inverse of ``to_dict``; missing keys mean a fresh breaker (a new bot)."""
        tripped_at = data.get("tripped_at")
        return cls(
            order_times=tuple(_aware(at) for at in data.get("order_times", ())),
            pnl_samples=tuple(
                PnlSample(_aware(s["at"]), Decimal(s["pnl"])) for s in data.get("pnl_samples", ())
            ),
            consecutive_errors=int(data.get("consecutive_errors", 0)),
            tripped_reason=data.get("tripped_reason"),
            tripped_at=_aware(tripped_at) if tripped_at is not None else None,
        )


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"breaker times must carry a timezone, got {text!r}")
    return value


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str | None = None
    # The denial hit a limit: the caller must ``trip`` the breaker with ``reason``.
    trips_breaker: bool = False


ALLOWED = Decision(allowed=True)


def check_new_order(
    state: BreakerState,
    limits: BreakerLimits,
    now: datetime,
    price: Decimal | None,
    reference_price: Decimal | None,
    side: Side,
) -> Decision:
    """May a new (or modified) order be sent now? ``price`` None means a market order, which has
    no price of its own to check. A limit order without a positive reference price is denied
    (we cannot tell if it is sane) but does not trip the breaker: the market data is at fault.

    Only the distance *through* the market counts: a buy above the reference or a sell below it
    fills at once, so a fat finger there loses money. A buy resting below or a sell resting above
    fills at its own price or never: a DCA's deep safety orders, a 15% take profit and a wide
    grid's far levels are what their owner asked for, and tripping on them halted such a bot at
    its first deal."""
    if state.tripped:
        return Decision(False, f"circuit breaker tripped: {state.tripped_reason}")
    recent = _orders_within_window(state.order_times, now)
    if len(recent) >= limits.max_orders_per_minute:
        return Decision(
            False,
            f"order rate: {len(recent)} orders in the last minute"
            f" (limit {limits.max_orders_per_minute})",
            trips_breaker=True,
        )
    if price is not None:
        if reference_price is None or reference_price <= 0:
            return Decision(False, "no reference price to check the order price against")
        through = price - reference_price if side is Side.BUY else reference_price - price
        deviation_pct = through / reference_price * _HUNDRED
        if deviation_pct > limits.max_price_deviation_pct:
            return Decision(
                False,
                f"{side.value} price {price} is {deviation_pct:.2f}%"
                f" {'above' if side is Side.BUY else 'below'} the reference {reference_price}"
                f" (limit {limits.max_price_deviation_pct}%)",
                trips_breaker=True,
            )
    return ALLOWED


def check_cancel(state: BreakerState) -> Decision:
    """Cancels are always allowed, tripped or not: reducing exposure must never be blocked."""
    return ALLOWED


def record_order_sent(state: BreakerState, now: datetime) -> BreakerState:
    return replace(state, order_times=(*_orders_within_window(state.order_times, now), now))


def record_exchange_error(
    state: BreakerState, limits: BreakerLimits, now: datetime, error: str
) -> BreakerState:
    """Count one failed exchange call; trips at ``max_consecutive_errors`` in a row."""
    errors = state.consecutive_errors + 1
    counted = replace(state, consecutive_errors=errors)
    if errors >= limits.max_consecutive_errors:
        return trip(counted, f"{errors} consecutive exchange errors, last: {error}", now)
    return counted


def record_exchange_success(state: BreakerState) -> BreakerState:
    return state if state.consecutive_errors == 0 else replace(state, consecutive_errors=0)


def record_pnl(
    state: BreakerState, limits: BreakerLimits, now: datetime, pnl: Decimal, investment: Decimal
) -> BreakerState:
    """Add a PnL sample (realized + unrealized since the bot started, in quote currency).

    The loss over the rolling hour is the drop from the highest sample taken within the last
    LOSS_WINDOW (this one included) to this one. It trips the breaker when it exceeds
    ``max_loss_pct_per_hour`` percent of ``investment``. Example: investment 1000, PnL peaked at
    +30 forty minutes ago and is now -25: the loss is 55 = 5.5% > 5%, tripped.
    """
    if not investment.is_finite() or investment <= 0:
        raise ValueError(f"investment must be positive to measure a loss, got {investment}")
    if not pnl.is_finite():
        raise ValueError(f"pnl must be finite, got {pnl}")
    if state.pnl_samples and now < state.pnl_samples[-1].at:
        # Another worker's clock ran ahead; keep time order. Samples then live slightly longer,
        # which can only make the breaker stricter.
        now = state.pnl_samples[-1].at
    horizon = now - LOSS_WINDOW
    kept = [s for s in state.pnl_samples if s.at >= horizon and s.pnl > pnl]
    samples = (*kept, PnlSample(now, pnl))
    updated = replace(state, pnl_samples=samples)
    loss = samples[0].pnl - pnl
    loss_pct = loss / investment * _HUNDRED
    if loss_pct > limits.max_loss_pct_per_hour:
        return trip(
            updated,
            f"lost {loss} ({loss_pct:.2f}% of the investment {investment}) within an hour"
            f" (limit {limits.max_loss_pct_per_hour}%)",
            now,
        )
    return updated


def trip(state: BreakerState, reason: str, now: datetime) -> BreakerState:
    """Trip the breaker; if it already is, the first reason and time are kept."""
    if state.tripped:
        return state
    return replace(state, tripped_reason=reason, tripped_at=now)


def reset(state: BreakerState) -> BreakerState:
    """A human's reset: clears the trip, the error streak and the PnL history (otherwise the loss
    that tripped it would trip it again on the next sample). Recent order times are kept, so the
    rate limit still counts the orders already sent this minute."""
    return BreakerState(order_times=state.order_times)


def _orders_within_window(times: tuple[datetime, ...], now: datetime) -> tuple[datetime, ...]:
    horizon = now - ORDER_RATE_WINDOW
    return tuple(at for at in times if at > horizon)
