"""Direct download under faults (issue 6): real server, agents, origin, libvirt, a database.

One stack for the module per database: a kvmcloud-server on PostgreSQL, then on MariaDB
(the tests with ``sqlite_cloud`` on SQLite), two agents (two hosts of one
cluster) and ``pool1``, a SharedMountPoint pool both hosts see (one directory on this
machine). Each test provokes one fault and checks what can be observed from outside: what
the origin served, API results through the unmodified ``cs`` client, files on disk and rows
in the database. Every test ends with :func:`assert_pools_clean`: every file in every pool is
a Ready template copy whose bytes match its checksum, or a live volume, and
``.kvmcloud-partial/`` is empty.
"""

import secrets
import shutil
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cs import CloudStack, CloudStackApiException

from tests.e2e.conftest import HEADER, Stack, running_stack, wait_jobs
from tests.e2e.test_rbd_pool import BASE_SNAPSHOT, rbd, rbd_url, undefine_secrets
from tests.support.ceph import ceph_or_skip
from tests.support.images import make_boot_iso, make_qcow2, make_raw, sha256_of
from tests.support.libvirt import URI, domain_state, libvirt_or_skip
from tests.support.mariadb import MariaDBServer, mariadb_or_skip
from tests.support.nfs import HOST, nfs_or_skip
from tests.support.pool_audit import PARTIAL_DIR, assert_pools_clean, audit_pools
from tests.support.postgres import PostgresServer, postgres_or_skip
from tests.support.processes import ManagedProcess, free_port, start_agent, start_server
from tests.support.tmpfs import tmpfs_or_skip
from tests.support.trust import agent_token
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e]

CONCURRENT_DEPLOYS = 20


@dataclass
class Agent:
    """One agent process and what it takes to restart it as the same host."""

    port: int
    state_dir: Path
    log_path: Path
    env: dict[str, str]
    process: ManagedProcess
    host_id: str = ""


@dataclass
class Cloud:
    """The module's stack plus a second host on the same shared pool."""

    stack: Stack
    agents: list[Agent]
    offering_id: str
    instance_suffix: str
    images: Path
    second_servers: list[ManagedProcess] = field(default_factory=list)

    @property
    def api(self) -> CloudStack:
        return self.stack.api

    @property
    def image_bytes(self) -> int:
        """Size of the stack's tiny qcow2, which every test serves copies of."""
        return (self.images / "tiny.qcow2").stat().st_size

    def host_db_id(self, agent: Agent) -> int:
        return int(self.stack.rows("select id from host where uuid = :u", u=agent.host_id)[0]["id"])

    def publish(self, name: str, source: Path | None = None) -> tuple[str, str]:
        """Serve a copy of ``source`` (the stack's tiny qcow2) as ``/name``; return path, sha256."""
        target = self.images / name
        shutil.copyfile(source or self.images / "tiny.qcow2", target)
        return f"/{name}", sha256_of(target)

    def restart_agent(self, index: int) -> None:
        agent = self.agents[index]
        agent.process.stop()
        agent.process = start_agent(agent.port, agent.state_dir, agent.log_path, agent.env)
        if index == 0:
            self.stack.agent = agent.process  # running_stack stops the current one

    def wait_hosts_up(self, timeout_s: float = 60.0) -> None:
        assert wait_until(
            lambda: all(
                self.api.listHosts(id=a.host_id)["host"][0]["state"] == "Up" for a in self.agents
            ),
            timeout_s=timeout_s,
            interval_s=0.3,
        ), f"timed out after {timeout_s} s waiting for every host Up"


def register(
    cloud: Cloud, name: str, path: str, sha256: str, *, image_format: str = "QCOW2"
) -> str:
    template = cloud.api.registerTemplate(
        name=name,
        displaytext=name,
        url=cloud.stack.origin.url(path),
        format=image_format,
        hypervisor="KVM",
        zoneid=cloud.stack.zone_id,
        directdownload=True,
        checksum=f"{{SHA-256}}{sha256}",
        details={f"HTTP_HEADER:{HEADER[0]}": HEADER[1]},
    )["template"][0]
    return str(template["id"])


def prepare_async(cloud: Cloud, template_id: str, pool_id: str) -> str:
    details = cloud.api.prepareTemplate(
        templateid=template_id, zoneid=cloud.stack.zone_id, storageid=pool_id
    )["template"][0]["downloaddetails"]
    return next(str(d["jobid"]) for d in details if d["datastoreid"] == pool_id)


def prepare(cloud: Cloud, template_id: str, pool_id: str | None = None) -> dict[str, Any]:
    job_id = prepare_async(cloud, template_id, pool_id or cloud.stack.pool_id)
    return wait_jobs(cloud.api, [job_id])[0]


def pool_copies(cloud: Cloud, template_id: str) -> list[dict[str, Any]]:
    return cloud.stack.rows(
        "select r.pool_id, r.download_state, r.state, r.install_path, r.error_str, r.host_id "
        "from template_spool_ref r join vm_template t on t.id = r.template_id "
        "where t.uuid = :id",
        id=template_id,
    )


def failure_events(cloud: Cloud, template_id: str, *, iso: bool = False) -> list[dict[str, Any]]:
    """The TEMPLATE (or ISO) .DIRECT.DOWNLOAD.FAILURE events about one template, via cs."""
    found = cloud.api.listEvents(
        type=f"{'ISO' if iso else 'TEMPLATE'}.DIRECT.DOWNLOAD.FAILURE",
        resourcetype="Iso" if iso else "Template",
        resourceid=template_id,
    )
    events: list[dict[str, Any]] = found.get("event", [])
    return events


def assert_one_failure_event(
    cloud: Cloud, template_id: str, *words: str, iso: bool = False
) -> None:
    """Exactly one ERROR failure event for the template, naming ``words`` (case-insensitive)."""
    events = failure_events(cloud, template_id, iso=iso)
    assert len(events) == 1, events
    assert events[0]["level"] == "ERROR", events[0]
    description = events[0]["description"].lower()
    missing = [w for w in words if w.lower() not in description]
    assert not missing, f"{missing} not in the event: {events[0]['description']}"


def partial_files(pool_path: Path) -> list[Path]:
    partial = pool_path / PARTIAL_DIR
    return sorted(p for p in partial.rglob("*") if p.is_file()) if partial.is_dir() else []


def destroy_vms(cloud: Cloud, vm_ids: list[str]) -> None:
    """Destroy and expunge VMs, all at once; their domains must be gone from libvirt."""
    if not vm_ids:
        return
    jobs = [
        cloud.api.destroyVirtualMachine(id=vm_id, expunge=True, fetch_result=False)["jobid"]
        for vm_id in vm_ids
    ]
    failed = [j for j in wait_jobs(cloud.api, jobs) if j["jobstatus"] != 1]
    assert not failed, f"destroying VMs failed: {failed}"


def cloud_vms(cloud: Cloud, deployed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The deployed VMs' instance names, read from the database (expunged VMs are not listed)."""
    ids = {d["id"] for d in deployed}
    rows = cloud.stack.rows("select uuid, instance_name from vm_instance")
    return [{"instancename": r["instance_name"]} for r in rows if r["uuid"] in ids]


def remove_leftover_domains(suffix: str) -> list[str]:
    """Destroy and undefine this run's domains still in libvirt (a failed test's); return them."""
    import libvirt

    libvirt.registerErrorHandler(lambda context, error: None, None)
    connection = libvirt.open(URI)
    leaked = []
    try:
        for domain in connection.listAllDomains():
            if domain.name().endswith(f"-{suffix}"):
                leaked.append(domain.name())
                if domain.isActive():
                    domain.destroy()
                domain.undefine()
    finally:
        connection.close()
    return leaked


# --- fixtures ---------------------------------------------------------------------------------


# Instance-name suffixes of the clouds this module built: their leftover domains are removed.
SUFFIXES: list[str] = []


@contextmanager
def fault_cloud(database_url: str, workdir: Path) -> Iterator[Cloud]:
    """Build the module's stack on ``database_url`` and add the second host to its cluster."""
    first_env = {
        "KVMCLOUD_AGENT_CONSOLE_DIR": str(workdir / "consoles"),
        "KVMCLOUD_AGENT_CERT_DIR": str(workdir / "certs-1"),
    }
    with running_stack(database_url, workdir, first_env) as stack:
        api = stack.api
        suffix = f"flt-{secrets.token_hex(3)}"
        SUFFIXES.append(suffix)
        # Domain names must not collide with another run's on this host's libvirt.
        api.updateConfiguration(name="instance.name", value=suffix)
        offering = api.createServiceOffering(
            name="fault-tiny", displaytext="fault-tiny", cpunumber=1, cpuspeed=500, memory=64
        )["serviceoffering"]
        first = Agent(
            port=stack.agent_port,
            state_dir=workdir / "agent-state",
            log_path=workdir / "agent.log",
            env=first_env,
            process=stack.agent,
            host_id=stack.host_id,
        )
        second_env = first_env | {"KVMCLOUD_AGENT_CERT_DIR": str(workdir / "certs-2")}
        port = free_port()
        second = Agent(
            port=port,
            state_dir=workdir / "agent2-state",
            log_path=workdir / "agent2.log",
            env=second_env,
            process=start_agent(port, workdir / "agent2-state", workdir / "agent2.log", second_env),
        )
        cloud: Cloud | None = None
        try:
            cluster = api.listClusters()["cluster"][0]
            second.host_id = api.addHost(
                zoneid=stack.zone_id,
                podid=cluster["podid"],
                clusterid=cluster["id"],
                hypervisor="KVM",
                url=f"http://127.0.0.1:{second.port}",
                username="root",
                password=agent_token(second.state_dir),
            )["host"][0]["id"]
            cloud = Cloud(
                stack=stack,
                agents=[first, second],
                offering_id=offering["id"],
                instance_suffix=suffix,
                images=workdir / "images",
            )
            yield cloud
        finally:
            for process in [second.process] + (cloud.second_servers if cloud else []):
                try:
                    process.stop()
                except Exception as exc:
                    print(f"could not stop {process.name}: {exc}")


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def cloud(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cloud]:
    """The module's cloud on PostgreSQL, then on MariaDB (several management servers need one)."""
    workdir = tmp_path_factory.mktemp(f"e2e-faults-{request.param}")
    server: PostgresServer | MariaDBServer
    if request.param == "mariadb":
        server = MariaDBServer(database="kvmcloud_faults")
        running = mariadb_or_skip(server)
    else:
        server = PostgresServer(database="kvmcloud_faults")
        running = postgres_or_skip(server)
    with running, fault_cloud(server.url, workdir) as built:
        yield built


@pytest.fixture(scope="module")
def sqlite_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """The same cloud on SQLite, the single-server default."""
    workdir = tmp_path_factory.mktemp("e2e-faults-sqlite")
    with fault_cloud(f"sqlite:///{workdir}/kvmcloud.db", workdir) as built:
        yield built


@pytest.fixture(scope="module")
def vm_host() -> Iterator[None]:
    """libvirt for tests that boot VMs; any domain of this module's clouds left is removed."""
    with libvirt_or_skip():
        try:
            yield
        finally:
            for suffix in SUFFIXES:
                leaked = remove_leftover_domains(suffix)
                if leaked:
                    print(f"removed leftover domains: {leaked}")


@pytest.fixture(autouse=True)
def _hosts_up_and_pools_clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts with both hosts Up and ends with clean pools (of each cloud it uses)."""
    clouds: list[Cloud] = [
        request.getfixturevalue(name)
        for name in ("cloud", "sqlite_cloud")
        if name in request.fixturenames
    ]
    for each in clouds:
        each.wait_hosts_up()
    yield
    for each in clouds:
        assert_pools_clean(each.stack.rows)


# --- tests -----------------------------------------------------------------------------------


@dataclass
class Burst:
    """Deploy calls sent together: the answers (VM id and job id) and the calls refused."""

    answers: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def deploy_burst(
    cloud: Cloud,
    template_id: str,
    burst: Burst,
    *,
    simultaneous: bool,
    endpoints: list[str] | None = None,
) -> None:
    """Send CONCURRENT_DEPLOYS deployVirtualMachine calls; fill ``burst`` as they answer.

    ``simultaneous``: from as many threads, released at once by a barrier (clients racing in
    the API); otherwise one after the other without waiting for the jobs, which then race
    in the job runners. ``endpoints`` (default: the stack's server) are used in turn.
    """
    targets = endpoints or [cloud.stack.endpoint]
    barrier = threading.Barrier(CONCURRENT_DEPLOYS)
    lock = threading.Lock()

    def deploy(index: int) -> None:
        api = CloudStack(
            endpoint=targets[index % len(targets)],
            key=cloud.stack.keys.api_key,
            secret=cloud.stack.keys.secret_key,
        )
        if simultaneous:
            barrier.wait(timeout=60)
        try:
            answer = api.deployVirtualMachine(
                zoneid=cloud.stack.zone_id,
                templateid=template_id,
                serviceofferingid=cloud.offering_id,
                name=f"burst-{index}",
            )
        except CloudStackApiException as exc:
            with lock:
                burst.refused.append(f"call {index}: {exc.error}")
            return
        with lock:
            burst.answers.append(answer)

    if not simultaneous:
        for index in range(CONCURRENT_DEPLOYS):
            deploy(index)
        return
    with ThreadPoolExecutor(max_workers=CONCURRENT_DEPLOYS) as pool:
        list(pool.map(deploy, range(CONCURRENT_DEPLOYS)))


def check_burst(
    cloud: Cloud, template_id: str, path: str, sha256: str, burst: Burst, gets: int
) -> None:
    """All VMs Running in libvirt, one transfer from the origin, one Ready copy on pool1."""
    stack = cloud.stack
    assert not burst.refused, f"{len(burst.refused)} deploy calls refused: {burst.refused[:3]}"
    jobs = wait_jobs(cloud.api, [a["jobid"] for a in burst.answers], timeout_s=240)
    failed = [j["jobresult"] for j in jobs if j["jobstatus"] != 1]
    assert not failed, f"{len(failed)} of {len(jobs)} deploys failed: {failed[:3]}"
    vms = [j["jobresult"]["virtualmachine"] for j in jobs]
    assert len(vms) == CONCURRENT_DEPLOYS
    assert [vm["state"] for vm in vms] == ["Running"] * len(vms)
    assert all(domain_state(vm["instancename"]) == "running" for vm in vms)
    assert stack.origin.get_requests(path) - gets == 1  # one GET in all, and it was served
    copies = pool_copies(cloud, template_id)
    assert len(copies) == 1, copies
    assert (copies[0]["download_state"], copies[0]["state"]) == ("DOWNLOADED", "Ready")
    assert sha256_of(Path(copies[0]["install_path"])) == sha256
    # Every root disk is on pool1, backed by that one copy.
    volumes = stack.rows(
        "select v.state, p.path as pool_path from volumes v join storage_pool p "
        "on p.id = v.pool_id join vm_template t on t.id = v.template_id "
        "where t.uuid = :id and v.removed is null",
        id=template_id,
    )
    assert [(v["state"], v["pool_path"]) for v in volumes] == [
        ("Ready", str(stack.pool_path))
    ] * len(vms)
    # No runner ran a job whose outcome was already recorded (nothing was taken over here,
    # so that warning can only mean a job claimed twice).
    for server in [stack.server, *cloud.second_servers]:
        log = server.log_path.read_text(errors="replace")
        assert "its outcome here" not in log, f"{server.log_path.name}: a job ran twice"


def end_burst(cloud: Cloud, burst: Burst) -> None:
    """Let the deploy jobs end (whatever their outcome), then destroy and expunge every VM."""
    vm_ids = [a["id"] for a in burst.answers]
    wait_jobs(cloud.api, [a["jobid"] for a in burst.answers], timeout_s=240)
    destroy_vms(cloud, vm_ids)
    names = [vm["instancename"] for vm in cloud_vms(cloud, burst.answers)]
    assert [n for n in names if domain_state(n) is not None] == []


@contextmanager
def only_pool(cloud: Cloud, pool_id: str) -> Iterator[None]:
    """Let only pool ``pool_id`` take disks; delete it (forced) afterwards."""
    api, stack = cloud.api, cloud.stack
    api.updateStoragePool(id=stack.pool_id, enabled=False)
    try:
        yield
    finally:
        api.updateStoragePool(id=stack.pool_id, enabled=True)
        # Gone before its server stops: the pools are audited after every test.
        api.enableStorageMaintenance(id=pool_id)
        api.deleteStoragePool(id=pool_id, forced=True)


@contextmanager
def storm_on_shared_pool(
    cloud: Cloud, template_id: str, path: str, pool_name: str
) -> Iterator[dict[str, Any]]:
    """20 simultaneous deploys onto the shared pool ``pool_name``, from both hosts.

    One transfer at the origin, one Ready copy for the pool, every root disk on it, VMs on
    both hosts. Yields that copy while the VMs exist; they are expunged afterwards.
    """
    api, stack = cloud.api, cloud.stack
    origin = stack.origin
    gets = origin.get_requests(path)
    burst = Burst()
    try:
        deploy_burst(cloud, template_id, burst, simultaneous=True)
        assert not burst.refused, f"{len(burst.refused)} refused: {burst.refused[:3]}"
        jobs = wait_jobs(api, [a["jobid"] for a in burst.answers], timeout_s=300)
        failed = [j["jobresult"] for j in jobs if j["jobstatus"] != 1]
        assert not failed, f"{len(failed)} of {len(jobs)} deploys failed: {failed[:3]}"
        vms = [j["jobresult"]["virtualmachine"] for j in jobs]
        assert len(vms) == CONCURRENT_DEPLOYS
        assert all(domain_state(vm["instancename"]) == "running" for vm in vms)
        assert {vm["hostid"] for vm in vms} == {a.host_id for a in cloud.agents}
        # One GET at the real origin, for two hosts and twenty VMs.
        assert origin.get_requests(path) - gets == 1
        (copy,) = pool_copies(cloud, template_id)
        assert (copy["download_state"], copy["state"]) == ("DOWNLOADED", "Ready")
        volumes = stack.rows(
            "select v.state, p.name from volumes v join storage_pool p "
            "on p.id = v.pool_id join vm_template t on t.id = v.template_id "
            "where t.uuid = :id and v.removed is null",
            id=template_id,
        )
        assert [(v["state"], v["name"]) for v in volumes] == [
            ("Ready", pool_name)
        ] * CONCURRENT_DEPLOYS
        yield copy
    finally:
        end_burst(cloud, burst)


def run_burst(
    cloud: Cloud, name: str, *, simultaneous: bool, endpoints: list[str] | None = None
) -> None:
    """Deploy CONCURRENT_DEPLOYS VMs of one uncached template on pool1; check; clean up."""
    path, sha256 = cloud.publish(f"{name}.qcow2")
    template_id = register(cloud, name, path, sha256)
    origin = cloud.stack.origin
    gets = origin.get_requests(path)
    # About two seconds of transfer: deploys keep arriving while it runs.
    origin.throttle_bps[path] = cloud.image_bytes // 2
    burst = Burst()
    try:
        deploy_burst(cloud, template_id, burst, simultaneous=simultaneous, endpoints=endpoints)
        check_burst(cloud, template_id, path, sha256, burst, gets)
    finally:
        end_burst(cloud, burst)


@pytest.mark.timeout(420)
def test_twenty_simultaneous_deploy_calls_transfer_the_image_once(
    cloud: Cloud, vm_host: None
) -> None:
    """20 clients call deployVirtualMachine at the same moment: all accepted, one transfer.

    The calls race for guest addresses in the API and their jobs race for the download in
    the job runners.
    """
    run_burst(cloud, "api-burst", simultaneous=True)


@pytest.mark.timeout(420)
def test_twenty_queued_deploys_on_sqlite_transfer_the_image_once(
    sqlite_cloud: Cloud, vm_host: None
) -> None:
    """The same on SQLite, where writers queue for the database lock instead."""
    run_burst(sqlite_cloud, "queued-burst", simultaneous=False)


@pytest.mark.timeout(480)
def test_twenty_deploys_onto_an_nfs_pool_of_two_hosts_transfer_the_image_once(
    cloud: Cloud, vm_host: None
) -> None:
    """The storm on a NetworkFilesystem pool both hosts of the cluster share (user space).

    20 simultaneous deploys, the origin serves one transfer, one copy for the pool, every
    root disk on the export, VMs on both hosts.
    """
    api, stack = cloud.api, cloud.stack
    with nfs_or_skip() as nfs:
        cluster = api.listClusters()["cluster"][0]
        export = nfs.writable_subdir("storm")
        pool = api.createStoragePool(
            name="nfs-storm",
            zoneid=stack.zone_id,
            clusterid=cluster["id"],
            url=nfs.pool_url(export),
        )["storagepool"]
        with only_pool(cloud, pool["id"]):
            path, sha256 = cloud.publish("nfs-burst.qcow2")
            template_id = register(cloud, "nfs-burst", path, sha256)
            stack.origin.throttle_bps[path] = cloud.image_bytes // 2
            with storm_on_shared_pool(cloud, template_id, path, "nfs-storm") as copy:
                install_path = str(copy["install_path"])
                assert install_path.startswith(f"nfs://{HOST}{export}/")
                assert sha256_of(export / install_path.rsplit("/", 1)[-1]) == sha256


@pytest.mark.timeout(120)
def test_a_500_from_the_origin_on_the_first_host_is_retried_on_the_second(cloud: Cloud) -> None:
    path, sha256 = cloud.publish("first-500.qcow2")
    template_id = register(cloud, "first-500", path, sha256)
    origin = cloud.stack.origin
    gets, served = origin.get_requests(path), origin.get_count(path)
    origin.fail_first[path] = (500, 1)
    job = prepare(cloud, template_id)
    assert job["jobstatus"] == 1, job
    assert origin.get_requests(path) - gets == 2  # the 500, then the transfer
    assert origin.get_count(path) - served == 1
    assert path not in origin.fail_first
    (copy,) = pool_copies(cloud, template_id)
    assert (copy["download_state"], copy["state"]) == ("DOWNLOADED", "Ready")
    # Hosts are tried by id when no VM prefers one: the first host met the 500.
    assert copy["host_id"] == cloud.host_db_id(cloud.agents[1])
    assert sha256_of(Path(copy["install_path"])) == sha256
    assert failure_events(cloud, template_id) == []  # it did not fail in the end


@pytest.mark.timeout(120)
def test_a_404_stops_after_one_attempt_and_names_the_reason(cloud: Cloud) -> None:
    path, sha256 = cloud.publish("gone-404.qcow2")
    template_id = register(cloud, "gone-404", path, sha256)
    origin = cloud.stack.origin
    gets = origin.get_requests(path)
    origin.statuses[path] = 404
    try:
        job = prepare(cloud, template_id)
    finally:
        del origin.statuses[path]
    assert job["jobstatus"] == 2, job
    text = job["jobresult"]["errortext"]
    assert "404" in text and "gone-404" in text and "pool1" in text, text
    assert "tried" not in text, text  # one host only: another could not have helped
    assert origin.get_requests(path) - gets == 1
    (copy,) = pool_copies(cloud, template_id)
    assert copy["download_state"] == "DOWNLOAD_ERROR" and "404" in copy["error_str"]
    assert copy["install_path"] is None
    assert_one_failure_event(cloud, template_id, "gone-404", "pool1", "after 1 attempt", "404")


@pytest.mark.timeout(120)
def test_an_iso_that_is_gone_fails_once_with_an_iso_event(cloud: Cloud) -> None:
    make_boot_iso(cloud.stack.workdir / "gone.iso")
    path, sha256 = cloud.publish("gone.iso", cloud.stack.workdir / "gone.iso")
    origin = cloud.stack.origin
    iso_id = cloud.api.registerIso(
        name="gone-iso",
        displaytext="gone-iso",
        url=origin.url(path),
        zoneid=cloud.stack.zone_id,
        directdownload=True,
        checksum=f"{{SHA-256}}{sha256}",
        details={f"HTTP_HEADER:{HEADER[0]}": HEADER[1]},
    )["iso"][0]["id"]
    gets = origin.get_requests(path)
    origin.statuses[path] = 410
    try:
        job = prepare(cloud, iso_id)
    finally:
        del origin.statuses[path]
    assert job["jobstatus"] == 2 and "410" in job["jobresult"]["errortext"], job
    assert origin.get_requests(path) - gets == 1
    assert_one_failure_event(cloud, iso_id, "ISO gone-iso", "pool1", "410", iso=True)
    assert failure_events(cloud, iso_id) == []  # an ISO's failure is not a template's


@pytest.mark.timeout(120)
def test_a_checksum_mismatch_fails_the_deploy_and_leaves_no_file(cloud: Cloud) -> None:
    path, sha256 = cloud.publish("changed.qcow2")
    template_id = register(cloud, "changed", path, sha256)
    # The origin's file changes after registration: same name, other bytes.
    make_qcow2(cloud.images / "changed.qcow2", size_bytes=2 * 1024 * 1024)
    assert sha256_of(cloud.images / "changed.qcow2") != sha256
    origin, pool_path = cloud.stack.origin, cloud.stack.pool_path
    gets = origin.get_requests(path)
    origin.throttle_bps[path] = cloud.image_bytes // 4  # four seconds of transfer
    files_before = cloud.stack.pool_files()
    deployed = cloud.api.deployVirtualMachine(
        zoneid=cloud.stack.zone_id,
        templateid=template_id,
        serviceofferingid=cloud.offering_id,
        name="changed",
        fetch_result=False,
    )
    try:
        # The download writes a temporary file while the bytes come in (and the audit that
        # ends every test sees it, and the copy in progress)...
        origin.wait_for_bytes(path, 1, timeout_s=60)
        assert wait_until(lambda: bool(partial_files(pool_path)), timeout_s=30, interval_s=0.3), (
            "timed out after 30 s waiting for a partial file in pool1"
        )
        seen = " ".join(str(problem) for problem in audit_pools(cloud.stack.rows))
        assert "partial file left behind" in seen and "DOWNLOAD_IN_PROGRESS" in seen, seen
        (job,) = wait_jobs(cloud.api, [deployed["jobid"]])
        assert job["jobstatus"] == 2, job
        text = job["jobresult"]["errortext"]
        assert "checksum" in text.lower() and "changed" in text and "pool1" in text, text
        assert origin.get_requests(path) - gets == 1  # final: no other host tries
        vm = cloud.api.listVirtualMachines(id=deployed["id"])["virtualmachine"][0]
        assert vm["state"] == "Error" and "checksum" in vm["lasterror"].lower()
        (copy,) = pool_copies(cloud, template_id)
        assert copy["download_state"] == "DOWNLOAD_ERROR" and copy["install_path"] is None
        # ... and nothing of it is left: not published, no temporary file.
        assert partial_files(pool_path) == []
        assert cloud.stack.pool_files() == files_before
        assert_one_failure_event(cloud, template_id, "changed", "pool1", "checksum")
    finally:
        destroy_vms(cloud, [deployed["id"]])


@pytest.mark.timeout(420)
def test_twenty_deploys_through_two_management_servers_transfer_the_image_once(
    cloud: Cloud, vm_host: None
) -> None:
    """Two kvmcloud-server processes on one PostgreSQL database share the 20 deploys."""
    stack = cloud.stack
    log_path = stack.workdir / "server-2.log"
    second = start_server(stack.database_url, free_port(), log_path, stack.config_dir)
    cloud.second_servers.append(second)
    second_endpoint = f"http://127.0.0.1:{second.env['KVMCLOUD_LISTEN_PORT']}/client/api"
    try:
        servers = cloud.api.listManagementServers()["managementserver"]
        assert [s["state"] for s in servers].count("Up") == 2, servers
        run_burst(
            cloud, "two-servers", simultaneous=False, endpoints=[stack.endpoint, second_endpoint]
        )
        # Both servers ran deploy jobs (each logs the VMs it started).
        names = [r["instance_name"] for r in stack.rows("select instance_name from vm_instance")]
        for log in (stack.workdir / "server.log", log_path):
            text = log.read_text(errors="replace")
            assert any(name in text for name in names), f"{log.name} ran no deploy"
    finally:
        second.stop()
    # A clean stop (SIGTERM): the server marked itself Down.
    port = second.env["KVMCLOUD_LISTEN_PORT"]
    runs = cloud.api.listManagementServers()["managementserver"]
    assert [r["state"] for r in runs if r["name"].endswith(f":{port}")] == ["Down"], runs


@pytest.mark.timeout(180)
def test_an_agent_killed_mid_download_is_replaced_and_cleans_up_after_restart(
    cloud: Cloud,
) -> None:
    path, sha256 = cloud.publish("agent-kill.qcow2")
    template_id = register(cloud, "agent-kill", path, sha256)
    origin, pool_path = cloud.stack.origin, cloud.stack.pool_path
    served = origin.get_count(path)
    origin.throttle_bps[path] = cloud.image_bytes // 4  # four seconds per transfer
    job_id = prepare_async(cloud, template_id, cloud.stack.pool_id)
    # Hosts are tried by id: the first host is downloading. Kill it in the middle.
    origin.wait_for_bytes(path, cloud.image_bytes // 8, timeout_s=60)
    assert wait_until(lambda: bool(partial_files(pool_path)), timeout_s=30, interval_s=0.3), (
        "timed out after 30 s waiting for a partial file in pool1"
    )
    (stale,) = partial_files(pool_path)
    cloud.agents[0].process.stop(signal.SIGKILL)
    (job,) = wait_jobs(cloud.api, [job_id])
    assert job["jobstatus"] == 1, job
    (copy,) = pool_copies(cloud, template_id)
    assert copy["host_id"] == cloud.host_db_id(cloud.agents[1])
    assert sha256_of(Path(copy["install_path"])) == sha256
    assert origin.get_count(path) - served == 2  # the broken transfer, then a whole one
    assert failure_events(cloud, template_id) == []
    # The dead agent's partial file is still there: the other host leaves it alone...
    assert stale.exists()
    # ... and the agent removes it when it starts again.
    cloud.restart_agent(0)
    assert wait_until(lambda: not stale.exists(), timeout_s=30, interval_s=0.3), (
        f"timed out after 30 s waiting for the restarted agent to remove {stale.name}"
    )


@pytest.mark.timeout(240)
def test_a_server_killed_mid_download_ends_the_job_clearly_after_restart(cloud: Cloud) -> None:
    stack = cloud.stack
    path, sha256 = cloud.publish("server-kill.qcow2")
    template_id = register(cloud, "server-kill", path, sha256)
    origin = stack.origin
    served = origin.get_count(path)
    origin.throttle_bps[path] = cloud.image_bytes // 4  # four seconds per transfer
    job_id = prepare_async(cloud, template_id, stack.pool_id)
    origin.wait_for_bytes(path, cloud.image_bytes // 8, timeout_s=60)
    stack.server.stop(signal.SIGKILL)
    port = int(stack.server.env["KVMCLOUD_LISTEN_PORT"])
    # Same ports: the agents heartbeat to the agent listener they were enrolled with.
    agents_port = int(stack.server.env["KVMCLOUD_AGENTS_PORT"])
    stack.server = start_server(
        stack.database_url, port, stack.workdir / "server.log", stack.config_dir, agents_port
    )
    (job,) = wait_jobs(cloud.api, [job_id], timeout_s=180)
    (copy,) = pool_copies(cloud, template_id)
    if job["jobstatus"] == 1:
        # Resumed: the job re-sent its command and the agent's transfer went on.
        assert (copy["download_state"], copy["state"]) == ("DOWNLOADED", "Ready")
        assert sha256_of(Path(copy["install_path"])) == sha256
        assert origin.get_count(path) - served == 1
    else:
        text = job["jobresult"]["errortext"]
        assert "management server" in text.lower(), text
        assert copy["download_state"] == "DOWNLOAD_ERROR" and copy["error_str"], copy
    # Whatever the outcome, the agent's transfer ends and leaves no partial file.
    assert wait_until(lambda: not partial_files(stack.pool_path), timeout_s=60, interval_s=0.3), (
        "timed out after 60 s waiting for no partial file in pool1"
    )


@pytest.mark.timeout(180)
def test_a_pool_filled_to_the_brim_fails_clearly_and_keeps_nothing(cloud: Cloud) -> None:
    """Last in the module: the small pool stays in the zone (there is no deleteStoragePool)."""
    stack, origin = cloud.stack, cloud.stack.origin
    small = stack.workdir / "small-pool"
    with tmpfs_or_skip(small, size_bytes=512 * 1024) as mount:
        cluster = cloud.api.listClusters()["cluster"][0]
        pool_id = cloud.api.createStoragePool(
            name="small",
            zoneid=stack.zone_id,
            clusterid=cluster["id"],
            url=f"SharedMountPoint://localhost{small}",
        )["storagepool"]["id"]
        template_ids: list[str] = []
        try:
            # An image bigger than the whole pool: refused before a byte is written.
            make_raw(stack.workdir / "big.raw", size_bytes=1024 * 1024)
            big = cloud.publish("big.raw", stack.workdir / "big.raw")
            template_ids.append(register(cloud, "big", *big, image_format="RAW"))
            gets = origin.get_requests(big[0])
            job = prepare(cloud, template_ids[-1], pool_id)
            assert job["jobstatus"] == 2, job
            text = job["jobresult"]["errortext"]
            assert "big" in text and "small" in text and "bytes available" in text, text
            assert origin.get_requests(big[0]) - gets == 1  # a full pool is full for all hosts
            assert [p.name for p in small.iterdir() if p.name != PARTIAL_DIR] == []
            assert partial_files(small) == []
            assert_one_failure_event(cloud, template_ids[-1], "big", "small", "bytes available")

            # Two images that each fit, downloaded together: the pool fills up to the brim
            # and one of them cannot be written. It fails; the other is published intact.
            # (One transfer takes 1 s, the other 3 s: they never write at the same moment.)
            images = [cloud.publish(f"half-{n}.qcow2") for n in (1, 2)]
            for n, (path, sha256) in enumerate(images, 1):
                template_ids.append(register(cloud, f"half-{n}", path, sha256))
                origin.throttle_bps[path] = cloud.image_bytes // (2 * n - 1)
            assert 2 * cloud.image_bytes > mount.available_bytes() > cloud.image_bytes
            gets = sum(origin.get_requests(path) for path, _ in images)
            jobs = wait_jobs(
                cloud.api, [prepare_async(cloud, t, pool_id) for t in template_ids[1:]]
            )
            assert sorted(j["jobstatus"] for j in jobs) == [1, 2], jobs
            failed = next(j for j in jobs if j["jobstatus"] == 2)["jobresult"]["errortext"]
            assert "small" in failed and ("space" in failed or "bytes available" in failed), failed
            assert sum(origin.get_requests(path) for path, _ in images) - gets == 2
            states = sorted(
                c["download_state"] for t in template_ids[1:] for c in pool_copies(cloud, t)
            )
            assert states == ["DOWNLOADED", "DOWNLOAD_ERROR"]
            assert sorted(len(failure_events(cloud, t)) for t in template_ids[1:]) == [0, 1]
            assert partial_files(small) == []
            assert_pools_clean(stack.rows)
        finally:
            # Delete the templates: their copy goes from the small pool before it is unmounted.
            for template_id in template_ids:
                cloud.api.deleteTemplate(id=template_id)
            assert wait_until(
                lambda: not [p for p in small.iterdir() if p.name != PARTIAL_DIR],
                timeout_s=30,
                interval_s=0.3,
            ), "timed out after 30 s waiting for the small pool to be emptied"


@pytest.mark.timeout(480)
def test_twenty_deploys_onto_an_rbd_pool_of_two_hosts_transfer_the_image_once(
    cloud: Cloud, vm_host: None
) -> None:
    """The storm on an RBD pool both hosts of the cluster share.

    A raw template, so the download streams into ``rbd import``: 20 simultaneous deploys,
    the origin serves one transfer, one image for the pool, every root disk a clone of its
    protected snapshot, VMs on both hosts; expunging removes every clone, and deleting the
    pool (forced) removes the template's image.
    """
    api, stack = cloud.api, cloud.stack
    with ceph_or_skip() as ceph:
        ceph.admin("ceph", "osd", "pool", "set-quota", ceph.pool, "max_bytes", str(1024**3))
        cluster = api.listClusters()["cluster"][0]
        pool = api.createStoragePool(
            name="rbd-storm", zoneid=stack.zone_id, clusterid=cluster["id"], url=rbd_url(ceph)
        )["storagepool"]
        try:
            with only_pool(cloud, pool["id"]):
                source = cloud.images / "rbd-burst-source.raw"
                make_raw(source)
                path, sha256 = cloud.publish("rbd-burst.raw", source)
                template_id = register(cloud, "rbd-burst", path, sha256, image_format="RAW")
                # About two seconds of transfer: deploys keep arriving while it runs.
                stack.origin.throttle_bps[path] = source.stat().st_size // 2
                with storm_on_shared_pool(cloud, template_id, path, "rbd-storm") as copy:
                    image = str(copy["install_path"])
                    assert image in rbd(ceph, "ls", ceph.pool)
                    clones = rbd(ceph, "children", f"{ceph.pool}/{image}@{BASE_SNAPSHOT}")
                    assert len(clones) == CONCURRENT_DEPLOYS, clones
                assert rbd(ceph, "children", f"{ceph.pool}/{image}@{BASE_SNAPSHOT}") == []
                assert rbd(ceph, "ls", ceph.pool) == [image]
        finally:
            undefine_secrets()
        assert rbd(ceph, "ls", ceph.pool) == []
