"""SettingsCache: global settings read from memory, reloaded at most every few seconds."""

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select

from kvmcloud.server.configuration.definitions import ConfigKey, ConfigValueError
from kvmcloud.server.configuration.models import ConfigurationValue
from kvmcloud.server.db import Database

T = TypeVar("T")

# How stale a cached setting may be: a change made through another management server is
# seen by this one within this many seconds (this server's own changes at once).
SETTINGS_MAX_AGE_S = 5.0


class SettingsCache:
    """The global settings of the ``configuration`` table, for hot paths (heartbeats).

    One query loads every row (a few dozen) at most every ``max_age_s``; ``invalidate``
    (called after updateConfiguration succeeds on this server) makes the next read load
    again. Several servers share the database: a change made through another one is seen
    here after ``max_age_s`` at the latest. Zone overrides are not cached.
    """

    def __init__(
        self,
        db: Database,
        *,
        max_age_s: float = SETTINGS_MAX_AGE_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._max_age_s = max_age_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._values: dict[str, str | None] = {}
        self._loaded_at: float | None = None

    def get(self, key: ConfigKey[T]) -> T:
        """Return the typed value of ``key`` (its default when unset or unparsable)."""
        text = self._current().get(key.name)
        try:
            return key.parse(text if text is not None else key.default)
        except ConfigValueError:
            return key.parse(key.default)

    def invalidate(self) -> None:
        """Forget the loaded values: the next ``get`` reads the table again."""
        with self._lock:
            self._loaded_at = None

    def _current(self) -> dict[str, str | None]:
        with self._lock:
            now = self._monotonic()
            if self._loaded_at is None or now - self._loaded_at >= self._max_age_s:
                rows = self._db.run(
                    lambda session: session.execute(
                        select(ConfigurationValue.name, ConfigurationValue.value)
                    ).all()
                )
                self._values = {name: value for name, value in rows}
                self._loaded_at = now
            return self._values
