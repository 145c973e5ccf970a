"""Refuse passwords an attacker would guess early: common ones and ones built from the account.

OWASP (Authentication Cheat Sheet, ASVS 2.1.7) and NIST SP 800-63B ask new passwords to be checked
against lists of common and breached passwords and against context-specific words (the email,
the service's name), rather than for character classes. zxcvbn does that offline with its own
word lists and pattern matchers (keyboard walks, repeats, sequences, dates, l33t) and scores the
guesses needed from 0 to 4.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from zxcvbn import zxcvbn

# 3 = "safely unguessable" (about 10^10 guesses): out of reach of online guessing and costly
# offline against Argon2id. 2 and below are found by a throttled attacker's word lists.
MIN_SCORE = 3
# zxcvbn refuses longer input (its matching grows quadratically); the first 72 characters of a
# longer passphrase are judged, so "a" * 1024 is still refused as a repeat.
MAX_EVALUATED_LENGTH = 72
SERVICE_WORDS = ("autogrid", "grid", "trading", "crypto")


@dataclass(frozen=True, slots=True)
class PasswordWeakness:
    """Why a password is refused, in words a user can act on."""

    warning: str
    suggestions: tuple[str, ...]

    @property
    def message(self) -> str:
        reason = self.warning.rstrip(".") or "it is common, or made from your email"
        return f"password is too easy to guess ({reason}). {' '.join(self.suggestions)}"

    def details(self) -> dict[str, object]:
        return {"warning": self.warning, "suggestions": list(self.suggestions)}


def context_words(email: str, extra: Iterable[str] = ()) -> list[str]:
    """The words an attacker targeting this account would try first: its email and its parts."""
    local, _, domain = email.partition("@")
    words = [email, local, domain, re.sub(r"[^a-z0-9]+", "", local.lower())]
    words.extend(re.split(r"[^a-z0-9]+", email.lower()))
    words.extend(SERVICE_WORDS)
    words.extend(extra)
    return [word for word in dict.fromkeys(words) if len(word) >= 3]


def assess_password(password: str, context: Iterable[str]) -> PasswordWeakness | None:
    """None when the password is strong enough; CPU-bound (up to ~0.1 s), run it off the loop."""
    result = zxcvbn(password[:MAX_EVALUATED_LENGTH], user_inputs=list(context))
    if int(result["score"]) >= MIN_SCORE:
        return None
    feedback = result.get("feedback") or {}
    warning = str(feedback.get("warning") or "")
    suggestions = tuple(str(tip) for tip in feedback.get("suggestions") or ())
    if not suggestions:
        suggestions = ("Use a longer passphrase of several uncommon words.",)
    return PasswordWeakness(warning=warning, suggestions=suggestions)
