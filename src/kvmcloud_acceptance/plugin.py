"""The suite's pytest plugin: settings, the cs client, the run id, cleanup and the audit."""

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cs import CloudStack

from kvmcloud_acceptance.image_server import ImageServer

# What the audit lists before and after the run: (command, response key, extra parameters).
AUDITED: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("listAccounts", "account", {"listall": True}),
    ("listServiceOfferings", "serviceoffering", {}),
    ("listDiskOfferings", "diskoffering", {}),
    ("listNetworkOfferings", "networkoffering", {}),
    ("listNetworks", "network", {"listall": True}),
    ("listTemplates", "template", {"templatefilter": "all", "listall": True}),
    ("listVirtualMachines", "virtualmachine", {"listall": True}),
)


@dataclass(frozen=True)
class Settings:
    """What the command line says about the cloud under test."""

    endpoint: str
    api_key: str
    secret_key: str
    zone: str | None = None
    template_url: str | None = None
    template_checksum: str | None = None
    template_format: str = "QCOW2"
    serve_image: bool = False
    job_timeout_s: float = 300.0


@dataclass
class Cleanup:
    """Undo steps, run last-registered first even when a test fails; errors are collected."""

    steps: list[tuple[str, Callable[[], object]]] = field(default_factory=list)

    def add(self, what: str, step: Callable[[], object]) -> None:
        """Register ``step`` (which deletes ``what``) to run at the end of the test."""
        self.steps.append((what, step))

    def done(self, what: str) -> None:
        """Forget the step for ``what``: the test deleted it itself."""
        self.steps = [(w, s) for w, s in self.steps if w != what]

    def run(self) -> list[str]:
        """Run every step once, newest first; return the failures' descriptions."""
        failures = []
        while self.steps:
            what, step = self.steps.pop()
            try:
                step()
            except Exception as exc:
                failures.append(f"could not delete {what}: {exc}")
        return failures


def listed(api: CloudStack, command: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Return a list command's items (``cs`` answers ``{}`` for an empty list)."""
    # With fetch_list, cs follows the pages and answers the items as one list.
    answer: Any = getattr(api, command)(fetch_list=True, **params)
    if isinstance(answer, list):
        return answer
    return list(answer.get(key, []))


def inventory(api: CloudStack) -> dict[str, set[str]]:
    """Map each audited command to the ids it lists now."""
    return {
        command: {item["id"] for item in listed(api, command, key, **params)}
        for command, key, params in AUDITED
    }


SETTINGS = pytest.StashKey[Settings]()
RUN_ID = pytest.StashKey[str]()


class Plugin:
    """Hands one run's settings to the fixtures below (through the pytest config's stash)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._run_id = f"kat{secrets.token_hex(3)}"

    def pytest_configure(self, config: pytest.Config) -> None:
        """Stash the settings and the run id for the fixtures."""
        config.stash[SETTINGS] = self._settings
        config.stash[RUN_ID] = self._run_id

    def pytest_report_header(self) -> list[str]:
        """Print the endpoint and the run id before the tests."""
        return [f"endpoint: {self._settings.endpoint}", f"run id: {self._run_id}"]


# Fixtures (this module is a pytest plugin too).
@pytest.fixture(scope="session")
def settings(request: pytest.FixtureRequest) -> Settings:
    """The command line's settings."""
    return request.config.stash[SETTINGS]


@pytest.fixture(scope="session")
def run_id(request: pytest.FixtureRequest) -> str:
    """The prefix of every name this run creates."""
    return request.config.stash[RUN_ID]


@pytest.fixture(scope="session")
def api(settings: Settings) -> CloudStack:
    """The ``cs`` client with the given keys; async jobs are followed to their result."""
    return CloudStack(
        endpoint=settings.endpoint,
        key=settings.api_key,
        secret=settings.secret_key,
        fetch_result=True,
        poll_interval=1,
        job_timeout=int(settings.job_timeout_s),
    )


@pytest.fixture(scope="session", autouse=True)
def untouched(api: CloudStack) -> Iterator[None]:
    """Fail the run if it deleted something it did not create or left something behind."""
    before = inventory(api)
    yield
    after = inventory(api)
    gone = {c: sorted(ids - after[c]) for c, ids in before.items() if ids - after[c]}
    left = {c: sorted(after[c] - ids) for c, ids in before.items() if after[c] - ids}
    assert not gone, f"the suite removed what it did not create: {gone}"
    assert not left, f"the suite left behind: {left}"


@pytest.fixture
def cleanup() -> Iterator[Cleanup]:
    """Undo steps of one test, run even when it fails."""
    steps = Cleanup()
    yield steps
    failures = steps.run()
    assert not failures, "; ".join(failures)


@pytest.fixture(scope="module")
def module_cleanup() -> Iterator[Cleanup]:
    """Undo steps of a test module's shared setup, run after its last test."""
    steps = Cleanup()
    yield steps
    failures = steps.run()
    assert not failures, "; ".join(failures)


@pytest.fixture(scope="session")
def zone(api: CloudStack, settings: Settings) -> dict[str, Any]:
    """The zone under test (--zone, or the first listed)."""
    if settings.zone:
        zones = listed(api, "listZones", "zone", name=settings.zone)
        zones = [z for z in zones if z["name"] == settings.zone]
    else:
        zones = listed(api, "listZones", "zone")
    if not zones:
        pytest.fail(f"no zone {settings.zone!r} in this cloud" if settings.zone else "no zone")
    return zones[0]


@pytest.fixture(scope="session")
def template_source(settings: Settings) -> Iterator[tuple[str, str | None, str]]:
    """(url, checksum, format) of the template the VM tests register."""
    if settings.template_url:
        yield settings.template_url, settings.template_checksum, settings.template_format
        return
    if not settings.serve_image:
        pytest.skip("no --template-url (or --serve-image): the VM tests need a template")
    with ImageServer() as server:
        yield server.url, f"{{SHA-256}}{server.sha256}", "RAW"
