"""Column types that behave the same on PostgreSQL and SQLite.

Money is ``Decimal`` end to end: PostgreSQL stores it as NUMERIC, SQLite (which would silently turn
NUMERIC into a binary float) stores its exact decimal text. Timestamps always come back aware UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

MONEY_PRECISION = 38
MONEY_SCALE = 18


class Money(TypeDecorator[Decimal]):
    impl = Numeric(MONEY_PRECISION, MONEY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        decimal = value if isinstance(value, Decimal) else Decimal(str(value))
        if not decimal.is_finite():
            raise ValueError(f"money must be finite, got {decimal}")
        if dialect.name == "sqlite":
            # Normalise with room for every digit NUMERIC(38, 18) holds: the default 28-digit
            # context would round a value PostgreSQL keeps exactly.
            with localcontext() as context:
                context.prec = MONEY_PRECISION + 2
                return format(decimal.normalize(), "f")
        return decimal

    def result_processor(
        self, dialect: Dialect, coltype: Any
    ) -> Callable[[Any], Decimal | None] | None:
        """``process_result_value`` in one call per value where the driver's own Decimal needs
        no processing of the column type's (asyncpg): see ``UTCDateTime.result_processor``."""
        if self.impl_instance.result_processor(dialect, coltype) is not None:
            return super().result_processor(dialect, coltype)

        def process(value: Any) -> Decimal | None:
            if value is None:
                return None
            if value.__class__ is not Decimal:
                return self.process_result_value(value, dialect)
            return _normalized(value)

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return _normalized(value if isinstance(value, Decimal) else Decimal(str(value)))


def _normalized(decimal: Decimal) -> Decimal:
    """NUMERIC(38,18) pads with zeros: 1.500000000000000000 reads back as 1.5, 100 as 100 (not
    1E+2)."""
    normalized = decimal.normalize()
    exponent = normalized.as_tuple().exponent
    return normalized if exponent.__class__ is int and exponent <= 0 else normalized.quantize(1)


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError("UTCDateTime needs a datetime")
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def result_processor(
        self, dialect: Dialect, coltype: Any
    ) -> Callable[[Any], datetime | None] | None:
        """``process_result_value`` in one Python call per value, where the column type itself
        needs none (the driver returns datetimes): the generic processor took two calls and
        four more of builtins for each timestamp of each row read, a fifth of a page of orders'
        calls. An aware UTC datetime, what asyncpg returns, is kept as it is."""
        if self.impl_instance.result_processor(dialect, coltype) is not None:
            return super().result_processor(dialect, coltype)

        def process(value: Any) -> datetime | None:
            if value is None:
                return None
            if value.__class__ is datetime and value.tzinfo is UTC:
                return value  # what astimezone(UTC) would return, equal to it
            return self.process_result_value(value, dialect)

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)
