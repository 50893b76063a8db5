"""Failed-login throttling (pure): a sliding window of failures per user and per address."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """How many failures a user, and a source address, may have within ``window_s``."""

    per_user: int
    per_address: int
    window_s: int

    def since(self, now: datetime) -> datetime:
        """Failures at or after this moment count."""
        return now - timedelta(seconds=self.window_s)


def user_subject(username: str) -> str:
    """The throttling key of a user name (whether or not it exists), in every domain at once.

    Not per domain: naming the domain by path in one try and by uuid in the next must not
    double an attacker's budget.
    """
    return f"user:{username.lower()}"[:300]


def address_subject(address: str) -> str:
    """The throttling key of a source address."""
    return f"addr:{address}"[:300]


def is_throttled(failures: Sequence[datetime], now: datetime, window_s: int, limit: int) -> bool:
    """Tell whether ``limit`` failures or more fall within the last ``window_s`` seconds.

    A sliding window: each failure stops counting ``window_s`` after it happened, so a
    blocked subject gets one more try as soon as its oldest counted failure ages out.
    """
    start = now - timedelta(seconds=window_s)
    return sum(1 for moment in failures if start <= moment <= now) >= limit


def retry_after_s(failures: Sequence[datetime], now: datetime, window_s: int, limit: int) -> int:
    """Seconds until ``is_throttled`` turns false (0 when it already is)."""
    start = now - timedelta(seconds=window_s)
    counted = sorted(moment for moment in failures if start <= moment <= now)
    if len(counted) < limit:
        return 0
    # The oldest failures must age out until only limit - 1 remain.
    freeing = counted[len(counted) - limit]
    return max(1, int((freeing + timedelta(seconds=window_s) - now).total_seconds()) + 1)
