"""A regular expression for the decimal numbers from 0 to a bound, for a parameter sent as text.

A header (``Last-Event-ID``) is documented as a string with a pattern; ``[0-9]{1,19}`` admitted
19-digit numbers past a bigint's maximum, which the API then refused against its own schema.
"""

from __future__ import annotations


def digits_up_to(maximum: int) -> str:
    """An anchored pattern matching the decimal numbers from 0 to ``maximum`` (leading zeros
    allowed, as ``int`` reads them, up to the bound's own number of digits)."""
    if maximum < 0:
        raise ValueError("the bound must not be negative")
    bound = str(maximum)
    width = len(bound)
    shorter = [f"[0-9]{{1,{width - 1}}}"] if width > 1 else []
    # As many digits as the bound: its first ``at`` digits, then a smaller one, then any.
    lower = [
        f"{bound[:at]}[0-{int(digit) - 1}][0-9]{{{width - at - 1}}}"
        for at, digit in enumerate(bound)
        if digit != "0"
    ]
    return "^(?:" + "|".join([*shorter, *lower, bound]) + ")$"
