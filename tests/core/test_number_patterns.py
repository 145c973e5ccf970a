from __future__ import annotations

from typing import Annotated

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import StringConstraints, TypeAdapter, ValidationError

from autogrid.core.number_patterns import digits_up_to
from autogrid.live.schemas import MAX_EVENT_ID


def admits(maximum: int, text: str) -> bool:
    """As the API checks a parameter's pattern (pydantic's, an ECMA-like engine: ``$`` is the
    end of the text, not a line's)."""
    adapter = TypeAdapter(Annotated[str, StringConstraints(pattern=digits_up_to(maximum))])
    try:
        adapter.validate_python(text)
    except ValidationError:
        return False
    return True


@given(st.integers(min_value=0, max_value=10**25), st.integers(min_value=0, max_value=10**21))
def test_the_pattern_admits_exactly_the_numbers_up_to_the_bound(maximum: int, value: int) -> None:
    assert admits(maximum, str(value)) == (value <= maximum)


@given(st.integers(min_value=0, max_value=2**64), st.integers(min_value=0, max_value=3))
def test_leading_zeros_within_the_width_read_as_the_number(value: int, zeros: int) -> None:
    text = "0" * zeros + str(value)
    assert admits(MAX_EVENT_ID, text) == (
        value <= MAX_EVENT_ID and len(text) <= len(str(MAX_EVENT_ID))
    )


@pytest.mark.parametrize("text", ["", "-1", "+1", "1.0", "١٢", "²", " 1", "1\n"])
def test_anything_but_ascii_digits_is_refused(text: str) -> None:
    assert not admits(MAX_EVENT_ID, text)


def test_the_edges_of_a_bigint() -> None:
    assert admits(MAX_EVENT_ID, "9223372036854775807")
    assert not admits(MAX_EVENT_ID, "9223372036854775808")
    assert not admits(MAX_EVENT_ID, "9803545434935098892")  # what schemathesis sent
    assert admits(MAX_EVENT_ID, "0") and admits(MAX_EVENT_ID, "9" * 18)
    with pytest.raises(ValueError, match="negative"):
        digits_up_to(-1)
