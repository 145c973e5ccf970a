"""Everything that talks to an exchange goes through ``ExchangeConnector``.

Only the ``autogrid.exchanges.ccxt`` package imports ccxt (the connector, its error mapping, its
result parsing and the catalog's capability reader); the paper exchange implements the same
interface, and both are exercised by one contract test suite.

Pure parts: ``rules`` (rounding and limits), ``scrub`` (safe error text), ``retry``. Shared
plumbing: ``budget`` (request budget per key, Redis or in memory), ``pool`` (connector reuse),
``catalog`` (exchange list and trading level).
"""
