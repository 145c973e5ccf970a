"""Read access to bots' orders and trades (the order path itself lives in trading.orders)."""
