"""Keep tests on this machine: resolving or connecting to anything but loopback raises at once.

No exchange is reachable from here, and a test that tried one would hang on timeouts (or, worse,
send traffic outside). Subprocesses started by tests are pointed at local servers explicitly.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LOCAL_NAMES = frozenset({"localhost", "testserver", "localhost.localdomain"})


class OutsideNetworkRefused(OSError):
    pass


def is_local(host: object) -> bool:
    if host is None:
        return True
    text = host.decode() if isinstance(host, bytes) else str(host)
    if text in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(text.split("%")[0]).is_loopback
    except ValueError:
        return False


@contextmanager
def refuse_outside_connections() -> Iterator[None]:
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_local(host):
            raise OutsideNetworkRefused(f"tests may not resolve {host!r}: use a local server")
        return real_getaddrinfo(host, *args, **kwargs)

    # socket.socket.connect is declared on the C base class (SocketType): the patch takes that.
    def guarded_connect(self: socket.SocketType, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not is_local(address[0]):
            raise OutsideNetworkRefused(f"tests may not connect to {address!r}")
        real_connect(self, address)

    socket.getaddrinfo = guarded_getaddrinfo
    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.getaddrinfo = real_getaddrinfo
        socket.socket.connect = real_connect  # type: ignore[method-assign]
