"""SSE framing: ids on events only, a heartbeat comment while nothing happens, and the stream
ends after resync_required."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

from autogrid.live.envelope import Control, control_envelope
from autogrid.live.sse import sse_frame, sse_frames

EVENT = {"id": 7, "ts": "t", "type": "fill", "bot_id": None, "data": {"price": "1.5"}}


def test_an_event_frame_carries_its_id_type_and_envelope() -> None:
    frame = sse_frame(EVENT)
    assert frame.endswith("\n\n")
    lines = frame.strip().split("\n")
    assert lines[:2] == ["id: 7", "event: fill"]
    assert json.loads(lines[2].removeprefix("data: ")) == EVENT
    control = sse_frame(control_envelope(Control.SUBSCRIBED, {}))
    assert control.startswith("event: subscribed\n")  # no id: it is not a resume point


async def test_heartbeats_while_idle_and_ends_after_resync() -> None:
    release = asyncio.Event()

    async def envelopes() -> AsyncGenerator[dict[str, Any]]:
        await release.wait()
        yield EVENT
        yield control_envelope(Control.RESYNC_REQUIRED, {"reason": "slow"})
        yield EVENT  # never sent

    frames = sse_frames(envelopes(), heartbeat=0.01)
    assert await anext(frames) == ": ping\n\n"
    release.set()
    rest = [frame async for frame in frames if frame != ": ping\n\n"]
    assert [f.split("\n")[0] for f in rest] == ["id: 7", "event: resync_required"]
