"""audit_pools(rows): every file in every pool is a verified template copy or a live volume.

Usage in end-to-end tests (``rows`` runs SQL on the stack's database, e.g. ``Stack.rows``)::

    from tests.support.pool_audit import assert_pools_clean

    assert_pools_clean(stack.rows)

Each pool directory of a pool that is not removed is listed recursively. A file passes if

* it is the ``install_path`` of a ``template_spool_ref`` row of that pool that is Ready and
  DOWNLOADED, and its digest matches the template's registered checksum (computed here with
  hashlib, independently of the product's verifier); or
* it is the file of a volume of that pool (``volumes.path``) that is Ready and not removed.

A NetworkFilesystem pool's copies are recorded as ``nfs://server/export/name`` URLs: the
test NFS server (``tests.support.nfs``) exports a local directory at the same path, so the
URL's path is where the file is read here.

Anything else fails: a published file nobody recorded, a leftover temporary file, a copy
whose bytes differ from the checksum, a file in ``.kvmcloud-partial/`` (which must be empty
or absent). The database must also agree with the disks: no pool copy may be left
DOWNLOAD_IN_PROGRESS, and every Ready copy's file must exist.
"""

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kvmcloud.protocol.checksums import Checksum

PARTIAL_DIR = ".kvmcloud-partial"

Rows = Callable[[str], list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class PoolProblem:
    """One thing wrong with one pool."""

    pool: str
    what: str

    def __str__(self) -> str:
        return f"pool {self.pool}: {self.what}"


def _digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(root: Path) -> Iterable[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())


def audit_pools(rows: Rows) -> list[PoolProblem]:
    """Return what is wrong in the pools the database knows; an empty list if nothing."""
    problems: list[PoolProblem] = []
    pools = rows("select id, name, path from storage_pool where removed is null order by id")
    copies = rows(
        "select r.pool_id, r.install_path, r.state, r.download_state, t.name, t.checksum "
        "from template_spool_ref r join vm_template t on t.id = r.template_id"
    )
    volumes = rows(
        "select pool_id, path, state from volumes where removed is null and pool_id is not null"
    )
    for pool in pools:
        name, root = str(pool["name"]), Path(pool["path"])
        ready = {
            _local(str(c["install_path"])): c
            for c in copies
            if c["pool_id"] == pool["id"]
            and c["install_path"]
            and c["state"] == "Ready"
            and c["download_state"] == "DOWNLOADED"
        }
        live_volumes = {
            str(root / v["path"])
            for v in volumes
            if v["pool_id"] == pool["id"] and v["state"] == "Ready"
        }
        for copy in copies:
            if copy["pool_id"] == pool["id"] and copy["download_state"] == "DOWNLOAD_IN_PROGRESS":
                problems.append(
                    PoolProblem(name, f"the copy of {copy['name']} is still DOWNLOAD_IN_PROGRESS")
                )
        for install_path, copy in ready.items():
            if not Path(install_path).is_file():
                problems.append(
                    PoolProblem(name, f"Ready copy of {copy['name']} has no file {install_path}")
                )
        if not root.is_dir():
            problems.append(PoolProblem(name, f"pool directory {root} is missing"))
            continue
        for path in _files(root):
            relative = path.relative_to(root)
            if relative.parts[0] == PARTIAL_DIR:
                problems.append(PoolProblem(name, f"partial file left behind: {relative}"))
            elif str(path) in live_volumes:
                continue
            elif str(path) in ready:
                problems.extend(_check_copy(name, path, ready[str(path)]))
            else:
                problems.append(
                    PoolProblem(name, f"{relative} is neither a Ready template copy nor a volume")
                )
    return problems


def _local(install_path: str) -> str:
    """The local path of an install path; an ``nfs://`` URL's path (see the docstring)."""
    return urlsplit(install_path).path if install_path.startswith("nfs://") else install_path


def _check_copy(pool: str, path: Path, copy: dict[str, Any]) -> list[PoolProblem]:
    registered = copy["checksum"]
    if not registered:
        return [PoolProblem(pool, f"{path.name} ({copy['name']}) has no checksum to verify")]
    expected = Checksum.parse(str(registered))
    actual = _digest(path, expected.algorithm.hashlib_name)
    if actual != expected.hex_digest:
        return [
            PoolProblem(
                pool,
                f"{path.name} ({copy['name']}) has {expected.algorithm} {actual}, "
                f"registered {expected.hex_digest}",
            )
        ]
    return []


def assert_pools_clean(rows: Rows) -> None:
    """Fail with every problem :func:`audit_pools` finds."""
    problems = audit_pools(rows)
    assert not problems, "pools are not clean:\n" + "\n".join(f"  {p}" for p in problems)
