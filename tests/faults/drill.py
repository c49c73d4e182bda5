"""The faults, injected one at a time while the load runs, each at a point of its progress.

A killed process is started again a second later, as a supervisor (systemd's
``Restart=always``, Kubernetes) would. Each injection is recorded with the seconds since the
load started, so the published run says what happened when.
"""
from __future__ import annotations

import re
import subprocess
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Callable

import psycopg

from tests.e2e.harness import ProcessSuite

RESTART_AFTER_S = 1.0


@dataclass(frozen=True)
class Injection:
    at_s: float
    fault: str
    detail: str
    took_s: float


@dataclass(frozen=True)
class Step:
    at_progress: float          # share of the load's stories finished (0-1)
    fault: str
    inject: Callable[[], str]   # does it; returns the detail worth publishing


class Drill:
    """Runs ``steps`` in order on a thread: each once the load has reached its point, the
    remaining ones at once when the load has ended. ``injections`` is the record."""

    def __init__(self, steps: list[Step], progress: Callable[[], float], started: float) -> None:
        self.steps = steps
        self.progress = progress
        self.started = started
        self.injections: list[Injection] = []
        self.errors: list[str] = []
        self.load_done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="fault-drill", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.errors.append(f"the drill did not finish within {timeout:.0f} s")

    def _run(self) -> None:
        for step in self.steps:
            while self.progress() < step.at_progress and not self.load_done.is_set():
                time.sleep(0.1)
            at = time.monotonic() - self.started
            try:
                detail = step.inject()
            except Exception as exc:  # noqa: BLE001 - recorded and reported by the test
                self.errors.append(f"{step.fault}: {exc!r}")
                detail = f"failed: {exc!r}"
            took = time.monotonic() - self.started - at
            self.injections.append(Injection(at, step.fault, detail, took))


def kill_consumer(suite: ProcessSuite, name: str) -> Callable[[], str]:
    def inject() -> str:
        suite.kill(name)
        time.sleep(RESTART_AFTER_S)
        suite.restart(name)
        return f"`clientloop consume` process `{name}` killed with SIGKILL, started again " \
               f"{RESTART_AFTER_S:.0f} s later"
    return inject


def kill_active_relay(suite: ProcessSuite, service: str, admin_url: str) -> Callable[[], str]:
    """Kill the relay that holds the service's publishing lock (the active one, found through
    PostgreSQL's lock table and the socket of its session); the standby must take over."""
    def inject() -> str:
        names = [f"{service}-relay-1", f"{service}-relay-2"]
        name = active_relay(suite, service, names, admin_url)
        which = f"the active `{service}` relay (the one holding the publishing lock)"
        if name is None:  # not found: kill one anyway, and say so
            name, which = names[0], f"a `{service}` relay (which one was active is unknown)"
        suite.kill(name)
        time.sleep(RESTART_AFTER_S)
        suite.restart(name)
        return f"{which}, `{name}`, killed with SIGKILL, started again {RESTART_AFTER_S:.0f} s later"
    return inject


def active_relay(suite: ProcessSuite, service: str, names: list[str], admin_url: str) -> str | None:
    key = zlib.crc32(f"clientloop.relay.{service}".encode())
    try:
        with psycopg.connect(admin_url) as connection:
            row = connection.execute(
                "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objid = %s "
                "AND a.datname = %s", (key & 0xFFFFFFFF, service)).fetchone()
    except psycopg.Error:
        return None
    if row is None or row[0] is None:
        return None
    sockets = subprocess.run(["ss", "-Htnp", f"sport = :{row[0]}"], capture_output=True,
                             text=True).stdout
    pids = {int(pid) for pid in re.findall(r"pid=(\d+)", sockets)}
    for name in names:
        if suite.process(name).pid in pids:
            return name
    return None


def restart_server(what: str, restart: Callable[[], None]) -> Callable[[], str]:
    def inject() -> str:
        started = time.monotonic()
        restart()
        return f"{what}; back after {time.monotonic() - started:.1f} s"
    return inject
