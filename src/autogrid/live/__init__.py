"""Live events: the journal streamed to its owner over a WebSocket (``/api/v1/ws``) or
Server-Sent Events, replayed from an id and then live, in id order, with no gap and no
duplicate. The protocol is in docs/live-events.md."""
