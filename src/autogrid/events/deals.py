"""A DCA bot's deal events, read off the change one decision made to its strategy state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autogrid.events.payloads import Payload, deal_closed_payload, deal_opened_payload
from autogrid.trading.strategies.dca_state import DcaState


def deal_payloads(before: Mapping[str, Any] | None, after: object) -> list[Payload]:
    """Deals opened (a new deal number: its base order is placed) and closed (a new record,
    with its profit) between ``before`` (the saved state) and ``after`` (the decision's state).
    Nothing for strategies other than DCA."""
    if not isinstance(after, DcaState):
        return []
    old = DcaState.from_dict(before) if before else DcaState()
    last_closed = max((deal.number for deal in old.deals), default=0)
    payloads = [deal_closed_payload(d) for d in after.deals if d.number > last_closed]
    if after.deal > old.deal and after.phase != "idle":
        payloads.append(deal_opened_payload(after.deal, after.opened_at))
    return payloads
