"""Pure fill simulation shared by the backtest engine and the paper exchange's replay."""
