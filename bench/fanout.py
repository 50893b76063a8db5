"""make bench, fan-out section (issue 19): N agents on host-local pools need one new template.

A zone of its own (server, N agents, one host-local Filesystem pool per host) behind the
bench's throttled origin (its slow port, 50 MB/s per connection, standing in for a WAN
mirror). Measured side by side in one run, each case with a template no pool holds yet:

* one agent's download from the origin, then one more host's download from that peer alone;
* all N pools prepared at once with peers on (fan-out: one origin transfer, then peers);
* the same with peers off (each host reads the origin);
* ``aria2c`` fetching the file from the origin N times at once (the naive baseline).
"""

import concurrent.futures
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cs import CloudStack
from sqlalchemy import create_engine, text
from tests.support.egress import ALLOW_SETTING, LOOPBACK
from tests.support.processes import (
    ManagedProcess,
    free_port,
    init_server,
    start_agent,
    start_server,
)
from tests.support.trust import agent_token

from bench.origins import Origin

PEERS_ENABLED = "kvmcloud.direct.download.peers.enabled"
TIMEOUT_S = 900.0


@dataclass
class FanOutZone:
    """The section's own server and agents, one host-local pool per host (in host order)."""

    api: CloudStack
    server: ManagedProcess
    agents: list[ManagedProcess]
    zone_id: str
    pools: list[str]
    pool_paths: list[Path]
    database_url: str

    def stop(self) -> None:
        for process in [*self.agents, self.server]:
            try:
                process.stop()
            except Exception as exc:  # keep stopping the others
                print(f"could not stop {process.name}: {exc}")


@dataclass
class Prepared:
    """One case's outcome: wall time, origin bytes, and each copy's download (s, origin, peer)."""

    wall_s: float
    origin_bytes: int
    copies: list[tuple[float, int, int]]


def start_zone(work: Path, agents: int) -> FanOutZone:
    """Start a server (SQLite, a job worker per agent) and ``agents`` agents in ``work``."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    database_url = f"sqlite:///{work}/kvmcloud.db"
    keys = init_server(database_url, work / "init.log", work / "server-config")
    port = free_port()
    server = start_server(
        database_url,
        port,
        work / "server.log",
        work / "server-config",
        # Every host downloads at once: one job worker each, as a real zone would size it.
        extra_env={"KVMCLOUD_JOB_WORKERS": str(max(4, agents)), "KVMCLOUD_LOG_LEVEL": "WARNING"},
    )
    started: list[ManagedProcess] = []
    try:
        api = CloudStack(
            endpoint=f"http://127.0.0.1:{port}/client/api",
            key=keys.api_key,
            secret=keys.secret_key,
            fetch_result=True,
            poll_interval=0.1,
            job_timeout=int(TIMEOUT_S),
        )
        zone = api.createZone(name="fanout", networktype="Advanced", dns1="127.0.0.53")["zone"]
        api.updateConfiguration(name=ALLOW_SETTING, value=LOOPBACK, zoneid=zone["id"])
        pod = api.createPod(name="pod1", zoneid=zone["id"])["pod"]
        cluster = api.addCluster(
            clustername="c1", zoneid=zone["id"], podid=pod["id"], hypervisor="KVM"
        )["cluster"][0]
        pools, paths = [], []
        for n in range(1, agents + 1):
            agent_port, state = free_port(), work / f"agent{n}-state"
            started.append(
                start_agent(
                    agent_port,
                    state,
                    work / f"agent{n}.log",
                    {"KVMCLOUD_AGENT_LOG_LEVEL": "WARNING"},
                )
            )
            host = api.addHost(
                zoneid=zone["id"],
                podid=pod["id"],
                clusterid=cluster["id"],
                hypervisor="KVM",
                url=f"http://127.0.0.1:{agent_port}",
                username="root",
                password=agent_token(state),
            )["host"][0]
            path = work / f"local{n}"
            path.mkdir()
            paths.append(path)
            pools.append(
                api.createStoragePool(
                    name=f"local{n}",
                    zoneid=zone["id"],
                    hostid=host["id"],
                    url=f"Filesystem://localhost{path}",
                )["storagepool"]["id"]
            )
    except BaseException:
        for process in [*started, server]:
            process.stop()
        raise
    return FanOutZone(api, server, started, zone["id"], pools, paths, database_url)


class FanOut:
    """The section: runs the cases on one zone and prints the table."""

    def __init__(
        self, *, zone: FanOutZone, origin: Origin, image: str, sha256: str, size: int
    ) -> None:
        self.zone, self.origin, self.image, self.sha256, self.size = (
            zone,
            origin,
            image,
            sha256,
            size,
        )
        self._names = 0

    def url(self, name: str) -> str:
        return self.origin.url(f"{self.image}?t={name}", port=self.origin.slow_port)

    def origin_bytes(self, name: str) -> int:
        return sum(t.body_bytes for t in self.origin.transfers() if f"t={name}" in t.uri)

    def register(self, label: str) -> tuple[str, str]:
        self._names += 1
        name = f"fanout-{label}-{self._names}-{int(time.time())}"
        template = self.zone.api.registerTemplate(
            name=name,
            displaytext=name,
            url=self.url(name),
            format="RAW",
            hypervisor="KVM",
            zoneid=self.zone.zone_id,
            directdownload=True,
            checksum=f"{{SHA-256}}{self.sha256}",
        )["template"][0]
        return str(template["id"]), name

    def prepare(self, template_id: str, name: str, pools: list[int]) -> Prepared:
        """Prepare the template on the given pools at once; wait until every copy is Ready."""
        began = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(len(pools)) as executor:
            list(
                executor.map(
                    lambda index: self.zone.api.prepareTemplate(
                        templateid=template_id,
                        zoneid=self.zone.zone_id,
                        storageid=self.zone.pools[index],
                    ),
                    pools,
                )
            )
        self._wait_ready(template_id, len(pools))
        wall = time.perf_counter() - began
        return Prepared(wall, self.origin_bytes(name), self._copies(template_id, pools))

    def _wait_ready(self, template_id: str, count: int) -> None:
        engine = create_engine(self.zone.database_url)
        deadline = time.monotonic() + TIMEOUT_S
        query = text(
            "select r.download_state from template_spool_ref r join vm_template t "
            "on t.id = r.template_id where t.uuid = :id"
        )
        try:
            # Bounded by the deadline.
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    states = [row[0] for row in conn.execute(query, {"id": template_id})]
                if len(states) >= count and all(s == "DOWNLOADED" for s in states):
                    return
                if "DOWNLOAD_ERROR" in states:
                    raise RuntimeError(f"a copy of {template_id} failed")
                time.sleep(0.05)
            raise TimeoutError(f"template {template_id} was not ready in time")
        finally:
            engine.dispose()

    def _copies(self, template_id: str, pools: list[int]) -> list[tuple[float, int, int]]:
        """Each copy's download wall (its host's start to Ready), origin and peer bytes."""
        details = self.zone.api.listTemplates(templatefilter="all", id=template_id)["template"][0][
            "downloaddetails"
        ]
        engine = create_engine(self.zone.database_url)
        query = text(
            "select p.uuid, r.download_started, r.last_updated from template_spool_ref r "
            "join vm_template t on t.id = r.template_id join storage_pool p on p.id = r.pool_id "
            "where t.uuid = :id"
        )
        try:
            with engine.connect() as conn:
                times = {
                    row[0]: (_moment(row[2]) - _moment(row[1])).total_seconds()
                    for row in conn.execute(query, {"id": template_id})
                }
        finally:
            engine.dispose()
        by_pool = {d["datastoreid"]: d for d in details}
        wanted = [self.zone.pools[index] for index in pools]
        return [
            (
                times[pool],
                int(by_pool[pool].get("originbytes") or 0),
                int(by_pool[pool].get("peerbytes") or 0),
            )
            for pool in wanted
        ]

    def aria2c(self, count: int, spool: Path) -> tuple[float, int]:
        """``count`` aria2c fetching the file from the origin at once: (wall s, origin bytes)."""
        name = f"fanout-aria2c-{int(time.time())}"
        spool.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        processes = [
            subprocess.Popen(
                [
                    "aria2c",
                    "-q",
                    "-x1",
                    "--allow-overwrite=true",
                    f"--checksum=sha-256={self.sha256}",
                    "-d",
                    str(spool),
                    "-o",
                    f"copy{n}",
                    self.url(name),
                ]
            )
            for n in range(count)
        ]
        for process in processes:
            if process.wait(timeout=TIMEOUT_S) != 0:
                raise RuntimeError("aria2c failed")
        wall = time.perf_counter() - began
        shutil.rmtree(spool)
        return wall, self.origin_bytes(name)

    def set_peers(self, enabled: bool) -> None:
        self.zone.api.updateConfiguration(
            name=PEERS_ENABLED, value=str(enabled).lower(), zoneid=self.zone.zone_id
        )

    def clean_pools(self) -> None:
        # The copies' rows stay Ready; later cases use new templates, never these files.
        for path in self.zone.pool_paths:
            for published in path.glob("*"):
                if published.is_file():
                    published.unlink()

    def run(self, spool: Path) -> dict[str, Any]:
        n = len(self.zone.pools)
        everyone = list(range(n))
        template_id, name = self.register("single")
        one = self.prepare(template_id, name, [0])
        peer = self.prepare(template_id, name, [1])
        self.clean_pools()
        template_id, name = self.register("fan")
        fan = self.prepare(template_id, name, everyone)
        self.clean_pools()
        self.set_peers(False)
        try:
            template_id, name = self.register("peers-off")
            off = self.prepare(template_id, name, everyone)
        finally:
            self.set_peers(True)
        self.clean_pools()
        aria_wall, aria_bytes = self.aria2c(n, spool)
        return {"one": one, "peer": peer, "fan": fan, "off": off, "aria2c": (aria_wall, aria_bytes)}


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def fanout_section(
    *, work: Path, origin: Origin, image: str, sha256: str, size: int, agents: int
) -> None:
    """Run and print the fan-out section (its own zone of ``agents`` agents)."""
    print(
        f"\n== fan-out: {agents} agents on host-local pools need one new template at once, "
        f"origin {origin.slow_rate_bytes_s / 1e6:.0f} MB/s per connection ==",
        flush=True,
    )
    zone = start_zone(work, agents)
    try:
        results = FanOut(zone=zone, origin=origin, image=image, sha256=sha256, size=size).run(
            work / "aria2c"
        )
    finally:
        zone.stop()
    one, peer, fan, off = results["one"], results["peer"], results["fan"], results["off"]
    aria_wall, aria_bytes = results["aria2c"]
    one_s = one.copies[0][0]
    peer_s = peer.copies[0][0]
    followers = [c for c in fan.copies if c[2] > 0]
    worst_follower = max((c[0] for c in followers), default=0.0)
    print(f"  one agent from the origin: {one.wall_s:.2f} s (its download {one_s:.2f} s)")
    print(f"  one agent from a peer alone: {peer.wall_s:.2f} s (its download {peer_s:.2f} s)")
    print(f"  {'case':34} {'wall s':>8} {'/ one':>6} {'origin x file':>14} {'from peers':>11}")
    for label, wall, sent, from_peers in (
        ("kvmcloud, peers on (fan-out)", fan.wall_s, fan.origin_bytes, len(followers)),
        ("kvmcloud, peers off", off.wall_s, off.origin_bytes, 0),
        (f"aria2c x{agents} from the origin", aria_wall, aria_bytes, 0),
    ):
        print(
            f"  {label:34} {wall:8.2f} {wall / one.wall_s:6.2f} {sent / size:14.2f} "
            f"{from_peers:>5}/{agents}"
        )
    print(
        f"  targets: origin bytes {fan.origin_bytes / size:.2f} x the file [<= 1.1]; "
        f"wall {fan.wall_s / one.wall_s:.2f} x one agent's download [<= 1.5]; "
        f"slowest per-host download from peers {worst_follower:.2f} s = "
        f"{worst_follower / peer_s if peer_s else 0:.2f} x a peer alone [<= 2]"
    )
    print(
        "  per-host downloads (s, origin MiB, peer MiB): "
        + ", ".join(f"{s:.1f}/{o / 2**20:.0f}/{p / 2**20:.0f}" for s, o, p in fan.copies)
    )
