"""wait_reason: a download waits for a peer copy instead of reading the origin, within bounds."""

import dataclasses

from kvmcloud.server.templates.fan_out import FanOutPolicy, ZoneCopy, wait_reason

POLICY = FanOutPolicy(peers_enabled=True, max_uploads=2, max_wait_s=600.0)
OWN = 10


def copy(ref_id: int, **changes: object) -> ZoneCopy:
    """A copy queued and not started yet (a pending job holds it)."""
    base = ZoneCopy(
        ref_id=ref_id,
        file_pool=True,
        ready=False,
        verified=False,
        host_up=False,
        downloading=False,
        job_pending=True,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def ready(ref_id: int, **changes: object) -> ZoneCopy:
    fields: dict[str, object] = {"ready": True, "verified": True, "host_up": True}
    return copy(ref_id, **{**fields, "job_pending": False, **changes})


def downloading(ref_id: int) -> ZoneCopy:
    return copy(ref_id, downloading=True)


def waits(copies: list[ZoneCopy], *, waited_s: float = 0.0, **policy: object) -> bool:
    chosen = dataclasses.replace(POLICY, **policy)  # type: ignore[arg-type]
    return wait_reason(own_ref_id=OWN, copies=copies, policy=chosen, waited_s=waited_s) is not None


def test_the_only_copy_goes_to_the_origin_at_once() -> None:
    assert not waits([])
    assert not waits([copy(OWN)])  # itself


def test_of_copies_queued_together_the_earliest_goes_first_the_others_wait() -> None:
    assert waits([copy(3)])
    assert not waits([copy(11), copy(12)])


def test_a_download_under_way_with_no_source_yet_is_waited_for() -> None:
    assert waits([downloading(11)])
    assert "1 download(s)" in str(
        wait_reason(own_ref_id=OWN, copies=[downloading(11)], policy=POLICY, waited_s=0)
    )


def test_a_ready_source_lets_as_many_start_as_it_serves_then_the_rest_wait() -> None:
    assert not waits([ready(1)])
    assert not waits([ready(1), downloading(2)])
    assert waits([ready(1), downloading(2), downloading(3)])
    # The earlier waiting copies take the free slots first.
    assert waits([ready(1), copy(2), copy(3)])
    assert not waits([ready(1), copy(2), copy(11)])


def test_every_host_that_finishes_adds_slots_so_the_fan_out_grows_as_a_tree() -> None:
    busy = [downloading(n) for n in range(20, 25)]
    assert waits([ready(1), ready(2), *busy])
    assert not waits([ready(1), ready(2), ready(3), *busy])


def test_copies_that_cannot_serve_are_no_source() -> None:
    for unusable in (
        ready(1, verified=False),  # decompressed on the way in, or no checksum recorded
        ready(1, host_up=False),
        ready(1, file_pool=False),
    ):
        assert waits([unusable, downloading(2)])


def test_copies_no_job_holds_and_rbd_copies_are_not_waited_for() -> None:
    assert not waits([copy(3, job_pending=False)])  # failed or abandoned: nothing comes
    assert not waits([copy(3, downloading=True, job_pending=False)])
    assert not waits([copy(3, file_pool=False, downloading=True)])


def test_the_wait_is_bounded_and_off_with_peers_off_or_no_wait_allowed() -> None:
    assert not waits([downloading(11)], waited_s=600.0)
    assert waits([downloading(11)], waited_s=599.0)
    assert not waits([downloading(11)], peers_enabled=False)
    assert not waits([downloading(11)], max_wait_s=0.0)
