"""What never changes about a paper account, read once per exchange instance."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from autogrid.exchanges.paper.clock import ReplayClock
from autogrid.exchanges.paper.matching import Wallet
from autogrid.exchanges.paper.sources import timeframe_delta
from autogrid.models.paper import PaperAccount, PriceSourceKind


class PaperConfig:
    def __init__(self, account: PaperAccount) -> None:
        self.kind = PriceSourceKind(account.price_source)
        self.exchange = account.exchange
        self.timeframe = account.timeframe
        self.step = timeframe_delta(account.timeframe)
        self.maker_fee = account.maker_fee
        self.taker_fee = account.taker_fee
        self.slippage = account.slippage
        self.replay: ReplayClock | None = None
        if self.kind is PriceSourceKind.REPLAY:
            # The table's check constraint guarantees the three replay columns.
            assert account.replay_start and account.replay_anchor and account.replay_speed
            self.replay = ReplayClock(
                account.replay_start, account.replay_anchor, account.replay_speed
            )

    def wallet(self, balances: Mapping[str, tuple[Decimal, Decimal]]) -> Wallet:
        return Wallet(balances, maker_fee=self.maker_fee, taker_fee=self.taker_fee)
