"""Backtesting: the pure engine and metrics, plus the API, tasks, reports and CLI around them."""
