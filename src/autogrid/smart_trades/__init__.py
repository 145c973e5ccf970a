"""Smart trades: one trade with its exits set in advance, run as a bot of type smart_trade."""
