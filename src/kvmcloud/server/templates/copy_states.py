"""A template copy's states on a pool and the events that move it between them (pure)."""

from dataclasses import dataclass
from enum import StrEnum

from kvmcloud.server.templates.models import DownloadState, RefState


@dataclass(frozen=True, slots=True)
class CopyState:
    """What a copy's two state columns say (template_spool_ref.state and download_state).

    Every write of those columns goes through ``transition()``.
    """

    state: RefState
    download_state: DownloadState


# The four states the events below produce. A new copy is NOT_DOWNLOADED.
NOT_DOWNLOADED = CopyState(RefState.ALLOCATED, DownloadState.NOT_DOWNLOADED)
DOWNLOADING = CopyState(RefState.CREATING, DownloadState.DOWNLOAD_IN_PROGRESS)
READY = CopyState(RefState.READY, DownloadState.DOWNLOADED)
FAILED = CopyState(RefState.ALLOCATED, DownloadState.DOWNLOAD_ERROR)


class CopyEvent(StrEnum):
    """What happens to a copy."""

    # prepareTemplate or a deploy needs the copy and no pending job holds it: queue one.
    REQUESTED = "requested"
    # The job holding the copy sends the download to the hosts.
    STARTED = "started"
    # A host installed the verified copy on the pool.
    DOWNLOADED = "downloaded"
    # No host could download it, or the job holding it ended without a result.
    FAILED = "failed"
    # A host's listing of the pool lacks the Ready copy's file.
    FILE_MISSING = "file_missing"


class IllegalCopyTransitionError(ValueError):
    """An event happened to a copy in a state it cannot happen in."""


# Where each event takes a copy that is not Ready, whatever its download state says (a
# copy is Allocated or Creating on its way to Ready, or back from a failure).
_FROM_NOT_READY: dict[CopyEvent, CopyState] = {
    CopyEvent.REQUESTED: NOT_DOWNLOADED,
    CopyEvent.STARTED: DOWNLOADING,
    CopyEvent.DOWNLOADED: READY,
    CopyEvent.FAILED: FAILED,
}
# Where each event takes a Ready copy; None: the copy stays as it is.
_FROM_READY: dict[CopyEvent, CopyState | None] = {
    # A Ready copy is reused: nothing is queued or transferred.
    CopyEvent.REQUESTED: None,
    CopyEvent.STARTED: None,
    # A job resumed by another management server may finish the same copy again.
    CopyEvent.DOWNLOADED: READY,
    # A late failure does not undo a copy that is on the pool.
    CopyEvent.FAILED: None,
    # Downloaded again when next needed; the file is never deleted on this evidence.
    CopyEvent.FILE_MISSING: NOT_DOWNLOADED,
}


def transition(current: CopyState, event: CopyEvent) -> CopyState | None:
    """Return the state ``event`` moves a copy in ``current`` to; None if the copy stays.

    Raises:
        IllegalCopyTransitionError: the event cannot happen in ``current`` (a file can
            only be missing from a Ready copy).
    """
    table = _FROM_READY if is_ready(current) else _FROM_NOT_READY
    if event not in table:
        raise IllegalCopyTransitionError(
            f"a template copy that is {current.state}/{current.download_state} cannot be {event}"
        )
    return table[event]


def is_ready(current: CopyState) -> bool:
    """Tell whether the copy is on the pool, usable by volumes."""
    return current.state == RefState.READY


def is_downloading(current: CopyState) -> bool:
    """Tell whether a download of the copy is under way (progress is recorded only then)."""
    return current.download_state == DownloadState.DOWNLOAD_IN_PROGRESS


def has_failed(current: CopyState) -> bool:
    """Tell whether the copy's last download failed."""
    return current.download_state == DownloadState.DOWNLOAD_ERROR
