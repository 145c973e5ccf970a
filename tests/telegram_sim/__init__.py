"""A local server speaking the Telegram Bot API, for tests (no Telegram server is reachable)."""

from tests.telegram_sim.server import TelegramSimulator

__all__ = ["TelegramSimulator"]
