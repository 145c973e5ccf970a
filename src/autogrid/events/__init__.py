"""The event journal: what happened to a user's bots, one typed row per change, written in the
change's own transaction, read by id (``GET /events``, ``GET /bots/{id}/events``)."""
