"""Enrolment rules (pure): token expiry, and the token bucket that limits failed attempts."""

from dataclasses import dataclass, field

# Failed enrolment attempts allowed in a burst, and how fast the allowance comes back.
FAILURE_BURST = 5
FAILURE_REFILL_S = 60.0


def token_expired(created_s: float, now_s: float, ttl_s: float) -> bool:
    """Tell whether a token made at ``created_s`` is too old at ``now_s``.

    A token dated in the future (the clock was set back) counts as expired too: its age
    cannot be trusted.
    """
    age_s = now_s - created_s
    return age_s < -60.0 or age_s >= ttl_s


@dataclass
class FailureBucket:
    """A token bucket of failed attempts: each failure takes one; one comes back per refill_s.

    While it is empty every attempt is refused without being checked, so guessing a token
    costs at least ``refill_s`` per try.
    """

    capacity: int = FAILURE_BURST
    refill_s: float = FAILURE_REFILL_S
    _level: float = field(default=-1.0, repr=False)
    _at_s: float = field(default=0.0, repr=False)

    def retry_after_s(self, now_s: float) -> float:
        """Return 0 when an attempt may be checked now, else the seconds until one may."""
        level = self._refilled(now_s)
        return 0.0 if level >= 1.0 else (1.0 - level) * self.refill_s

    def record_failure(self, now_s: float) -> None:
        """Take one from the bucket (never below empty)."""
        self._level = max(0.0, self._refilled(now_s) - 1.0)
        self._at_s = now_s

    def _refilled(self, now_s: float) -> float:
        if self._level < 0:
            return float(self.capacity)
        elapsed_s = max(0.0, now_s - self._at_s)
        return min(float(self.capacity), self._level + elapsed_s / self.refill_s)
