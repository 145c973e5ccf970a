"""Nothing that proves or reveals a credential survives scrub_message."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from autogrid.exchanges.scrub import MAX_MESSAGE_CHARS, REDACTED, scrub_message
from autogrid.exchanges.types import ApiCredentials, mask_secret

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_signed_url_loses_its_query_string() -> None:
    message = (
        "binance POST https://api.binance.com/api/v3/order?symbol=BTCUSDT&side=BUY"
        f"&timestamp=1700000000000&signature={SIGNATURE} 400 Bad Request "
        '{"code":-1013,"msg":"Filter failure: LOT_SIZE"}'
    )
    scrubbed = scrub_message(message)
    assert SIGNATURE not in scrubbed and "symbol=BTCUSDT" not in scrubbed
    assert "https://api.binance.com/api/v3/order?***" in scrubbed
    assert "Filter failure: LOT_SIZE" in scrubbed  # the useful part stays


def test_named_credentials_in_bodies_and_headers() -> None:
    for text in (
        f'{{"apiKey": "{API_KEY[:20]}", "x": 1}}',
        f"X-MBX-APIKEY: {API_KEY[:20]}",
        f"signature={SIGNATURE[:10]}&a=1",
        f"'OK-ACCESS-SIGN': '{SIGNATURE[:12]}'",
        "passphrase=hunter2hunter2 rest",
    ):
        scrubbed = scrub_message(text)
        assert REDACTED in scrubbed, text
        for leaked in (API_KEY[:20], SIGNATURE[:10], "hunter2hunter2"):
            assert leaked not in scrubbed


def test_the_credentials_own_strings_are_removed_in_any_encoding() -> None:
    secret = "pa ss/w+rd=="
    for text in (f"echo {secret} end", f"echo {quote(secret, safe='')} end"):
        assert secret not in scrub_message(text, [secret])
        assert quote(secret, safe="") not in scrub_message(text, [secret])


def test_unnamed_digests_and_long_keys_are_removed() -> None:
    scrubbed = scrub_message(f"weird {SIGNATURE} and {API_KEY} here")
    assert SIGNATURE not in scrubbed and API_KEY not in scrubbed


def test_long_messages_are_truncated() -> None:
    assert len(scrub_message("word " * 1000)) == MAX_MESSAGE_CHARS


@given(st.text(min_size=8, max_size=40).filter(lambda s: s.strip() == s and len(set(s)) > 3))
def test_a_given_secret_never_survives(secret: str) -> None:
    assert secret not in scrub_message(f"prefix {secret} middle {secret}suffix", [secret])


def test_credentials_repr_reveals_nothing() -> None:
    credentials = ApiCredentials(api_key=API_KEY, secret=SECRET, passphrase="pp-pp-pp-pp")
    shown = repr(credentials) + str(credentials)
    assert API_KEY not in shown and SECRET not in shown and "pp-pp-pp-pp" not in shown
    assert mask_secret(API_KEY) in shown
    assert credentials.secrets() == (API_KEY, SECRET, "pp-pp-pp-pp")
