"""LibvirtHost's own logic on a stand-in libvirt module: ownership, stop, reconnects."""

from dataclasses import dataclass, field
from typing import Any

import pytest

from kvmcloud.agent.vms.errors import (
    HypervisorUnavailableError,
    VmFailureError,
    VmNotFoundError,
)
from kvmcloud.agent.vms.libvirt import LibvirtHost, power_state
from kvmcloud.protocol.agent_messages import VmPowerState

NO_DOMAIN, NO_METADATA, OPERATION_INVALID, SYSTEM_ERROR = 42, 80, 55, 38
FROM_RPC, FROM_QEMU = 7, 10
RUNNING, SHUTOFF = 1, 5


class FakeLibvirtError(Exception):
    def __init__(self, message: str, code: int, domain: int = FROM_QEMU) -> None:
        super().__init__(message)
        self.code, self.domain = code, domain

    def get_error_code(self) -> int:
        return self.code

    def get_error_domain(self) -> int:
        return self.domain

    def get_error_message(self) -> str:
        return str(self)


@dataclass
class FakeDomain:
    domain_name: str
    ours: bool = True
    active: bool = False
    obeys_acpi: bool = True
    # Undefined by someone else after it was listed or looked up.
    vanished: bool = False
    calls: list[str] = field(default_factory=list)

    def name(self) -> str:
        return self.domain_name

    def isActive(self) -> int:
        return int(self.active)

    def state(self, flags: int) -> list[int]:
        return [RUNNING if self.active else SHUTOFF, 0]

    def metadata(self, kind: int, uri: str, flags: int) -> str:
        if self.vanished:
            raise FakeLibvirtError("domain not found", NO_DOMAIN)
        if not self.ours:
            raise FakeLibvirtError("metadata not found", NO_METADATA)
        return "<instance/>"

    def create(self) -> None:
        self.calls.append("create")
        self.active = True

    def shutdownFlags(self, flags: int) -> None:
        self.calls.append("shutdown")
        if not self.active:
            raise FakeLibvirtError("domain is not running", OPERATION_INVALID)
        if self.obeys_acpi:
            self.active = False

    def destroy(self) -> None:
        self.calls.append("destroy")
        self.active = False

    def undefineFlags(self, flags: int) -> None:
        self.calls.append("undefine")


@dataclass
class FakeConnection:
    domains: dict[str, FakeDomain]
    alive: bool = True
    # Raised once by the next lookup, as a dropped socket would.
    lookup_error: FakeLibvirtError | None = None
    defined: list[str] = field(default_factory=list)

    def isAlive(self) -> int:
        return int(self.alive)

    def close(self) -> None:
        self.alive = False

    def lookupByName(self, name: str) -> FakeDomain:
        if self.lookup_error is not None:
            error, self.lookup_error = self.lookup_error, None
            raise error
        if name not in self.domains:
            raise FakeLibvirtError(f"no domain with matching name '{name}'", NO_DOMAIN)
        return self.domains[name]

    def defineXMLFlags(self, xml: str, flags: int) -> FakeDomain:
        self.defined.append(xml)
        return self.domains.setdefault("vm", FakeDomain("vm"))

    def listAllDomains(self, flags: int) -> list[FakeDomain]:
        return list(self.domains.values())


class FakeLibvirtModule:
    libvirtError = FakeLibvirtError  # noqa: N815 - libvirt's own spelling
    VIR_DOMAIN_DEFINE_VALIDATE = 1
    VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN = 1
    VIR_DOMAIN_UNDEFINE_MANAGED_SAVE = 1
    VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA = 2
    VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA = 4
    VIR_DOMAIN_UNDEFINE_NVRAM = 8
    VIR_DOMAIN_METADATA_ELEMENT = 2

    def __init__(self, *domains: FakeDomain) -> None:
        self.domains = {d.domain_name: d for d in domains}
        self.connections: list[FakeConnection] = []
        self.refuse: FakeLibvirtError | None = None

    def open(self, uri: str) -> FakeConnection:
        if self.refuse is not None:
            raise self.refuse
        connection = FakeConnection(self.domains)
        self.connections.append(connection)
        return connection


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def host_with(module: Any, clock: FakeClock | None = None) -> LibvirtHost:
    clock = clock or FakeClock()
    return LibvirtHost(
        "qemu:///system", module=module, clock=clock, sleep=clock.sleep, poll_interval_s=0.5
    )


def test_graceful_stop_powers_off_a_guest_that_ignores_acpi_after_the_timeout() -> None:
    domain = FakeDomain("vm", active=True, obeys_acpi=False)
    clock = FakeClock()

    state = host_with(FakeLibvirtModule(domain), clock).stop(
        "vm", forced=False, graceful_timeout_s=2.0
    )

    assert state is VmPowerState.STOPPED
    assert domain.calls == ["shutdown", "destroy"]
    assert sum(clock.sleeps) == pytest.approx(2.0)


def test_graceful_stop_of_an_obedient_guest_does_not_power_it_off() -> None:
    domain = FakeDomain("vm", active=True)

    assert host_with(FakeLibvirtModule(domain)).stop("vm", forced=False, graceful_timeout_s=30)
    assert domain.calls == ["shutdown"]


def test_forced_stop_powers_off_at_once_and_a_stopped_domain_is_left_alone() -> None:
    running, stopped = FakeDomain("a", active=True), FakeDomain("b")
    host = host_with(FakeLibvirtModule(running, stopped))

    assert host.stop("a", forced=True, graceful_timeout_s=30) is VmPowerState.STOPPED
    assert host.stop("b", forced=False, graceful_timeout_s=30) is VmPowerState.STOPPED
    assert running.calls == ["destroy"]
    assert stopped.calls == []


def test_domains_without_kvmcloud_metadata_are_never_touched() -> None:
    foreign = FakeDomain("vm", ours=False, active=True)
    module = FakeLibvirtModule(foreign, FakeDomain("i-1-VM"))
    host = host_with(module)

    with pytest.raises(VmNotFoundError):
        host.stop("vm", forced=True, graceful_timeout_s=0)
    with pytest.raises(VmFailureError, match="not defined by kvmcloud"):
        host.start("vm", "<domain/>")
    assert host.destroy_and_undefine("vm") is False
    assert host.state("vm") is VmPowerState.MISSING
    assert host.states() == {"i-1-VM": VmPowerState.STOPPED}
    assert foreign.calls == []
    assert module.connections[0].defined == []


def test_domains_undefined_meanwhile_count_as_missing() -> None:
    gone = FakeDomain("gone", vanished=True)
    host = host_with(FakeLibvirtModule(gone, FakeDomain("i-1-VM", active=True)))

    assert host.states() == {"i-1-VM": VmPowerState.RUNNING}
    assert host.state("gone") is VmPowerState.MISSING
    assert host.destroy_and_undefine("gone") is False
    with pytest.raises(VmNotFoundError):
        host.reset("gone")


def test_start_is_idempotent() -> None:
    module = FakeLibvirtModule()
    host = host_with(module)

    assert host.start("vm", "<domain/>") is VmPowerState.RUNNING
    assert host.start("vm", "<domain/>") is VmPowerState.RUNNING
    assert module.domains["vm"].calls == ["create"]
    assert len(module.connections[0].defined) == 2


def test_destroy_of_a_missing_domain_is_fine() -> None:
    domain = FakeDomain("vm", active=True)
    host = host_with(FakeLibvirtModule(domain))

    assert host.destroy_and_undefine("vm") is True
    assert domain.calls == ["destroy", "undefine"]
    assert host.destroy_and_undefine("other") is False


def test_connection_is_opened_once_and_reopened_when_libvirtd_went_away() -> None:
    module = FakeLibvirtModule(FakeDomain("vm"))
    host = host_with(module)

    host.state("vm")
    host.state("vm")
    assert len(module.connections) == 1

    module.connections[0].alive = False
    assert host.state("vm") is VmPowerState.STOPPED
    assert len(module.connections) == 2

    # A socket that breaks during a read: the read is retried once on a new connection.
    module.connections[1].lookup_error = FakeLibvirtError("broken pipe", SYSTEM_ERROR, FROM_RPC)
    assert host.state("vm") is VmPowerState.STOPPED
    assert len(module.connections) == 3


def test_unreachable_libvirt_is_hypervisor_unavailable() -> None:
    module = FakeLibvirtModule()
    module.refuse = FakeLibvirtError("Failed to connect socket", SYSTEM_ERROR, FROM_RPC)

    with pytest.raises(HypervisorUnavailableError, match=r"qemu:///system.*Failed to connect"):
        host_with(module).states()


def test_close_keeps_domains_and_the_next_call_reconnects() -> None:
    domain = FakeDomain("vm", active=True)
    module = FakeLibvirtModule(domain)
    host = host_with(module)
    host.states()

    host.close()

    assert domain.active
    assert host.states() == {"vm": VmPowerState.RUNNING}
    assert len(module.connections) == 2


@pytest.mark.parametrize(
    ("state", "active", "expected"),
    [
        (1, True, VmPowerState.RUNNING),
        (2, True, VmPowerState.RUNNING),
        (3, True, VmPowerState.PAUSED),
        (4, True, VmPowerState.RUNNING),
        (5, False, VmPowerState.STOPPED),
        (6, False, VmPowerState.STOPPED),
        (7, True, VmPowerState.PAUSED),
        (0, True, VmPowerState.RUNNING),
        (0, False, VmPowerState.STOPPED),
    ],
)
def test_power_state(state: int, active: bool, expected: VmPowerState) -> None:
    assert power_state(state, active=active) is expected
