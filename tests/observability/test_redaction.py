from __future__ import annotations

from collections.abc import Iterator

import pytest

from autogrid.observability.redaction import (
    REDACTED,
    clear_registered_secrets,
    is_sensitive_name,
    register_secret,
    scrub,
    scrub_value,
    unregister_secret,
)

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    clear_registered_secrets()
    yield
    clear_registered_secrets()


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (
            "GET /api/v3/order?symbol=BTCUSDT&timestamp=1&signature=9f86d081884c7d65",
            "9f86d081884c7d65",
        ),
        ("POST /login password=hunter2hunter2&user=bob", "hunter2hunter2"),
        ("https://x.test/?apiKey=AbCdEf123456&recvWindow=5000", "AbCdEf123456"),
        (
            "headers: X-MBX-APIKEY: vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvs",
            "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvs",
        ),
        ('{"email": "a@b.c", "password": "correct horse battery"}', "correct horse battery"),
        ("{'apiSecret': 'NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP'}", "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP"),
        ("client_secret=s3cr3t-value", "s3cr3t-value"),
        ("Authorization: Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl"),
        ("sent bearer opaque-token-123 upstream", "opaque-token-123"),
        (f"token in text {JWT} end", JWT),
        (f"?access_token={JWT}", JWT),
        ("connect postgresql+asyncpg://autogrid:pa55word@db:5432/autogrid failed", "pa55word"),
        ("redis://:r3dispass@redis:6379/0 refused", "r3dispass"),
        ("refresh_token=rt_0123456789abcdef", "rt_0123456789abcdef"),
        ("passphrase: okx-pass-phrase", "okx-pass-phrase"),
    ],
)
def test_recognisable_secrets_are_redacted(text: str, secret: str) -> None:
    cleaned = scrub(text)
    assert secret not in cleaned
    assert REDACTED in cleaned


def test_the_surrounding_text_is_kept() -> None:
    cleaned = scrub("GET /api/v3/order?symbol=BTCUSDT&signature=abc123&recvWindow=5000")
    assert cleaned == f"GET /api/v3/order?symbol=BTCUSDT&signature={REDACTED}&recvWindow=5000"
    assert scrub('{"password": "x y z", "email": "a@b.c"}') == (
        f'{{"password": "{REDACTED}", "email": "a@b.c"}}'
    )


def test_harmless_text_is_untouched() -> None:
    text = "order 42 filled 0.5 BTC at 64000.1 on https://api.binance.com:443/api/v3/order"
    assert scrub(text) == text
    assert scrub("") == ""


def test_registered_secrets_are_redacted_anywhere_until_unregistered() -> None:
    secret = "Zq8VmP2xLr7TnB4w"
    register_secret(secret)
    assert scrub(f"ccxt said: invalid key {secret}!") == f"ccxt said: invalid key {REDACTED}!"
    assert secret not in scrub(f"prefix{secret}suffix")
    unregister_secret(secret)
    assert secret in scrub(f"key {secret}")


def test_percent_encoded_forms_of_registered_secrets_are_redacted() -> None:
    secret = "a+b/c=d e&f"
    register_secret(secret)
    cleaned = scrub("POST body: key=a%2Bb%2Fc%3Dd+e%26f and a%2Bb%2Fc%3Dd%20e%26f")
    assert "a%2Bb" not in cleaned


def test_the_longest_registered_secret_wins() -> None:
    register_secret("abcdefgh")
    register_secret("abcdefgh-ijklmnop")
    assert scrub("x abcdefgh-ijklmnop y") == f"x {REDACTED} y"


def test_too_short_or_empty_values_are_not_registered() -> None:
    register_secret("abc")
    register_secret("")
    register_secret(None)
    assert scrub("abc is a word") == "abc is a word"


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("password", True),
        ("new_password", True),
        ("apiKey", True),
        ("X-MBX-APIKEY", True),
        ("api_secret", True),
        ("refresh_token", True),
        ("Authorization", True),
        ("symbol", False),
        ("bot_id", False),
        ("duration_ms", False),
    ],
)
def test_sensitive_names(name: str, sensitive: bool) -> None:
    assert is_sensitive_name(name) is sensitive


def test_structures_are_scrubbed_by_key_and_by_content() -> None:
    payload = {
        "symbol": "BTC/USDT",
        "apiKey": 12345678,
        "params": {"secret": ["a", "b"], "note": "signature=abcdef0123"},
        "history": [("password=hunter2hunter2", 3)],
    }
    assert scrub_value(payload) == {
        "symbol": "BTC/USDT",
        "apiKey": REDACTED,
        "params": {"secret": REDACTED, "note": f"signature={REDACTED}"},
        "history": [[f"password={REDACTED}", 3]],
    }
    deep: object = "leaf"
    for _ in range(20):
        deep = [deep]
    assert "[nested]" in repr(scrub_value(deep))
