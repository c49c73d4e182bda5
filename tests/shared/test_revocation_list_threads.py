"""The revocation list under gunicorn's threads: requests that arrive while the first read is
still running wait for it instead of failing. (The fault suite found each service's very first
concurrent requests answered 500: they saw a read due later and no list yet.)"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import shared.tokens as tokens
from shared.tokens import RevocationList


def test_requests_during_the_first_read_wait_for_it(monkeypatch):
    reading, release = threading.Event(), threading.Event()

    def slow_read(_database, _table, *, now):
        reading.set()
        assert release.wait(10)
        return frozenset({"revoked-id"})

    monkeypatch.setattr(tokens, "revoked_ids", slow_read)
    revocations = RevocationList(None, None)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(revocations.is_revoked, "revoked-id")
        assert reading.wait(10)
        others = [pool.submit(revocations.is_revoked, token) for token in ("revoked-id", "fine", "x")]
        release.set()
        assert first.result(10) is True
        assert [other.result(10) for other in others] == [True, False, False]
