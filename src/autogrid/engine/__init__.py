"""The bot step: read a snapshot, ask the pure strategy, vet its intents, record the orders.

What it records is handed to ``autogrid.execution``, which talks to the exchange; leases, claims
and the Celery tasks that run steps are ``autogrid.scheduling``'s.
"""
