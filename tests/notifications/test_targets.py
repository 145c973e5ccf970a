"""Where webhooks may go: a host name is resolved, checked and pinned, so the request reaches
the very address that was checked (DNS rebinding cannot move it), with the name kept for the
Host header and TLS."""

from __future__ import annotations

import httpx

from autogrid.notifications.targets import pin_webhook_url
from tests.helpers import ApiUser
from tests.notifications.receiver import WebhookReceiver
from tests.notifications.test_channels_api import CHANNELS, create_channel


async def test_a_pinned_url_keeps_everything_but_the_host() -> None:
    target = await pin_webhook_url("http://user:pw@localhost:8443/hook?token=1", allow_private=True)
    assert str(target.url) == "http://user:pw@127.0.0.1:8443/hook?token=1"
    assert (target.host_header, target.tls_hostname) == ("localhost:8443", "localhost")


async def test_a_named_receiver_gets_the_request_at_the_checked_address(
    client: httpx.AsyncClient, user: ApiUser, receiver: WebhookReceiver
) -> None:
    url = receiver.url.replace("127.0.0.1", "localhost")
    channel = await create_channel(client, user, url)
    receiver.secret = channel["signing_secret"]

    result = (await client.post(f"{CHANNELS}/{channel['id']}/test", headers=user.headers)).json()

    assert result["ok"] is True, result
    assert receiver.requests[0].headers["host"] == f"localhost:{receiver.port}"
    assert receiver.verified_ids() == [result["message_id"]]
