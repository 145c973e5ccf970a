"""FastAPI's per-request analysis of each declared parameter, worked out once per parameter.

At every request, for every query, header, cookie and path parameter of a route and of its
dependencies, FastAPI (``fastapi.dependencies.utils.request_params_to_args``) asks again what
only the declaration decides: whether it is a model of parameters, its aliases, whether it is
JSON, whether its annotation is a sequence. That is ~40 Python calls per parameter per request
(a bot list declares five query parameters, one of them through ``PageDep``): a tenth of the
list's calls. ``install`` replaces those four pure helpers, in that module only, by copies that
remember each declaration's answer; how FastAPI extracts and validates a value is unchanged, so
every answer, a validation error's too, is the one FastAPI gives.

These helpers are FastAPI internals: ``install`` replaces nothing unless each is still there
and still used where it is replaced (``tests/api/test_param_analysis.py`` fails when a FastAPI
upgrade moves them, rather than this quietly stopping to work).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import fastapi.dependencies.utils as fastapi_dependencies

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The helpers remembered, each a function of one declared field (or of its annotation), and
# the FastAPI functions that look them up as module globals at every request.
MEMOISED = ("_get_param_model", "_get_param_aliases", "_is_json_field")
MEMOISED_ANNOTATION = "field_annotation_is_sequence"
CALLERS = {
    "_get_param_model": "request_params_to_args",
    "_get_param_aliases": "request_params_to_args",
    "_is_json_field": "_get_multidict_value",
    MEMOISED_ANNOTATION: "_get_multidict_value",
}
# Routes declare a few hundred parameters. Overridden dependencies (tests) get new fields at
# each request: past this many remembered, the memory starts afresh rather than grow.
MAX_REMEMBERED = 4096

_INSTALLED = "__autogrid_memoised__"


def _memoised(helper: Callable[..., T]) -> Callable[..., T]:
    """``helper``, answering from memory for an argument (by identity) it has seen. The
    argument is kept with its answer, so its id cannot be reused by another object meanwhile."""
    remembered: dict[object, tuple[object, T]] = {}

    def memoised(argument: object, **options: Any) -> T:
        key = (id(argument), *options.items()) if options else id(argument)
        found = remembered.get(key)
        if found is not None and found[0] is argument:
            return found[1]
        answer = helper(argument, **options)
        if len(remembered) >= MAX_REMEMBERED:
            remembered.clear()
        remembered[key] = (argument, answer)
        return answer

    memoised.__wrapped__ = helper  # type: ignore[attr-defined]
    setattr(memoised, _INSTALLED, True)
    return memoised


def missing_internals() -> list[str]:
    """What ``install`` needs of FastAPI and does not find: empty while it can install."""
    missing = []
    for helper, caller in CALLERS.items():
        function = getattr(fastapi_dependencies, helper, None)
        using = getattr(fastapi_dependencies, caller, None)
        if not callable(function):
            missing.append(f"fastapi.dependencies.utils.{helper}")
        elif not callable(using) or helper not in using.__code__.co_names:
            missing.append(f"fastapi.dependencies.utils.{caller} calling {helper}")
    return missing


def install() -> bool:
    """Memoise the helpers (once per process); False, with a warning, if FastAPI changed."""
    missing = missing_internals()
    if missing:
        logger.warning("FastAPI's parameter analysis is not memoised: %s", ", ".join(missing))
        return False
    for name in (*MEMOISED, MEMOISED_ANNOTATION):
        helper = getattr(fastapi_dependencies, name)
        if not getattr(helper, _INSTALLED, False):
            setattr(fastapi_dependencies, name, _memoised(helper))
    return True


def installed() -> bool:
    return all(
        getattr(getattr(fastapi_dependencies, name), _INSTALLED, False)
        for name in (*MEMOISED, MEMOISED_ANNOTATION)
    )
