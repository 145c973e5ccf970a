"""A sweep's parameter combinations: which config fields may vary, every combination of their
values in a fixed order (the first field varying slowest), and how one is named in an error."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

# Fields that pick the schema itself: varying them is not a sweep of one strategy.
FIXED_FIELDS = frozenset({"strategy"})


def sweep_size(vary: Mapping[str, Sequence[Any]]) -> int:
    return math.prod(len(values) for values in vary.values())


def vary_problem(vary: Mapping[str, Sequence[Any]], config_model: type[BaseModel]) -> str | None:
    """Why ``vary`` cannot apply to configs of ``config_model``, or None."""
    known = set(config_model.model_fields)
    for name, values in vary.items():
        if name in FIXED_FIELDS:
            return f"{name} cannot be varied: sweep one {name} at a time"
        if name not in known:
            choices = ", ".join(sorted(known - FIXED_FIELDS))
            return f"{name} is not a config field of this bot type; use one of {choices}"
        keys = [_identity(value) for value in values]
        if len(set(keys)) != len(keys):
            return f"{name} lists a value twice"
    return None


def _identity(value: Any) -> tuple[str, Any]:
    # 1 and True (and 1.0) are equal in Python but different values here.
    return (type(value).__name__, value)


def combinations(vary: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the values, the first field varying slowest."""
    names = list(vary)
    return [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(vary[name] for name in names))
    ]


def describe(combination: Mapping[str, Any]) -> str:
    """``grid_count=40, lower_price='95000'``: names a combination in an error message."""
    return ", ".join(f"{name}={value!r}" for name, value in combination.items())
