"""What a bot step needs of the lease it runs under (``scheduling.lease`` holds the real one).

The step never takes or gives back a lease: whoever runs it does, around it. While it runs, it
asks the lease to stay ours between its phases (``keep`` raises ``LeaseLost`` once it is gone),
writes under its owner's name, and uses what was read with the lease (one round trip less).
"""

from __future__ import annotations

from typing import Protocol

from autogrid.models import Bot
from autogrid.orders.values import OrderView


class LeaseLost(Exception):
    """Our lease expired and another worker may hold the bot now: stop touching it."""


class LeaseKeeper(Protocol):
    @property
    def owner(self) -> str:
        """Who holds the lease (the bot row's ``lease_owner``)."""

    @property
    def bot(self) -> Bot | None:
        """The bot row, as read when the lease was taken."""

    @property
    def taken_over(self) -> bool:
        """The previous holder did not give the lease back (it died or stalled)."""

    @property
    def signals_queued(self) -> bool:
        """Signals were queued for the bot when the lease was taken (read with it): its step
        reads the queue only then."""

    async def keep(self) -> None:
        """Renew the lease if due; raise ``LeaseLost`` if it is gone."""

    def take_read(self) -> tuple[list[OrderView], int] | None:
        """The bot's live orders and waiting fills read with the lease, once (then None)."""
