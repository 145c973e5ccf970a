"""Serving a stand-in for an outside service (exchange, Telegram, webhook receivers) locally."""

from __future__ import annotations

from aiohttp import web


async def serve_locally(
    app: web.Application, host: str = "127.0.0.1", port: int = 0
) -> web.AppRunner:
    """``app`` listening on ``host`` (a free port when ``port`` is 0; the runner's ``addresses``
    tell which). The caller cleans the runner up. A short shutdown timeout: a handler held open
    or sleeping on a fault may still be running when a test ends."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    port: int = runner.addresses[0][1]
    return port
