"""ORM models: one module per table family; importing this package registers them all."""

from autogrid.models.account import AccountLimit, AccountLimitNotice, BotDay
from autogrid.models.backtest import Backtest, BacktestStatus
from autogrid.models.base import Base
from autogrid.models.bot import Bot, BotMetric, BotMode, BotStatus, BotType
from autogrid.models.candle import Candle, CandleSeriesVersion
from autogrid.models.credential import ExchangeCredential
from autogrid.models.event import Event
from autogrid.models.notification import (
    BotStallAlert,
    DailySummary,
    FleetAlertState,
    NotificationChannel,
    NotificationChannelBot,
    NotificationChannelType,
    NotificationDelivery,
    NotificationOutbox,
    NotificationPreferences,
    TelegramPoller,
    TelegramUpdate,
)
from autogrid.models.order import Fill, Order, OrderEvent
from autogrid.models.paper import (
    PaperAccount,
    PaperBalance,
    PaperOrder,
    PaperTrade,
    PriceSourceKind,
)
from autogrid.models.refresh_token import RefreshToken
from autogrid.models.runtime import GLOBAL_KILL_SWITCH, KillSwitch, StrategyInboxEntry
from autogrid.models.scheduled_buy import ScheduledBuy
from autogrid.models.signal import Signal, SignalDelivery, SignalSource, SignalSourceBot
from autogrid.models.user import PLAN_BOT_LIMITS, AuthUser, Plan, Role, User, UserIdentity

__all__ = [
    "GLOBAL_KILL_SWITCH",
    "PLAN_BOT_LIMITS",
    "AccountLimit",
    "AccountLimitNotice",
    "AuthUser",
    "Backtest",
    "BacktestStatus",
    "Base",
    "Bot",
    "BotDay",
    "BotMetric",
    "BotMode",
    "BotStallAlert",
    "BotStatus",
    "BotType",
    "Candle",
    "CandleSeriesVersion",
    "DailySummary",
    "Event",
    "ExchangeCredential",
    "Fill",
    "FleetAlertState",
    "KillSwitch",
    "NotificationChannel",
    "NotificationChannelBot",
    "NotificationChannelType",
    "NotificationDelivery",
    "NotificationOutbox",
    "NotificationPreferences",
    "Order",
    "OrderEvent",
    "PaperAccount",
    "PaperBalance",
    "PaperOrder",
    "PaperTrade",
    "Plan",
    "PriceSourceKind",
    "RefreshToken",
    "Role",
    "ScheduledBuy",
    "Signal",
    "SignalDelivery",
    "SignalSource",
    "SignalSourceBot",
    "StrategyInboxEntry",
    "TelegramPoller",
    "TelegramUpdate",
    "User",
    "UserIdentity",
]
