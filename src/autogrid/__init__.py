"""AutoGrid: an API-first, multi-user backend for automated crypto trading bots."""

__version__ = "0.1.0"
