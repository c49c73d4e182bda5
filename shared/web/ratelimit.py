"""The in-process store behind rate limits when no shared one is configured.

``limits``' own memory store starts a timer thread on nearly every hit to sweep expired keys
a hundredth of a second later — under load, one thread start per request, which costs more than
the rest of a public submit. Expiry itself does not depend on the sweep (a counter past its
window reads as zero), so ``clientloop-memory://`` is the same store with the sweep scheduled
at most once a second.
"""
from __future__ import annotations

import time

from limits.storage import MemoryStorage

#: The storage URI of :class:`SweptMemoryStorage`.
MEMORY_URI = "clientloop-memory://"


class SweptMemoryStorage(MemoryStorage):
    STORAGE_SCHEME = ["clientloop-memory"]
    SWEEP_EVERY_S = 1.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        self._next_sweep = 0.0
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - the base's private hook
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_EVERY_S
            MemoryStorage._MemoryStorage__schedule_expiry(self)
