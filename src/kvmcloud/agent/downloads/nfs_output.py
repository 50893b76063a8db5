"""What nfs-ls and nfs-cat print (pure): directory listings, and failures as DownloadErrors."""

import re
from dataclasses import dataclass

from kvmcloud.agent.downloads.errors import (
    DnsFailureError,
    DownloadError,
    SourceDeniedError,
    SourceNotFoundError,
    SourceUnavailableError,
)
from kvmcloud.agent.downloads.nfs_urls import NfsLocation
from kvmcloud.protocol.redaction import redact_url

_MESSAGE_CHARS = 500
# `nfs-ls` prints "<type><rwx×3> nlink uid gid size name"; the type letter is missing for
# sockets and FIFOs.
_LS_LINE = re.compile(
    r"(?P<type>[-dlcbps]?)[-r][-w][-xsStT][-r][-w][-xsStT][-r][-w][-xsStT]"
    r"\s+\d+\s+-?\d+\s+-?\d+\s+(?P<size>-?\d+) (?P<name>.+)"
)


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One line of ``nfs-ls``: the entry's type letter (``-`` file, ``d``, ``l``…) and size."""

    kind: str
    size_bytes: int
    name: str


def parse_nfs_ls(text: str) -> list[DirectoryEntry]:
    """Parse ``nfs-ls`` output; lines that are not entries are skipped."""
    entries = []
    for line in text.splitlines():
        match = _LS_LINE.fullmatch(line)
        if match:
            entries.append(
                DirectoryEntry(match.group("type") or "?", int(match.group("size")), match["name"])
            )
    return entries


def error_from_libnfs(text: str, location: NfsLocation, action: str) -> DownloadError:
    """Map what nfs-ls / nfs-cat printed on failure to the DownloadError it means.

    ``action`` says what was attempted ("listing /export", "reading …"). The samples these
    patterns come from were recorded against nfs-ganesha 4.3 with libnfs 4.0
    (tests/unit/agent/downloads/test_nfs.py).
    """
    detail = " ".join(text.split())[:_MESSAGE_CHARS] or "no message"
    server = f"NFS server {location.server}"
    where = f"{action} on {server} for {redact_url(location.url)}"
    if "Can not resolv" in detail and location.is_dns_name:
        return DnsFailureError(f"cannot resolve host {location.host!r} ({where}): {detail}")
    if "nfs_service failed" in detail or "Failed to start connection" in detail:
        return SourceUnavailableError(
            f"cannot reach {server} (rpcbind on port 111, or its NFS/MOUNT service, did not "
            f"answer) while {where}: {detail}"
        )
    if "MNT3ERR_ACCES" in detail or "MNT3ERR_PERM" in detail:
        # ganesha (and Linux's nfsd) answer ACCES for a directory that is not exported or
        # does not exist as well as for a host the export does not allow.
        return SourceDeniedError(
            f"{server} refused to mount {location.directory}: no such export or directory, "
            f"or this host is not allowed to mount it ({where}): {detail}"
        )
    if any(code in detail for code in ("MNT3ERR_NOENT", "MNT3ERR_NOTDIR")):
        return SourceNotFoundError(
            f"{server} has no directory {location.directory} ({where}): {detail}"
        )
    if any(code in detail for code in ("ERR_NOENT", "ERR_NOTDIR")):
        return SourceNotFoundError(f"{location.path} does not exist ({where}): {detail}")
    if "points outside export" in detail:
        # libnfs itself refuses symbolic links that leave the mounted export.
        return SourceDeniedError(
            f"{location.path} is a symbolic link out of the export ({where}): {detail}"
        )
    if any(code in detail for code in ("ERR_ACCES", "ERR_PERM", "ACCESS denied")):
        return SourceDeniedError(
            f"permission denied reading {location.path} ({where}; libnfs uses the agent's "
            f"uid, so an export that squashes root serves only world-readable files): {detail}"
        )
    return SourceUnavailableError(f"{action} failed on {server}: {detail}")
