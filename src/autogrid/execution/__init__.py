"""Acting on the exchange: sending recorded orders, cancels and lookups, and applying what the
exchange reports (acknowledgements, fills, ends) to our orders through the state machine."""
