"""The pools section of make bench: direct download into NFS and RBD pools vs CloudStack's way.

CloudStack's KVM agent downloads a direct-download template to a local temporary file
(``direct.download.temporary.download.location``), checks its checksum, then copies or
converts it into the pool (``createTemplateFromDirectDownloadFile``; for RBD since 4.21,
``qemu-img convert`` into an RBD image). The baselines here do exactly that with curl,
sha256sum and qemu-img, against the same origin and the same pool, in the same run.
"""

import shlex
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.ceph import CephCluster, CephStartError, CephUnavailableError
from tests.support.nfs import GaneshaServer, NfsUnavailableError

from kvmcloud.agent.rbd.pool import RbdStoragePool
from kvmcloud.protocol.agent_messages import PoolSpec, PoolType

NFS_HOST = "127.0.0.1"
GIB = 1024 * 1024 * 1024


@dataclass
class PoolRow:
    """One measured way into one pool: its wall times, one per repetition."""

    name: str
    run: Callable[[], float]
    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


@dataclass(frozen=True)
class Context:
    """What the pool cases need from the running benchmark."""

    image_url: str
    sha256: str
    size: int
    reps: int
    spool: Path
    # Runs a DirectDownload through the real agent into a pool; returns its wall time.
    engine: Callable[[PoolSpec, str], float]


def timed_shell(command: str, cwd: Path) -> float:
    began = time.perf_counter()
    subprocess.run(["bash", "-c", command], check=True, cwd=cwd)
    return time.perf_counter() - began


def cloudstack_way(context: Context, destination: str) -> str:
    """CloudStack's agent path as a shell line: download, checksum, qemu-img convert."""
    url = shlex.quote(context.image_url)
    return (
        f"curl -sS -o f {url} && "
        f'test "$(sha256sum f | cut -d" " -f1)" = {context.sha256} && '
        f"qemu-img convert -O raw f {shlex.quote(destination)} && rm -f f"
    )


def measure(rows: list[PoolRow], reps: int) -> None:
    """Run every row ``reps`` times, rotating the order each repetition (drift spreads)."""
    for rep in range(reps):
        for row in rows[rep % len(rows) :] + rows[: rep % len(rows)]:
            row.times.append(row.run())


def paired(ours: PoolRow, base: PoolRow) -> float:
    return statistics.median(a / b for a, b in zip(ours.times, base.times, strict=True))


def print_rows(title: str, rows: list[PoolRow], size: int, target: str) -> None:
    size_mb = size / 1e6
    print(f"\n  {title}")
    for row in rows:
        spread = f"{min(row.times):.2f}-{max(row.times):.2f}"
        print(
            f"    {row.name:58} {row.median:8.3f} s {spread:>13} {size_mb / row.median:6.0f} MB/s"
        )
    ours, base = rows[0], rows[1]
    print(f"    {ours.name} / {base.name}: {paired(ours, base):.2f} [{target}]")


def nfs_section(context: Context) -> None:
    """kvmcloud into a NetworkFilesystem pool vs download, check and convert to nfs://."""
    server = GaneshaServer()
    try:
        server.start()
    except NfsUnavailableError as exc:
        print(f"\n  NFS pool: not measured: {exc}")
        return
    try:
        export = server.writable_subdir(f"bench-{uuid.uuid4().hex[:8]}")
        spec = PoolSpec(
            uuid=str(uuid.uuid4()),
            type=PoolType.NETWORK_FILESYSTEM,
            path=str(export),
            server=NFS_HOST,
        )

        def ours() -> float:
            name = f"bench-{uuid.uuid4().hex[:12]}.raw"
            try:
                return context.engine(spec, name)
            finally:
                (export / name).unlink(missing_ok=True)

        def theirs() -> float:
            name = f"cs-{uuid.uuid4().hex[:12]}.raw"
            try:
                return timed_shell(
                    cloudstack_way(context, f"nfs://{NFS_HOST}{export}/{name}"), context.spool
                )
            finally:
                (export / name).unlink(missing_ok=True)

        rows = [
            PoolRow("kvmcloud -> NFS pool (user-space libnfs)", ours),
            PoolRow("curl, sha256sum, qemu-img convert nfs:// (CloudStack)", theirs),
        ]
        measure(rows, context.reps)
        print_rows("NetworkFilesystem pool", rows, context.size, "< 1")
    finally:
        server.stop()


def rbd_section(context: Context) -> None:
    """kvmcloud into an RBD pool vs download, check and ``qemu-img convert`` into rbd:."""
    # memstore keeps every object in RAM: room for one image of each way plus slack.
    store = 3 * context.size + GIB
    cluster = CephCluster(memstore_bytes=store)
    try:
        cluster.start()
    except (CephUnavailableError, CephStartError) as exc:
        print(f"\n  RBD pool: not measured: {exc}")
        return
    try:
        # Without a mgr the quota is what gives the pool a capacity the agent can check.
        cluster.admin("ceph", "osd", "pool", "set-quota", cluster.pool, "max_bytes", str(store))
        spec = PoolSpec(
            uuid=str(uuid.uuid4()),
            type=PoolType.RBD,
            path=cluster.pool,
            server=cluster.mon_host,
            user=cluster.user,
            secret=cluster.key,
        )
        pool = RbdStoragePool(spec)

        def ours() -> float:
            name = f"bench-{uuid.uuid4().hex[:12]}"
            try:
                return context.engine(spec, name)
            finally:
                pool.delete_file(name)

        def theirs() -> float:
            name = f"cs-{uuid.uuid4().hex[:12]}"
            target = f"rbd:{cluster.pool}/{name}:conf={cluster.conf_path}"
            try:
                return timed_shell(cloudstack_way(context, target), context.spool)
            finally:
                pool.delete_file(name)

        rows = [
            PoolRow("kvmcloud -> RBD pool (streamed into rbd import)", ours),
            PoolRow("curl, sha256sum, qemu-img convert rbd: (CloudStack 4.21)", theirs),
        ]
        measure(rows, context.reps)
        print_rows("RBD pool", rows, context.size, "< 1")
    finally:
        cluster.stop()
