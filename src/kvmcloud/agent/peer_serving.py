"""Serving peers: how many uploads at once, and how long to pause to keep to a rate (pure)."""

import threading

# Pauses shorter than this are not worth a sleep; they add up to the next one.
MIN_PAUSE_S = 0.005


class UploadSlots:
    """Counts the peer uploads under way; refuses one past the grant's ``max_uploads``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0

    def acquire(self, limit: int) -> "UploadLease | None":
        """Take a slot if fewer than ``limit`` are taken; None when none is free."""
        with self._lock:
            if self._active >= limit:
                return None
            self._active += 1
            return UploadLease(self)

    def _release(self) -> None:
        with self._lock:
            self._active = max(0, self._active - 1)

    @property
    def active(self) -> int:
        """How many uploads are under way."""
        with self._lock:
            return self._active


def pause_s(*, sent_bytes: int, elapsed_s: float, rate_bytes: int) -> float:
    """Return how long to wait before sending more, so ``sent_bytes`` keeps to ``rate_bytes``/s.

    0 when there is no cap (``rate_bytes`` 0) or the transfer is behind its rate.
    """
    if rate_bytes <= 0:
        return 0.0
    ahead_s = sent_bytes / rate_bytes - elapsed_s
    return ahead_s if ahead_s >= MIN_PAUSE_S else 0.0


class UploadLease:
    """One taken slot; releasing it twice gives it back once.

    The response's stream releases it when it ends, and a task after the response does
    too: a stream the client dropped before its first byte never runs its own cleanup.
    """

    def __init__(self, slots: UploadSlots) -> None:
        self._slots = slots
        self._lock = threading.Lock()
        self._held = True

    def release(self) -> None:
        """Give the slot back (once)."""
        with self._lock:
            held, self._held = self._held, False
        if held:
            self._slots._release()
