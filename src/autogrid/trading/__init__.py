"""The pure trading core: strategies, indicators, order state machine, circuit breaker, fill
simulation. No database, network, clock or framework imports here (import-linter enforces it)."""
