"""Strategies: pure deciders shared verbatim by backtests, paper trading and live trading."""
