"""Bounds on a parsed JSON body, checked before any model sees it.

Every request model is a handful of fields, but pydantic builds one error per unknown key and per
bad item: a 1 MiB body of unknown keys made it build ~100,000 errors, stalling the event loop for
seconds and answering megabytes. A walk over the parsed value with small budgets is cheap, and
stops at the first breach. It also refuses NUL characters: PostgreSQL text cannot hold them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Far above what any request model takes (the largest, a sweep, has a few dozen keys).
MAX_JSON_KEYS = 1_000
MAX_JSON_ITEMS = 10_000
MAX_JSON_DEPTH = 32

NUL = "\x00"


@dataclass(frozen=True, slots=True)
class ShapeProblem:
    """Where (a pydantic-style location inside the body) and what is wrong."""

    loc: tuple[str | int, ...]
    msg: str
    type: str


def _budget_problem(keys: int, items: int) -> ShapeProblem | None:
    if keys > MAX_JSON_KEYS:
        return ShapeProblem((), f"more than {MAX_JSON_KEYS} object keys", "too_many_keys")
    if items > MAX_JSON_ITEMS:
        return ShapeProblem((), f"more than {MAX_JSON_ITEMS} array items", "too_many_items")
    return None


def _nul_problem(loc: tuple[str | int, ...]) -> ShapeProblem:
    return ShapeProblem(loc, "must not contain a NUL character", "string_nul_character")


def json_shape_problem(value: Any) -> ShapeProblem | None:
    """The first budget breach or NUL character in ``value``, walking it without recursion."""
    keys = items = 0
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, loc = stack.pop()
        if len(loc) > MAX_JSON_DEPTH:
            return ShapeProblem(loc[:MAX_JSON_DEPTH], "nested too deeply", "too_deep")
        if isinstance(node, str):
            if NUL in node:
                return _nul_problem(loc)
        elif isinstance(node, dict):
            keys += len(node)
            if problem := _budget_problem(keys, items):
                return problem
            for key, child in node.items():
                if NUL in key:
                    return _nul_problem((*loc, key.replace(NUL, "\\u0000")))
                stack.append((child, (*loc, key)))
        elif isinstance(node, list):
            items += len(node)
            if problem := _budget_problem(keys, items):
                return problem
            stack.extend((child, (*loc, index)) for index, child in enumerate(node))
    return None
