"""One message per chat: events grouped per bot and type, severities marked, the whole under
Telegram's size limit."""

from __future__ import annotations

import uuid

from autogrid.notifications.telegram.formatting import MAX_CHARS, EventLine, render

BOT = uuid.UUID(int=1)


def test_groups_keep_their_order_and_list_a_few() -> None:
    events = [
        EventLine(1, "error", BOT, "exchange down"),
        *(EventLine(2 + i, "fill", BOT, f"fill {i}") for i in range(5)),
        EventLine(9, "kill_switch_engaged", None, "kill switch engaged"),
    ]
    assert render(events, {BOT: "alpha"}).splitlines() == [
        "❗ [bot alpha] exchange down",
        "• 5 fills on bot alpha:",
        "   fill 0",
        "   fill 1",
        "   fill 2",
        "   … and 2 more",
        "❗ [account] kill switch engaged",
    ]


def test_a_long_message_is_cut_at_a_line_under_the_limit() -> None:
    bots = [uuid.UUID(int=n) for n in range(1, 400)]
    events = [EventLine(n, "error", bot, "x" * 30) for n, bot in enumerate(bots)]
    text = render(events, {})
    assert len(text) <= MAX_CHARS + 30 and text.endswith("… (more in AutoGrid)")
