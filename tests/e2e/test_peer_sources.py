"""Peer sources end to end: three agents with host-local pools and a throttled origin.

One origin transfer serves later hosts from a peer's verified copy, also when they all need
it at once (they wait for the first copy, then read it); a peer serving
corrupted bytes is caught by the checksum and skipped; with peers off every host reads
the origin, as before; a peer killed mid-transfer changes nothing for the result (its bytes
are kept when the origin can continue from them, discarded when it cannot).
"""

import hashlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import HEADER, Stack, running_stack, wait_jobs
from tests.support.processes import ManagedProcess, free_port, start_agent
from tests.support.trust import agent_token

IMAGE_BYTES = 24 * 1024 * 1024
# Stands in for a WAN mirror, scaled to the image: about 3 s per transfer.
ORIGIN_BPS = 8_000_000
PEERS_ENABLED = "kvmcloud.direct.download.peers.enabled"
PEERS_MAX_SOURCES = "kvmcloud.direct.download.peers.max.sources"
PEER_MAX_RATE = "kvmcloud.direct.download.peer.max.rate"


@dataclass
class Zone:
    """The stack plus two more agents, one host-local pool per host (in host order)."""

    stack: Stack
    hosts: list[str]
    pools: list[str]
    pool_paths: list[Path]
    agents: list[ManagedProcess]
    agent_ports: list[int]
    workdir: Path


@pytest.fixture(scope="module")
def zone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zone]:
    workdir = tmp_path_factory.mktemp("peers")
    url = f"sqlite:///{workdir}/kvmcloud.db"
    with running_stack(url, workdir) as stack:
        api = stack.api
        cluster = api.listClusters()["cluster"][0]
        extra: list[ManagedProcess] = []
        ports = [stack.agent_port]
        try:
            for n in (2, 3):
                port = free_port()
                extra.append(
                    start_agent(port, workdir / f"agent{n}-state", workdir / f"agent{n}.log")
                )
                ports.append(port)
                api.addHost(
                    zoneid=stack.zone_id,
                    podid=cluster["podid"],
                    clusterid=cluster["id"],
                    hypervisor="KVM",
                    url=f"http://127.0.0.1:{port}",
                    username="root",
                    password=agent_token(workdir / f"agent{n}-state"),
                )
            hosts = [_host_by_port(stack, port) for port in ports]
            pools, paths = [], []
            for n, host_id in enumerate(hosts, 1):
                path = workdir / f"local{n}"
                path.mkdir()
                paths.append(path)
                pools.append(
                    api.createStoragePool(
                        name=f"local{n}",
                        zoneid=stack.zone_id,
                        hostid=host_id,
                        url=f"Filesystem://localhost{path}",
                    )["storagepool"]["id"]
                )
            agents = [stack.agent, *extra]
            yield Zone(stack, hosts, pools, paths, agents, ports, workdir)
        finally:
            # Tests kill agents and start them again: stop whichever run now.
            for agent in {id(a): a for a in [*extra, *locals().get("agents", [])]}.values():
                if agent is not stack.agent:
                    agent.stop()


def kill_and_restart(zone: Zone, index: int) -> None:
    """SIGKILL host ``index``'s agent mid-work, then start it again on its state and port.

    Until the server notices, a killed host still counts as Up; started again, it serves
    the next test's URL checks and transfers.
    """
    zone.agents[index].stop(signal.SIGKILL)
    state = zone.workdir / ("agent-state" if index == 0 else f"agent{index + 1}-state")
    log = zone.workdir / f"agent{index + 1}-restarted.log"
    zone.agents[index] = start_agent(zone.agent_ports[index], state, log)


def _host_by_port(stack: Stack, port: int) -> str:
    rows = stack.rows("select uuid, url from host where removed is null")
    return next(r["uuid"] for r in rows if r["url"].endswith(f":{port}"))


def register(zone: Zone, name: str) -> tuple[str, str, str]:
    """Register a RAW image of random bytes as a template; return (id, origin path, sha256)."""
    data = bytearray(os.urandom(IMAGE_BYTES))
    data[:16] = bytes(16)  # never a compression format's magic bytes
    path = f"/{name}.raw"
    (zone.stack.workdir / "images" / path.lstrip("/")).write_bytes(data)
    zone.stack.origin.throttle_bps[path] = ORIGIN_BPS
    digest = hashlib.sha256(data).hexdigest()
    template = zone.stack.api.registerTemplate(
        name=name,
        displaytext=name,
        url=zone.stack.origin.url(path),
        format="RAW",
        hypervisor="KVM",
        zoneid=zone.stack.zone_id,
        directdownload=True,
        checksum=f"{{SHA-256}}{digest}",
        details={f"HTTP_HEADER:{HEADER[0]}": HEADER[1]},
    )["template"][0]
    return template["id"], path, digest


def start_prepare(zone: Zone, template_id: str, pool_index: int) -> str:
    details = zone.stack.api.prepareTemplate(
        templateid=template_id, zoneid=zone.stack.zone_id, storageid=zone.pools[pool_index]
    )["template"][0]["downloaddetails"]
    return str(next(d["jobid"] for d in details if d["datastoreid"] == zone.pools[pool_index]))


def prepare(zone: Zone, template_id: str, pool_index: int) -> dict[str, Any]:
    """Prepare the template on one host's pool; return that copy's downloaddetails."""
    (job,) = wait_jobs(zone.stack.api, [start_prepare(zone, template_id, pool_index)], 180)
    assert job["jobstatus"] == 1, job
    return details_on(zone, template_id, pool_index)


def details_on(zone: Zone, template_id: str, pool_index: int) -> dict[str, Any]:
    template = zone.stack.api.listTemplates(templatefilter="all", id=template_id)["template"][0]
    return next(
        d for d in template["downloaddetails"] if d["datastoreid"] == zone.pools[pool_index]
    )


def copy_digest(zone: Zone, details: dict[str, Any]) -> str:
    return hashlib.sha256(Path(details["installpath"]).read_bytes()).hexdigest()


def set_zone(zone: Zone, name: str, value: str) -> None:
    zone.stack.api.updateConfiguration(name=name, value=value, zoneid=zone.stack.zone_id)


def sources_events(zone: Zone, template_id: str) -> list[str]:
    events = zone.stack.api.listEvents(type="TEMPLATE.DIRECT.DOWNLOAD.SOURCES").get("event", [])
    return [e["description"] for e in events if template_id in e["description"]]


def test_one_origin_transfer_serves_the_later_hosts(zone: Zone) -> None:
    template_id, path, digest = register(zone, "shared-once")
    first = prepare(zone, template_id, 0)
    assert first["originbytes"] == IMAGE_BYTES and first["peerbytes"] == 0
    assert zone.stack.origin.bytes_sent(path) == IMAGE_BYTES

    for index in (1, 2):
        later = prepare(zone, template_id, index)
        assert later["downloadState"] == "DOWNLOADED"
        assert later["peerbytes"] == IMAGE_BYTES and later["originbytes"] == 0
        (source,) = later["sources"]
        assert source["kind"] == "peer" and source["outcome"] == "used"
        assert source["hostid"] in zone.hosts[:index]
        assert copy_digest(zone, later) == digest
    assert zone.stack.origin.bytes_sent(path) == IMAGE_BYTES
    described = sources_events(zone, template_id)
    assert len(described) == 2 and all("peer" in d for d in described)


def test_a_peer_serving_corrupted_bytes_is_skipped(zone: Zone) -> None:
    set_zone(zone, PEERS_MAX_SOURCES, "1")
    try:
        template_id, path, digest = register(zone, "corrupted-peer")
        first = prepare(zone, template_id, 0)
        on_disk = Path(first["installpath"])
        with on_disk.open("r+b") as f:  # same size, other bytes: only the hash can tell
            f.seek(IMAGE_BYTES // 2)
            f.write(b"\xff" * 4096)

        second = prepare(zone, template_id, 1)
        assert copy_digest(zone, second) == digest
        rejected, origin = second["sources"]
        assert rejected["kind"] == "peer" and rejected["outcome"] == "rejected"
        assert rejected["hostid"] == zone.hosts[0]
        assert "checksum mismatch" in rejected["message"]
        assert origin["kind"] == "origin" and origin["bytes"] == IMAGE_BYTES
        assert second["peerbytes"] == 0 and second["originbytes"] == IMAGE_BYTES
        assert zone.stack.origin.bytes_sent(path) == 2 * IMAGE_BYTES
    finally:
        set_zone(zone, PEERS_MAX_SOURCES, "3")


def test_with_peers_off_every_host_reads_the_origin(zone: Zone) -> None:
    set_zone(zone, PEERS_ENABLED, "false")
    try:
        template_id, path, digest = register(zone, "peers-off")
        for index in (0, 1):
            copy = prepare(zone, template_id, index)
            assert copy["originbytes"] == IMAGE_BYTES and copy["peerbytes"] == 0
            assert [s["kind"] for s in copy["sources"]] == ["origin"]
            assert copy_digest(zone, copy) == digest
        assert zone.stack.origin.bytes_sent(path) == 2 * IMAGE_BYTES
        assert sources_events(zone, template_id) == []
    finally:
        set_zone(zone, PEERS_ENABLED, "true")


def prepare_everywhere_at_once(zone: Zone, template_id: str) -> list[dict[str, Any]]:
    """Prepare the template on every host's pool at once; return each copy's downloaddetails."""
    jobs = [start_prepare(zone, template_id, index) for index in range(len(zone.pools))]
    for job in wait_jobs(zone.stack.api, jobs, 180):
        assert job["jobstatus"] == 1, job
    return [details_on(zone, template_id, index) for index in range(len(zone.pools))]


def test_hosts_needing_a_new_template_at_once_read_the_origin_once(zone: Zone) -> None:
    template_id, path, digest = register(zone, "fan-out")
    copies = prepare_everywhere_at_once(zone, template_id)

    assert zone.stack.origin.bytes_sent(path) == IMAGE_BYTES
    assert all(copy_digest(zone, copy) == digest for copy in copies)
    from_origin = [c for c in copies if c["originbytes"] == IMAGE_BYTES]
    assert len(from_origin) == 1 and from_origin[0]["peerbytes"] == 0
    first = zone.hosts[copies.index(from_origin[0])]
    from_peers = [c for c in copies if c is not from_origin[0]]
    for copy in from_peers:
        assert copy["peerbytes"] == IMAGE_BYTES and copy["originbytes"] == 0
        (source,) = copy["sources"]
        assert source["kind"] == "peer" and source["hostid"] == first


def test_with_peers_off_hosts_needing_a_template_at_once_each_read_the_origin(
    zone: Zone,
) -> None:
    set_zone(zone, PEERS_ENABLED, "false")
    try:
        template_id, path, digest = register(zone, "fan-out-peers-off")
        copies = prepare_everywhere_at_once(zone, template_id)
        assert zone.stack.origin.bytes_sent(path) == len(copies) * IMAGE_BYTES
        for copy in copies:
            assert copy["originbytes"] == IMAGE_BYTES and copy["peerbytes"] == 0
            assert copy_digest(zone, copy) == digest
    finally:
        set_zone(zone, PEERS_ENABLED, "true")


def test_a_peer_killed_mid_transfer_changes_nothing_for_the_result(zone: Zone) -> None:
    template_id, path, digest = register(zone, "peer-killed")
    prepare(zone, template_id, 0)
    # Only host 1 may serve, slowly, so the transfer is surely under way when it dies.
    set_zone(zone, PEERS_MAX_SOURCES, "1")
    set_zone(zone, PEER_MAX_RATE, "4")
    try:
        job_id = start_prepare(zone, template_id, 1)
        deadline = time.monotonic() + 60
        while (details_on(zone, template_id, 1).get("downloadedbytes") or 0) < IMAGE_BYTES // 4:
            assert time.monotonic() < deadline, "the peer transfer never got going"
            time.sleep(0.2)
        kill_and_restart(zone, 0)

        (job,) = wait_jobs(zone.stack.api, [job_id], 180)
        assert job["jobstatus"] == 1, job
        copy = details_on(zone, template_id, 1)
        assert copy_digest(zone, copy) == digest
        peer, origin = copy["sources"]
        assert peer["kind"] == "peer" and peer["outcome"] == "failed" and peer["bytes"] > 0
        assert origin["kind"] == "origin" and origin["outcome"] == "used"
        assert peer["bytes"] + origin["bytes"] == IMAGE_BYTES
        # The origin continued where the peer stopped.
        assert zone.stack.origin.bytes_sent(path) == IMAGE_BYTES + origin["bytes"]
    finally:
        set_zone(zone, PEERS_MAX_SOURCES, "3")
        set_zone(zone, PEER_MAX_RATE, "0")


def test_when_the_origin_cannot_continue_a_killed_peer_its_bytes_are_discarded(
    zone: Zone,
) -> None:
    # Host 2 holds the copy, host 3 receives it.
    template_id, path, digest = register(zone, "peer-killed-no-ranges")
    prepare(zone, template_id, 1)
    set_zone(zone, PEER_MAX_RATE, "4")
    zone.stack.origin.no_ranges = True
    try:
        job_id = start_prepare(zone, template_id, 2)
        deadline = time.monotonic() + 60
        while (details_on(zone, template_id, 2).get("downloadedbytes") or 0) < IMAGE_BYTES // 4:
            assert time.monotonic() < deadline, "the peer transfer never got going"
            time.sleep(0.2)
        kill_and_restart(zone, 1)

        (job,) = wait_jobs(zone.stack.api, [job_id], 180)
        assert job["jobstatus"] == 1, job
        copy = details_on(zone, template_id, 2)
        assert copy_digest(zone, copy) == digest
        peer, origin = copy["sources"]
        assert peer["hostid"] == zone.hosts[1] and peer["outcome"] == "discarded"
        assert origin["kind"] == "origin" and origin["bytes"] == IMAGE_BYTES
        assert copy["originbytes"] == IMAGE_BYTES and copy["peerbytes"] == 0
        assert zone.stack.origin.bytes_sent(path) == 2 * IMAGE_BYTES
    finally:
        zone.stack.origin.no_ranges = False
        set_zone(zone, PEER_MAX_RATE, "0")
