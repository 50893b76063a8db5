"""Unit tests open no connection: connecting a socket (TCP, UDP or AF_UNIX) fails the test.

A unit test talks to fakes (httpx.MockTransport, a fake libvirt module, FakeAgentClient).
One that reaches a server, even on loopback, is an integration test: it depends on what
runs on the machine and is slow to fail. socketpair() stays allowed: it connects
nothing outside the process (asyncio's event loops use one to wake themselves).
"""

import socket
from typing import Any

import pytest


class NetworkAccessError(AssertionError):
    """A unit test tried to open a connection."""


def _refuse(address: object) -> NetworkAccessError:
    return NetworkAccessError(
        f"a unit test tried to connect to {address!r}: tests/unit must not open "
        "connections; use a fake (httpx.MockTransport, tests/fakes.py) or move the test "
        "to tests/integration"
    )


def _connect(self: socket.socket, address: Any) -> None:
    raise _refuse(address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    raise _refuse(address)


def _create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
    raise _refuse(address)


@pytest.fixture(autouse=True)
def _no_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every way of connecting a socket raise NetworkAccessError for the test."""
    monkeypatch.setattr(socket.socket, "connect", _connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _connect_ex)
    monkeypatch.setattr(socket, "create_connection", _create_connection)
