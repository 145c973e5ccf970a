"""The registry of known secrets: bounded, cheap to add to, matched without recompiling."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autogrid.observability.redaction import (
    REDACTED,
    clear_registered_secrets,
    forget_secrets_of,
    register_secret,
    registered_secret_count,
    scrub,
)
from autogrid.observability.secret_registry import MIN_SECRET_LENGTH, SecretRegistry


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    clear_registered_secrets()
    yield
    clear_registered_secrets()


def test_registering_and_scrubbing_never_compile_a_pattern(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Thousands of keys used to mean a regex recompiled per registration, on the event loop."""

    def no_compiling(*args: object, **kwargs: object) -> re.Pattern[str]:
        raise AssertionError("a pattern was compiled")

    monkeypatch.setattr(re, "compile", no_compiling)  # the module redaction uses
    for number in range(3000):
        register_secret(f"secret-value-{number:05d}-abcdef")
        if number % 500 == 0:
            assert scrub(f"key secret-value-{number:05d}-abcdef!") == f"key {REDACTED}!"
    assert scrub("x secret-value-02999-abcdef y") == f"x {REDACTED} y"


def test_the_registry_is_bounded_and_forgets_the_least_recently_used() -> None:
    registry = SecretRegistry(capacity=3)
    for value in ("first-secret", "second-secret", "third-secret"):
        registry.add(value)
    registry.add("first-secret")  # used again: now the most recent
    registry.add("fourth-secret")
    assert len(registry) == 3
    assert registry.redact("second-secret", REDACTED) == "second-secret"
    for kept in ("first-secret", "third-secret", "fourth-secret"):
        assert registry.redact(kept, REDACTED) == REDACTED
    big = 10_000
    for number in range(big):
        register_secret(f"flood-{number:08d}")
    assert registered_secret_count() < big


def test_secrets_of_an_owner_are_forgotten_together() -> None:
    register_secret("owned-api-key-123", owner="cred-1")
    register_secret("owned-api-secret-456", owner="cred-1")
    register_secret("someone-elses-key-789", owner="cred-2")
    assert forget_secrets_of("cred-1") == 2
    assert (
        scrub("owned-api-key-123 owned-api-secret-456") == "owned-api-key-123 owned-api-secret-456"
    )
    assert scrub("someone-elses-key-789") == REDACTED


def test_short_values_are_ignored() -> None:
    register_secret("a" * (MIN_SECRET_LENGTH - 1))
    assert scrub("a" * (MIN_SECRET_LENGTH - 1)) == "a" * (MIN_SECRET_LENGTH - 1)


def _reference_redact(text: str, secrets: list[str]) -> str:
    """What the old regex did: leftmost match, the longest secret at that position."""
    ordered = sorted(set(secrets), key=len, reverse=True)
    return re.sub("|".join(re.escape(secret) for secret in ordered), REDACTED, text)


@given(
    secrets=st.lists(st.text(alphabet="abc-", min_size=MIN_SECRET_LENGTH, max_size=12), max_size=6),
    text=st.text(alphabet="abc- ", max_size=80),
)
def test_matches_like_a_longest_first_alternation(secrets: list[str], text: str) -> None:
    registry = SecretRegistry()
    for secret in secrets:
        registry.add(secret)
    # Percent-encoding leaves this alphabet alone, so the forms are the values themselves.
    expected = _reference_redact(text, secrets) if secrets else text
    assert registry.redact(text, REDACTED) == expected
