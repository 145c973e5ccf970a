"""Acting on the exchange: sending recorded orders, cancels and lookups, and applying what the
exchange reports (acknowledgements, fills, ends) to our orders through the state machine.

Where to start reading (each module imports only the ones below it; import-linter checks it):

- ``reconcile.py``: a bot's orders brought in line with the exchange, and what is committed sent;
- ``submit.py`` / ``cancel.py``: placing an order once, requesting and sending cancels;
- ``lookups.py``: restarts, lookups by id, order reports, and the follow-ups an outcome asks for;
- ``trades.py`` / ``trade_scan.py``: fills, fetched per order or scanned from the history;
- ``order_manager.py``: ``OrderManager``, what the engine holds and every verb above takes
  (``submit.submit(manager, order_id)``): the bot's choke point, connector and unknown-order
  policy, and the writes in a caller's transaction;
- ``transitions.py``: the one choke point every exchange answer, report and trade goes back
  through (a pure step on the freshly loaded row, written with its event and fill, committed);
- ``replacement.py``: an order that surely never executed placed again, or given up;
- ``order_writer.py``: the writes themselves, in a transaction the caller owns.
"""
