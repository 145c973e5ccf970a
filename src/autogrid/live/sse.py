"""The live stream as Server-Sent Events, for clients that cannot do WebSockets: the same
envelopes, ``id:`` set to the event id so the browser's ``Last-Event-ID`` resumes it, a comment
line as heartbeat. A stream whose user's access is revoked just ends: reconnecting answers 401."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from autogrid.live.envelope import Control, dumps
from autogrid.live.subscription import AccessRevoked

HEARTBEAT_SECONDS = 15.0


def sse_frame(envelope: dict[str, Any]) -> str:
    lines = [] if envelope["id"] is None else [f"id: {envelope['id']}"]
    lines += [f"event: {envelope['type']}", f"data: {dumps(envelope)}"]
    return "\n".join(lines) + "\n\n"


async def sse_frames(
    envelopes: AsyncGenerator[dict[str, Any]], heartbeat: float = HEARTBEAT_SECONDS
) -> AsyncIterator[str]:
    """Frames until the stream ends (``resync_required`` is the last one; a revoked access ends
    it without one); a ``: ping`` comment
    whenever nothing was sent for ``heartbeat`` seconds, so proxies keep the connection open."""
    pending: asyncio.Task[dict[str, Any]] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(envelopes))
            done, _ = await asyncio.wait({pending}, timeout=heartbeat)
            if not done:
                yield ": ping\n\n"
                continue
            try:
                envelope = pending.result()
            except (StopAsyncIteration, AccessRevoked):
                return
            pending = None
            yield sse_frame(envelope)
            if envelope["type"] == Control.RESYNC_REQUIRED:
                return
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        await envelopes.aclose()
