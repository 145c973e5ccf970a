"""The recursive smoothing behind EMA, RSI and ATR, without a Python loop over every value.

`y[i] = decay * y[i-1] + inputs[i]` is sequential, and a Python loop over a year of 1-minute
candles costs ~0.1 s per series. Expanding it into `decay**i * cumsum(inputs / decay**i)` is
fast but overflows and loses precision on long series. Instead the series is cut into about
sqrt(n) blocks of about sqrt(n) values, and the recurrence runs inside all blocks at once, each
started from zero: one numpy step per position in a block, over the vector of all blocks. The
states at the block ends then follow the same recurrence with `decay**block`, solved the same
way on the much shorter series of block ends, and are carried back into the blocks as
`decay**(j+1) * state_before_block`. Inside a block the arithmetic is the plain loop's; the carry
adds an ulp or two. Measured against the plain loop on a year of 1-minute candles: ~1e-15
relative, with no growth along the series.
"""

from __future__ import annotations

import math

import numpy as np

from autogrid.trading.indicators._checks import Series

_PLAIN_LOOP_UP_TO = 64  # below this, numpy's per-call overhead costs more than the loop
# Weights this small cannot change a sum of price-like numbers, and zeroing them keeps the
# arithmetic away from subnormal numbers, which are very slow on x86.
_NEGLIGIBLE_WEIGHT = 1e-200


def linear_recurrence(inputs: Series, decay: float, initial: float) -> Series:
    """`y[i] = decay * y[i-1] + inputs[i]` for every i, with `y[-1] = initial` (0 <= decay < 1)."""
    count = inputs.size
    if count <= _PLAIN_LOOP_UP_TO:
        return _plain_recurrence(inputs, decay, initial)
    block = math.isqrt(count) + 1
    block_count = -(-count // block)
    padded = np.zeros(block_count * block)  # zeros after the end change no earlier value
    padded[:count] = inputs
    # by_position[j] holds position j of every block, contiguous, so each step is one vector op.
    by_position = np.ascontiguousarray(padded.reshape(block_count, block).T)
    carried = np.empty(block_count)
    for position in range(1, block):
        np.multiply(by_position[position - 1], decay, out=carried)
        by_position[position] += carried

    weights = decay ** np.arange(1, block + 1, dtype=np.float64)  # decay**(j+1)
    weights[weights < _NEGLIGIBLE_WEIGHT] = 0.0
    block_end_states = linear_recurrence(by_position[-1], float(weights[-1]), initial)
    state_before_block = np.empty(block_count)
    state_before_block[0] = initial
    state_before_block[1:] = block_end_states[:-1]
    by_position += np.multiply.outer(weights, state_before_block)
    result: Series = by_position.T.reshape(-1)[:count]
    return result


def _plain_recurrence(inputs: Series, decay: float, initial: float) -> Series:
    state = initial
    result = np.empty(inputs.size)
    for index, value in enumerate(inputs.tolist()):
        state = decay * state + value
        result[index] = state
    return result


def seeded_average(values: Series, period: int, weight: float) -> Series:
    """The exponential average shared by EMA and Wilder's smoothing (RMA), over finite values.

    NaN for the first `period - 1` values; at index `period - 1` the simple mean of the first
    `period` values (the seed); after it `y[i] = (1 - weight) * y[i-1] + weight * values[i]`.
    Wilder's `(prev * (period-1) + value) / period` is this with `weight = 1 / period`.
    """
    result = np.full(values.size, np.nan)
    if values.size < period:
        return result
    seed = float(np.mean(values[:period]))
    result[period - 1] = seed
    result[period:] = linear_recurrence(weight * values[period:], 1.0 - weight, seed)
    return result
