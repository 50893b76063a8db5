"""Lease rules for management servers and their jobs: expiry and what to do with orphans."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class OrphanAction(StrEnum):
    """What a live server does with a job whose server died while running it."""

    RESUME = "resume"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class OrphanDecision:
    """The action for one orphaned job and, when it fails, the reason people will read."""

    action: OrphanAction
    reason: str = ""


def lease_expired(last_seen: datetime, now: datetime, lease_s: float) -> bool:
    """Tell whether a server last seen at ``last_seen`` has lost its lease at ``now``."""
    return now - last_seen > timedelta(seconds=lease_s)


def renew_interval_s(lease_s: float) -> float:
    """How often a server renews its lease: three chances before it runs out."""
    return max(0.5, lease_s / 3.0)


def decide_orphan(
    kind: str,
    takeovers: int,
    *,
    server_name: str,
    resumable: Collection[str],
    max_takeovers: int,
) -> OrphanDecision:
    """Resume a job that is safe to run again from the start, unless it was taken over too often.

    Resumable jobs are written to be run again (a deploy or a download picks up where the
    database and the agent say it is: the agent answers a repeated command id with the
    running or finished command, so no second transfer starts). Others fail with a reason.
    """
    if kind not in resumable:
        return OrphanDecision(
            OrphanAction.FAIL,
            f"management server {server_name} stopped while running this job; "
            "it is not safe to repeat automatically, run it again",
        )
    if takeovers >= max_takeovers:
        return OrphanDecision(
            OrphanAction.FAIL,
            f"management servers stopped {takeovers + 1} times while running this job "
            f"(last: {server_name}); giving up, run it again",
        )
    return OrphanDecision(OrphanAction.RESUME)
