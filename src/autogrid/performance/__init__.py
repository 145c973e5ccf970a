"""A bot's performance: its stats from its fills, samples recorded over time, and what the API
shows of them."""
