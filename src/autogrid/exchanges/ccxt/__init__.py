"""Everything that imports ccxt lives in this package (import-linter keeps it that way)."""

from autogrid.exchanges.ccxt.client import EXCHANGE_OPTIONS, budget_spec_for
from autogrid.exchanges.ccxt.connector import CcxtConnector

__all__ = ["EXCHANGE_OPTIONS", "CcxtConnector", "budget_spec_for"]
