"""Everything that imports ccxt lives in this package (import-linter keeps it that way)."""

from autogrid.exchanges.ccxt.connector import EXCHANGE_OPTIONS, CcxtConnector, budget_spec_for

__all__ = ["EXCHANGE_OPTIONS", "CcxtConnector", "budget_spec_for"]
