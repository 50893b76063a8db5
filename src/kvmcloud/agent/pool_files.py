"""Pool file names: host-tagged attempt ids, whose partial a file is, which names are published.

A transfer writes ``<pool>/.kvmcloud-partial/<install_name>.<attempt_id>.part`` (see
``pools.StoragePool.temp_path``), with ``attempt_id = <host_tag>-<32 hex digits>``. The
host tag (16 hex digits, kept in the agent's state directory) says which agent wrote a
partial file, so on a pool several hosts share an agent removes only its own leftovers.

Everything here is pure: names in, decisions out.
"""

import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

PARTIAL_SUFFIX = ".part"
HOST_TAG = re.compile(r"[0-9a-f]{16}")
_ATTEMPT_RANDOM = re.compile(r"[0-9a-f]{32}")


def new_host_tag() -> str:
    """Return a fresh random host tag (16 lowercase hex digits)."""
    return secrets.token_hex(8)


def new_attempt_id(host_tag: str) -> str:
    """Return ``<host_tag>-<32 hex digits>``: unique per attempt, naming its host.

    Raises:
        ValueError: ``host_tag`` is not 16 lowercase hex digits.
    """
    if not HOST_TAG.fullmatch(host_tag):
        raise ValueError(f"host tag {host_tag!r} is not 16 lowercase hex digits")
    return f"{host_tag}-{uuid.uuid4().hex}"


def partial_owner(file_name: str) -> str | None:
    """Return the host tag of a partial file's name, or None if it carries none.

    None also covers partials written before attempt ids carried a tag
    (``<name>.<32 hex>.part``): whose they are cannot be told.
    """
    if not file_name.endswith(PARTIAL_SUFFIX):
        return None
    stem = file_name[: -len(PARTIAL_SUFFIX)]
    install_name, dot, attempt_id = stem.rpartition(".")
    if not dot or not install_name:
        return None
    tag, dash, random_part = attempt_id.partition("-")
    if not dash or not HOST_TAG.fullmatch(tag) or not _ATTEMPT_RANDOM.fullmatch(random_part):
        return None
    return tag


def is_own_partial(file_name: str, host_tag: str) -> bool:
    """Tell whether ``file_name`` is a partial file written by the agent tagged ``host_tag``."""
    return partial_owner(file_name) == host_tag


@dataclass(frozen=True, slots=True)
class PublishedNames:
    """The published names found in a pool listing, and whether the list stopped early."""

    names: list[str]
    truncated: bool


def select_published(entries: Iterable[tuple[str, bool]], *, limit: int) -> PublishedNames:
    """Pick the published files from ``(name, is_regular_file)`` listing entries.

    Published files are the regular files whose names do not start with ``.``: install
    names never do (``pools.validate_file_name``), while the partial directory and write
    probes always do. At most ``limit`` names are kept (sorted); past that the result is
    ``truncated`` and the rest of ``entries`` is not read.
    """
    names: list[str] = []
    truncated = False
    for name, is_file in entries:
        if name.startswith(".") or not is_file:
            continue
        if len(names) >= limit:
            truncated = True
            break
        names.append(name)
    return PublishedNames(sorted(names), truncated)
