"""Authentication: accounts, passwords, JWT access and rotating refresh tokens, who is calling."""
