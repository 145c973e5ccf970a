"""The platform's Telegram bot: linking chats to accounts, commands, and event delivery."""
