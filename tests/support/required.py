"""required(): start a test service, skip when it cannot run here, fail instead in CI."""

import contextlib
import os
from collections.abc import Iterator
from typing import Protocol, TypeVar

import pytest


class Service(Protocol):
    """A test service the suite starts and stops itself."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


S = TypeVar("S", bound=Service)


def in_ci() -> bool:
    """Tell whether this run is CI (``CI=true``), where nothing the suite needs may be missing."""
    return os.environ.get("CI", "").lower() == "true"


@contextlib.contextmanager
def required(service: S, *, unavailable: type[Exception], what: str) -> Iterator[S]:
    """Run ``service`` for the block; if it raises ``unavailable`` on start, skip (fail in CI).

    In CI a missing PostgreSQL, libvirt or NFS server is a broken setup, not a reason to
    skip: the tests would pass without testing anything.
    """
    try:
        service.start()
    except unavailable as exc:
        if in_ci():
            pytest.fail(f"{what} is required in CI: {exc}")
        pytest.skip(f"{what} unavailable: {exc}")
    try:
        yield service
    finally:
        service.stop()
