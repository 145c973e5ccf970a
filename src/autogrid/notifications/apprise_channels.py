"""Email, Discord and Slack channels, sent by the ``apprise`` library.

A channel holds one apprise URL (``mailtos://user:password@smtp.example.com?to=...``,
``discord://<id>/<token>`` or ``https://discord.com/api/webhooks/<id>/<token>``,
``slack://<A>/<B>/<C>`` or ``https://hooks.slack.com/services/<A>/<B>/<C>``): all of it is a
credential, so it is only stored encrypted (``secrets.py``) and shown masked.

apprise turns the URL into a plugin instance; before every send we ask that instance where it
will connect (the SMTP host it derived, templates such as gmail.com -> smtp.gmail.com
included; the HTTP endpoint for Discord and Slack) and apply the platform's SSRF rule to that
host: a public address over TLS, unless ``NOTIFICATIONS_ALLOW_PRIVATE_TARGETS`` is set. A URL
may not turn certificate checks off (``verify=no``) in production either. Unlike webhooks the
connection is apprise's own, so the address is checked, not pinned: a host name that
re-resolves between the check and the connection (DNS rebinding) is a residual risk for
user-chosen SMTP hosts (Discord's and Slack's hosts are the platform's own setting).

apprise hard-codes Discord's and Slack's endpoints as plugin attributes (``notify_url``,
``webhook_url``). The platform sets them on each instance from
``NOTIFICATIONS_DISCORD_WEBHOOK_URL`` and ``NOTIFICATIONS_SLACK_WEBHOOK_URL`` (apprise's own
values by default), as ``TELEGRAM_API_URL`` does for Telegram: an egress proxy, or a local
server speaking their webhook protocol in tests. apprise is synchronous (requests, smtplib):
each send runs in a thread with bounded socket timeouts, so the event loop never waits on it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import apprise
from apprise.plugins.discord import NotifyDiscord
from apprise.plugins.email import NotifyEmail, SecureMailMode
from apprise.plugins.slack import NotifySlack, SlackMode

from autogrid.core.config import Settings
from autogrid.notifications.targets import MAX_URL_CHARS, TargetRefused, checked_addresses
from autogrid.notifications.webhooks import SendOutcome

# apprise logs the request URL (which holds the webhook token) at DEBUG: keep its logger above
# that whatever LOG_LEVEL says. Its warnings name no credential.
logging.getLogger("apprise").setLevel(logging.WARNING)

EMAIL, DISCORD, SLACK = "email", "discord", "slack"
KINDS = (EMAIL, DISCORD, SLACK)
_PLUGINS: dict[str, type[apprise.plugins.NotifyBase]] = {
    EMAIL: NotifyEmail,
    DISCORD: NotifyDiscord,
    SLACK: NotifySlack,
}
_NAMES = {EMAIL: "email", DISCORD: "Discord", SLACK: "Slack"}


@dataclass(frozen=True, slots=True)
class AppriseTarget:
    """A plugin ready to send, and where it will connect."""

    plugin: apprise.plugins.NotifyBase
    host: str
    port: int | None
    encrypted: bool


def load_target(kind: str, url: str, settings: Settings) -> AppriseTarget:
    """The apprise plugin for ``url``, which must be of ``kind`` (``TargetRefused`` otherwise).
    Messages never echo the URL."""
    name = _NAMES[kind]
    if len(url) > MAX_URL_CHARS:
        raise TargetRefused(f"the URL must be at most {MAX_URL_CHARS} characters")
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None or not isinstance(plugin, _PLUGINS[kind]):
        raise TargetRefused(f"this is not a valid {name} URL")
    timeout = settings.notifications_webhook_timeout_seconds
    plugin.socket_connect_timeout = timeout
    plugin.socket_read_timeout = timeout
    plugin.redirects = False  # as for webhooks: a redirect must not lead somewhere unchecked
    if not settings.notifications_allow_private_targets:
        plugin.verify_certificate = True
    if isinstance(plugin, NotifyEmail):
        if not plugin.targets:
            raise TargetRefused("the email URL names no recipient (to=...)")
        encrypted = plugin.secure_mode != SecureMailMode.INSECURE
        return AppriseTarget(plugin, plugin.smtp_host, plugin.port, encrypted)
    if isinstance(plugin, NotifyDiscord):
        plugin.notify_url = settings.notifications_discord_webhook_url.rstrip("/")
        return _http_target(plugin, plugin.notify_url)
    assert isinstance(plugin, NotifySlack)
    if plugin.mode is not SlackMode.WEBHOOK:
        raise TargetRefused("use a Slack incoming-webhook URL (slack://A/B/C)")
    plugin.webhook_url = settings.notifications_slack_webhook_url.rstrip("/")
    return _http_target(plugin, plugin.webhook_url)


def _http_target(plugin: apprise.plugins.NotifyBase, endpoint: str) -> AppriseTarget:
    parts = urlsplit(endpoint)
    return AppriseTarget(plugin, parts.hostname or "", parts.port, parts.scheme == "https")


async def check_target(target: AppriseTarget, *, allow_private: bool) -> None:
    """``TargetRefused`` unless the platform may connect where the plugin will."""
    if not target.host:
        raise TargetRefused("the URL has no host")
    if not allow_private and not target.encrypted:
        raise TargetRefused("the URL must use TLS (mailtos://, https)")
    await checked_addresses(target.host, target.port, allow_private=allow_private)


async def check_url(kind: str, url: str, settings: Settings) -> None:
    """Refuse (``TargetRefused``) a URL the platform will not send to; for channel creation."""
    target = load_target(kind, url, settings)
    await check_target(target, allow_private=settings.notifications_allow_private_targets)


def mask(kind: str, url: str, settings: Settings) -> str:
    """``discord://discord.com/…``, ``email://smtp.example.com:587/…``: the service and where
    it connects, nothing to use."""
    target = load_target(kind, url, settings)
    port = f":{target.port}" if target.port else ""
    return f"{kind}://{target.host}{port}/…"


async def send_apprise(
    kind: str, url: str, *, title: str, body: str, settings: Settings
) -> SendOutcome:
    """One attempt; never raises for a network or service failure (the outcome says it)."""
    try:
        target = load_target(kind, url, settings)
        await check_target(target, allow_private=settings.notifications_allow_private_targets)
    except TargetRefused as refused:
        return SendOutcome(ok=False, status_code=None, error=refused.message)
    try:
        sent = await asyncio.to_thread(
            target.plugin.notify, body=body, title=title, body_format=apprise.NotifyFormat.TEXT
        )
    except Exception as error:  # a plugin bug must not stop the delivery pass
        return SendOutcome(False, None, f"{_NAMES[kind]} sending failed ({type(error).__name__})")
    if sent:
        return SendOutcome(ok=True, status_code=None, error=None)
    # apprise reports only success or failure; its warning log says why, without the URL.
    return SendOutcome(False, None, f"the {_NAMES[kind]} service did not accept the message")
