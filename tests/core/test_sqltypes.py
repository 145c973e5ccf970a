"""Money and UTCDateTime read back as their ``process_result_value`` says, on PostgreSQL (asyncpg)
and SQLite, and on PostgreSQL in one Python call per value for what asyncpg returns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.dialects.sqlite.aiosqlite import dialect as aiosqlite_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from autogrid.core.sqltypes import Money, UTCDateTime

DIALECTS = {"postgresql": asyncpg_dialect(), "sqlite": aiosqlite_dialect()}  # type: ignore[no-untyped-call]
PARIS_WINTER = timezone(timedelta(hours=1))
DATETIMES: list[Any] = [
    None,
    datetime(2026, 3, 2, 7, 0, tzinfo=UTC),
    datetime(2026, 3, 2, 8, 0, tzinfo=PARIS_WINTER),
    datetime(2026, 3, 2, 7, 0),
]
DECIMALS: list[Any] = [
    None,
    Decimal("1.500000000000000000"),
    Decimal("5000.000000000000000000"),
    Decimal("0.000000010000000000"),
    Decimal("1E+3"),
    Decimal("0"),
    Decimal("-2.50"),
]


# The type codes the drivers describe the columns with: PostgreSQL's type oids, none on SQLite.
COLTYPES: dict[tuple[str, type[Any]], int | None] = {
    ("postgresql", UTCDateTime): 1184,  # timestamptz
    ("postgresql", Money): 1700,  # numeric
}


def processor(
    kind: TypeDecorator[Any], dialect: Dialect, *, generic: bool = False
) -> Callable[[Any], Any]:
    """The result processor SQLAlchemy runs on each value of a column of ``kind``; with
    ``generic``, TypeDecorator's own (two calls a value) to compare with."""
    adapted: Any = kind.dialect_impl(dialect)
    coltype = COLTYPES.get((dialect.name, type(kind)))
    build = TypeDecorator.result_processor if generic else type(adapted).result_processor
    made = build(adapted, dialect, coltype)
    return made if made is not None else (lambda value: value)


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_values_read_back_as_process_result_value_says(name: str) -> None:
    dialect = DIALECTS[name]
    cases: list[tuple[TypeDecorator[Any], list[Any]]] = [
        (UTCDateTime(), DATETIMES if name == "postgresql" else [None, "2026-03-02 07:00:00"]),
        (Money(), DECIMALS if name == "postgresql" else [None, "1.5", "5000", "1E-8"]),
    ]
    for kind, values in cases:
        generic = processor(kind, dialect, generic=True)
        read = processor(kind, dialect)
        for value in values:
            expected = generic(value)
            assert read(value) == expected and type(read(value)) is type(expected), value
            if isinstance(expected, Decimal):
                assert str(read(value)) == str(expected)
            if isinstance(expected, datetime):
                assert read(value).utcoffset() == timedelta(0)


def test_what_asyncpg_returns_is_read_without_a_second_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An aware UTC datetime and a Decimal, what asyncpg returns, go through one call."""
    dialect = DIALECTS["postgresql"]

    def refuse(*_args: object) -> None:
        raise AssertionError("process_result_value called")

    monkeypatch.setattr(UTCDateTime, "process_result_value", refuse)
    monkeypatch.setattr(Money, "process_result_value", refuse)
    stamp = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    assert processor(UTCDateTime(), dialect)(stamp) == stamp
    assert str(processor(Money(), dialect)(Decimal("1.500000000000000000"))) == "1.5"
    assert str(processor(Money(), dialect)(Decimal("5000.000000000000000000"))) == "5000"
