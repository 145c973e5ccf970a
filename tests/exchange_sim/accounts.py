"""API keys with their secrets, permissions and spot balances (free and locked)."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal

from tests.exchange_sim import errors
from tests.exchange_sim.market import fmt

# Fields of GET /sapi/v1/account/apiRestrictions, by our attribute name.
_RESTRICTION_FIELDS = {
    "ip_restrict": "ipRestrict",
    "enable_reading": "enableReading",
    "enable_spot_and_margin_trading": "enableSpotAndMarginTrading",
    "enable_withdrawals": "enableWithdrawals",
    "enable_internal_transfer": "enableInternalTransfer",
    "enable_margin": "enableMargin",
    "enable_futures": "enableFutures",
    "permits_universal_transfer": "permitsUniversalTransfer",
    "enable_vanilla_options": "enableVanillaOptions",
    "enable_portfolio_margin_trading": "enablePortfolioMarginTrading",
}


@dataclass
class Permissions:
    """What a key may do. Defaults are the safe trading key AutoGrid wants users to create."""

    enable_reading: bool = True
    enable_spot_and_margin_trading: bool = True
    enable_withdrawals: bool = False
    enable_internal_transfer: bool = False
    enable_margin: bool = False
    enable_futures: bool = False
    permits_universal_transfer: bool = False
    enable_vanilla_options: bool = False
    enable_portfolio_margin_trading: bool = False
    ip_restrict: bool = False
    # With ip_restrict, only these client addresses may use the key (Binance answers -2015).
    allowed_ips: tuple[str, ...] = ("127.0.0.1",)

    def update(self, changes: Mapping[str, object]) -> None:
        """Apply changes given by attribute name or by Binance's JSON name."""
        by_json = {json_name: attr for attr, json_name in _RESTRICTION_FIELDS.items()}
        names = {f.name for f in fields(self)}
        for key, value in changes.items():
            attr = by_json.get(key, key)
            if attr not in names:
                raise ValueError(f"unknown permission {key!r}")
            setattr(self, attr, tuple(value) if attr == "allowed_ips" else bool(value))  # type: ignore[arg-type]


@dataclass
class Balance:
    free: Decimal = Decimal(0)
    locked: Decimal = Decimal(0)


@dataclass
class Account:
    api_key: str
    secret: str
    permissions: Permissions = field(default_factory=Permissions)
    balances: dict[str, Balance] = field(default_factory=dict)
    created_ms: int = 0

    def balance(self, asset: str) -> Balance:
        return self.balances.setdefault(asset, Balance())

    def set_balances(self, amounts: Mapping[str, object]) -> None:
        """Set free balances (locked amounts belong to open orders and are kept)."""
        for asset, amount in amounts.items():
            self.balance(asset).free = Decimal(str(amount))

    def lock(self, asset: str, amount: Decimal) -> None:
        balance = self.balance(asset)
        if balance.free < amount:
            raise errors.insufficient_balance()
        balance.free -= amount
        balance.locked += amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        balance = self.balance(asset)
        balance.locked -= amount
        balance.free += amount

    def require_free(self, asset: str, amount: Decimal) -> None:
        if self.balance(asset).free < amount:
            raise errors.insufficient_balance()

    def allows_ip(self, remote: str | None) -> bool:
        return not self.permissions.ip_restrict or remote in self.permissions.allowed_ips

    def restrictions_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            json_name: getattr(self.permissions, attr)
            for attr, json_name in _RESTRICTION_FIELDS.items()
        }
        body["createTime"] = self.created_ms
        return body

    def account_json(self, now_ms: int, omit_zero: bool) -> dict[str, object]:
        trading = self.permissions.enable_spot_and_margin_trading
        balances = [
            {"asset": asset, "free": fmt(b.free), "locked": fmt(b.locked)}
            for asset, b in sorted(self.balances.items())
            if not omit_zero or b.free or b.locked
        ]
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": "0.00100000",
                "taker": "0.00100000",
                "buyer": "0.00000000",
                "seller": "0.00000000",
            },
            "canTrade": trading,
            "canWithdraw": self.permissions.enable_withdrawals,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": now_ms,
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"] if trading else [],
            "uid": zlib.crc32(self.api_key.encode()),
        }
