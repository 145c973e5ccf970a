"""Typed failures of the optional language-model fallback.

They are SignalParseErrors, so whoever records an unparsable signal records these the same way
(the stored outcome says the grammar's fault and, after it, why the model could not help). The
reason is always our own wording: a server's error text is never relayed, as it may echo the key.
"""

from __future__ import annotations

from autogrid.signals.model import SignalParseError


class LlmFailure(SignalParseError):
    """The fallback gave no usable signal. `reason` is a short, key-free explanation;
    `grammar_error` is the grammar's own refusal of the same body, when there was one."""

    def __init__(self, reason: str, grammar_error: SignalParseError | None = None) -> None:
        self.reason = reason
        self.grammar_error = grammar_error
        if grammar_error is None:
            super().__init__(f"the language model could not read the signal: {reason}", 0)
        else:
            super().__init__(
                f"{grammar_error.message}; the language model could not read it either: {reason}",
                grammar_error.position,
            )

    def after(self, grammar_error: SignalParseError) -> LlmFailure:
        """The same failure, told after the grammar's refusal of the body."""
        return type(self)(self.reason, grammar_error)


class LlmUnavailable(LlmFailure):
    """No answer: a timeout, a refused key, a rate limit, a server or network error."""


class LlmAnswerInvalid(LlmFailure):
    """An answer that is not a valid signal: not JSON, outside the schema, a refusal, or a
    signal that breaks the money rules."""
