"""Market data: candle files in (CSV or freqtrade JSON, gzipped or not), the ``ohlcv`` table, and
numpy columns out for backtests.

``parsers`` reads and checks files, ``series`` finds gaps, ``repository`` holds the SQL,
``service.import_candle_file`` ties them together and ``cli.data_group`` is ``autogrid data``.
"""
