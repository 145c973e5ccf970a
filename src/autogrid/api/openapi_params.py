"""Optional query, header and cookie parameters documented without a ``null`` branch.

FastAPI documents a parameter annotated ``X | None`` as ``anyOf: [X, {type: null}]``. A query
string, a header or a cookie cannot carry a JSON null: leaving the parameter out is how a client
sends none. A client generated from the schema (or schemathesis) reads the null branch as a
value it may send, and sends the text ``null`` (``Last-Event-ID: null``), which the API then
refuses with a 422 against its own schema. The parameter stays optional (``required: false``).
"""

from __future__ import annotations

from typing import Any

_NOT_IN_THE_PATH = frozenset({"query", "header", "cookie"})
_NULL = {"type": "null"}


def drop_null_branches(schema: dict[str, Any]) -> None:
    """In place: each optional non-path parameter's ``anyOf: [X, null]`` becomes ``X``, with
    the parameter schema's own keywords (title, description, default) kept beside it."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", ()):
                if parameter.get("in") in _NOT_IN_THE_PATH and not parameter.get("required"):
                    parameter["schema"] = _without_null(parameter.get("schema", {}))


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    branches = schema.get("anyOf")
    if not isinstance(branches, list) or _NULL not in branches:
        return schema
    kept = [branch for branch in branches if branch != _NULL]
    rest = {key: value for key, value in schema.items() if key != "anyOf"}
    if len(kept) == 1 and not (kept[0].keys() & rest.keys()):
        return {**kept[0], **rest}
    return {**rest, "anyOf": kept}
