"""Risk controls above any one bot: the global kill switch that halts every bot and denies new
orders everywhere (each step reads it too, see ``autogrid.engine``)."""
