"""wait_until(): poll a condition, bounded in time, instead of a hand-written sleep loop."""

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], *, timeout_s: float, interval_s: float) -> bool:
    """Poll ``condition`` every ``interval_s`` until it is true; tell whether it became so.

    The wait ends after ``timeout_s`` at the latest. It never fails by itself: a caller that
    needs the condition asserts on the result, one that only waits for a chance goes on.
    """
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
    return True
