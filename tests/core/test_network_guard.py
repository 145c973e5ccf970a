from __future__ import annotations

import socket

import pytest

from tests.network_guard import OutsideNetworkRefused


def test_outside_names_and_addresses_are_refused_in_tests() -> None:
    with pytest.raises(OutsideNetworkRefused):
        socket.getaddrinfo("api.binance.com", 443)
    with socket.socket() as sock, pytest.raises(OutsideNetworkRefused):
        sock.connect(("203.0.113.7", 443))  # TEST-NET-3: never routable anyway


def test_loopback_still_resolves() -> None:
    assert socket.getaddrinfo("127.0.0.1", 5432)
    assert socket.getaddrinfo("localhost", 6379)
