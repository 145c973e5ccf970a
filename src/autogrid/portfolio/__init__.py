"""The account overview: every exchange key's and paper account's balances valued in USDT, the
P&L of the bots trading on each, and the user's results per day."""
