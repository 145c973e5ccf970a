"""The bot runtime: Celery workers trading bots through the order manager, safely.

Where to start reading:

- ``tick.py``: one tick of one bot (lease -> sync -> decide -> persist -> execute -> release);
- ``order_manager.py`` / ``order_writer.py``: the database-backed counterpart of the pure order
  state machine (``autogrid.trading.orders``); every transition is committed with its
  ``order_events`` row before the side effect it triggers;
- ``reconcile.py``: orders against the exchange, and what is committed against the exchange;
- ``decision.py`` / ``deciding.py`` / ``snapshot.py``: what the strategy sees, and its decision
  persisted in one transaction (state, intents, cancels, breaker, fills it has seen);
- ``paper_steps.py``: paper replay stepped candle by candle exactly like the backtest;
- ``scheduling.py`` / ``tasks.py`` / ``dispatcher.py``: beat's claim of due bots, batches of ticks
  on one process, the API's lifecycle commands;
- ``stats.py`` / ``metrics_recorder.py`` / ``service.py`` / ``router.py``: stats, performance
  over time, order cancel and the global kill switch over the API.
"""
