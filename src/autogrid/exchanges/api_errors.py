"""API errors for exchange trouble, shared by every route that calls an exchange.

Messages are fixed text: the exchange's answer is never echoed (it may quote a key or a signed
URL), only which exchange it was and, when known, how long to wait.
"""

from __future__ import annotations

import math
from typing import Any

from autogrid.core.errors import AppError, ServiceUnavailable


class ExchangeUnavailable(ServiceUnavailable):
    code = "exchange_unavailable"

    def __init__(self, exchange_id: str, *, retry_after: float | None = None) -> None:
        details: dict[str, Any] = {"exchange": exchange_id}
        headers = None
        if retry_after is not None:
            seconds = max(1, math.ceil(retry_after))
            details["retry_after"] = seconds
            headers = {"Retry-After": str(seconds)}
        super().__init__(
            f"{exchange_id} is not answering right now; try again shortly",
            details=details,
            headers=headers,
        )


class ExchangeBadGateway(AppError):
    status_code = 502
    code = "exchange_error"

    def __init__(self, exchange_id: str) -> None:
        super().__init__(
            f"{exchange_id} gave an unexpected answer", details={"exchange": exchange_id}
        )
