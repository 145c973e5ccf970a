"""Guessable passwords are refused (API and CLI); a taken email is no cheap oracle."""

from __future__ import annotations

import httpx
import pytest

from autogrid.auth import passwords, service
from autogrid.auth.password_policy import assess_password, context_words
from autogrid.core.config import Settings
from autogrid.core.db import Database
from tests.auth.test_cli import invoke
from tests.helpers import DEFAULT_PASSWORD, assert_error_shape, unique_email

REGISTER = "/api/v1/auth/register"


@pytest.mark.parametrize(
    "password",
    ["12345678", "password", " " * 8, "qwertyuiop", "P@ssw0rd1", "aaaaaaaaaaaa", "a" * 1024],
)
async def test_common_passwords_are_refused(client: httpx.AsyncClient, password: str) -> None:
    response = await client.post(REGISTER, json={"email": unique_email(), "password": password})
    assert_error_shape(response, 422, "weak_password")
    error = response.json()["error"]
    assert "too easy to guess" in error["message"]
    assert error["details"]["suggestions"], "the user is told how to do better"
    if password not in {"password", " " * 8}:  # words the message itself may contain
        assert password not in response.text


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("alice.wonder@example.com", "alice.wonder@example.com"),
        ("alice.wonder@example.com", "AliceWonder2024"),
        ("bob.trader@example.com", "autogrid2025!"),
    ],
)
async def test_passwords_made_from_the_account_are_refused(
    client: httpx.AsyncClient, email: str, password: str
) -> None:
    response = await client.post(REGISTER, json={"email": email, "password": password})
    assert_error_shape(response, 422, "weak_password")
    # The same password is fine for a stranger's account only if it is not common by itself;
    # here the context is what made it weak.
    assert assess_password(password, context_words(email)) is not None


def test_a_passphrase_is_accepted() -> None:
    assert assess_password(DEFAULT_PASSWORD, context_words("someone@example.com")) is None
    assert assess_password("k7Vq-p2Xw-" + "x" * 1014, []) is None


async def test_the_cli_refuses_a_weak_password(settings: Settings, db: Database) -> None:
    result = await invoke(
        ["weak@example.com", "--password-stdin"], input="password1\n", obj=settings
    )
    assert result.exit_code == 1
    assert "too easy to guess" in result.output


async def test_a_taken_email_costs_the_same_hash_as_a_new_one(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No timing oracle: the 409 is only answered after the Argon2 work a 201 costs."""
    hashed: list[str] = []
    real_hash = passwords.hash_password  # the one service calls, spied on below

    async def spy(password: str) -> str:
        hashed.append(password)
        return await real_hash(password)

    monkeypatch.setattr(service, "hash_password", spy)
    email = unique_email()
    body = {"email": email, "password": DEFAULT_PASSWORD}
    assert (await client.post(REGISTER, json=body)).status_code == 201
    again = await client.post(REGISTER, json={"email": email, "password": "other-pass-1"})
    assert_error_shape(again, 409, "conflict")
    assert hashed == [DEFAULT_PASSWORD, "other-pass-1"]


async def test_probing_emails_is_rate_limited_per_address(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    taken = unique_email()
    body = {"email": taken, "password": DEFAULT_PASSWORD}
    assert (await client.post(REGISTER, json=body)).status_code == 201
    statuses = [
        (await client.post(REGISTER, json=body)).status_code
        for _ in range(settings.rate_limit_register_per_hour)
    ]
    assert statuses[: settings.rate_limit_register_per_hour - 1] == [409] * (
        settings.rate_limit_register_per_hour - 1
    )
    assert statuses[-1] == 429
