"""Bots: their settings, validation, ownership, plan limits and status machine.

Where the runtime plugs in:
- ``dispatch.BotDispatcher`` at ``app.state.bot_dispatcher``: told (after commit) when a user
  starts, stops, pauses, resumes or resets a bot;
- ``service.mark_running / mark_stopped / mark_halted / mark_error``: the runtime's own status
  reports, along the same table (``lifecycle.TRANSITIONS``);
- ``service.stored_params(bot)`` and ``configs.to_*``: the typed parameters and the pure configs;
  ``schemas.breaker_settings(bot)`` the breaker's overrides; ``state.load_state(bot)`` the bot's
  memory between ticks (typed, versioned), whose ``stop_request`` holds a pending stop's options.
- ``markets.MarketRulesProvider`` at ``app.state.market_rules_provider``: the real market rules.
"""
