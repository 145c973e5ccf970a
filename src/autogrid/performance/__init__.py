"""A bot's performance: samples recorded over time, and what the API shows of them."""
