"""A template copy's states and the events that move it (pure)."""

import pytest

from kvmcloud.server.templates.copy_states import (
    DOWNLOADING,
    FAILED,
    NOT_DOWNLOADED,
    READY,
    CopyEvent,
    CopyState,
    IllegalCopyTransitionError,
    has_failed,
    is_downloading,
    is_ready,
    transition,
)
from kvmcloud.server.templates.models import DownloadState, RefState

NOT_READY = [NOT_DOWNLOADED, DOWNLOADING, FAILED]


def test_the_states_write_cloudstacks_column_values() -> None:
    assert CopyState(RefState.ALLOCATED, DownloadState.NOT_DOWNLOADED) == NOT_DOWNLOADED
    assert CopyState(RefState.CREATING, DownloadState.DOWNLOAD_IN_PROGRESS) == DOWNLOADING
    assert CopyState(RefState.READY, DownloadState.DOWNLOADED) == READY
    assert CopyState(RefState.ALLOCATED, DownloadState.DOWNLOAD_ERROR) == FAILED


@pytest.mark.parametrize("current", NOT_READY)
@pytest.mark.parametrize(
    ("event", "after"),
    [
        (CopyEvent.REQUESTED, NOT_DOWNLOADED),
        (CopyEvent.STARTED, DOWNLOADING),
        (CopyEvent.DOWNLOADED, READY),
        (CopyEvent.FAILED, FAILED),
    ],
)
def test_a_copy_that_is_not_ready_goes_where_the_event_says(
    current: CopyState, event: CopyEvent, after: CopyState
) -> None:
    assert transition(current, event) == after


def test_the_usual_life_of_a_copy() -> None:
    state = NOT_DOWNLOADED
    for event in (
        CopyEvent.STARTED,
        CopyEvent.FAILED,
        CopyEvent.REQUESTED,
        CopyEvent.STARTED,
        CopyEvent.DOWNLOADED,
        CopyEvent.FILE_MISSING,
    ):
        after = transition(state, event)
        assert after is not None
        state = after
    assert state == NOT_DOWNLOADED


@pytest.mark.parametrize("event", [CopyEvent.REQUESTED, CopyEvent.STARTED, CopyEvent.FAILED])
def test_a_ready_copy_stays_ready(event: CopyEvent) -> None:
    assert transition(READY, event) is None


def test_a_ready_copy_may_be_recorded_downloaded_again() -> None:
    assert transition(READY, CopyEvent.DOWNLOADED) == READY


def test_a_ready_copy_whose_file_is_missing_is_downloaded_again() -> None:
    assert transition(READY, CopyEvent.FILE_MISSING) == NOT_DOWNLOADED


@pytest.mark.parametrize("current", NOT_READY)
def test_only_a_ready_copy_can_miss_its_file(current: CopyState) -> None:
    with pytest.raises(IllegalCopyTransitionError, match="cannot be file_missing"):
        transition(current, CopyEvent.FILE_MISSING)


def test_only_the_state_column_tells_whether_a_copy_is_ready() -> None:
    # A Ready copy whose download state says otherwise is still not failed or restarted.
    odd = CopyState(RefState.READY, DownloadState.DOWNLOAD_IN_PROGRESS)
    assert transition(odd, CopyEvent.FAILED) is None
    # And a copy left Allocated with a download in progress can fail.
    abandoned = CopyState(RefState.ALLOCATED, DownloadState.DOWNLOAD_IN_PROGRESS)
    assert transition(abandoned, CopyEvent.FAILED) == FAILED


def test_the_predicates() -> None:
    assert is_ready(READY) and not any(is_ready(s) for s in NOT_READY)
    assert is_downloading(DOWNLOADING) and not is_downloading(READY)
    assert has_failed(FAILED) and not has_failed(NOT_DOWNLOADED)
