"""API errors of the credentials domain. Every message is fixed text: none quotes the exchange's
answer or anything the user sent, so none can carry a key or a secret."""

from __future__ import annotations

from autogrid.core.errors import AppError, Conflict, Unprocessable


class UnknownExchange(Unprocessable):
    code = "unknown_exchange"


class ExchangeKeyRefused(Unprocessable):
    code = "exchange_key_refused"

    def __init__(self, exchange_id: str) -> None:
        super().__init__("the exchange refused this key", details={"exchange": exchange_id})


class WithdrawalsEnabled(Unprocessable):
    code = "withdrawals_enabled"

    def __init__(self, exchange_id: str) -> None:
        super().__init__(
            "this key can withdraw funds, which AutoGrid refuses: create a key with withdrawals "
            "disabled (reading and spot trading are all it needs)",
            details={"exchange": exchange_id, "reason": "withdrawals_enabled"},
        )


class CredentialUnreadable(AppError):
    """The stored secrets cannot be decrypted: a server configuration problem, not the user's."""

    status_code = 500
    code = "credential_unreadable"


class CredentialInUse(Conflict):
    code = "credential_in_use"
