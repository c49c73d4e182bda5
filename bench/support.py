"""What every path of the performance suite shares: scratch databases and virtual hosts, the
processes it starts (as production starts them), figures and the rows of the table."""
from __future__ import annotations

import contextlib
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
RABBIT = ("127.0.0.1", 5672)
#: The key every process of a run signs and checks tokens with (only this run's scratch data).
SECRET = "clientloop-bench-secret-" + uuid.uuid4().hex
#: The public form's rate limit during the bench (the default, 30 a minute per address, would
#: refuse the load generator's requests: they all come from 127.0.0.1).
UNLIMITED = "100000000 per minute"


# == figures =======================================================================================

def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` 0.5 for the median, 0.99 for p99)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


@dataclass
class Row:
    """One line of the table: a figure of a path, the floor (or baseline) measured beside it in
    the same run, and the goal. ``kind`` says how ``met`` is decided:

    * ``ratio_min``: measured / floor ≥ ``target`` (throughput);
    * ``ratio_max``: measured / floor ≤ ``target`` (growth);
    * ``below``: measured < ``target`` (a latency or a size, in ``unit``);
    * ``info``: no goal, shown for the ratio only.
    """

    path: str
    what: str
    measured: float | None
    floor: float | None
    unit: str
    kind: str = "info"
    target: float | None = None
    floor_what: str = ""
    note: str = ""
    failed: str | None = None  # why the figure could not be taken (the path goes on)

    @property
    def ratio(self) -> float | None:
        if self.measured is None or not self.floor or not math.isfinite(self.measured) \
                or not math.isfinite(self.floor):
            return None
        return self.measured / self.floor

    @property
    def goal(self) -> str:
        if self.kind == "ratio_min":
            return f"≥ {self.target:g}× floor"
        if self.kind == "ratio_max":
            return f"≤ {self.target:g}× baseline"
        if self.kind == "below":
            return f"< {self.target:g} {self.unit}"
        return "—"

    @property
    def met(self) -> bool | None:
        if self.kind == "info":
            return None
        if self.failed or self.measured is None or math.isnan(self.measured):
            return False
        if self.kind == "below":
            return self.measured < self.target
        ratio = self.ratio
        if ratio is None:
            return False
        return ratio >= self.target if self.kind == "ratio_min" else ratio <= self.target

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(ratio=self.ratio, goal=self.goal, met=self.met)
        return finite(data)


@dataclass
class PathResult:
    name: str
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    load_before: float = 0.0
    load_after: float = 0.0
    error: str | None = None

    def add(self, what: str, measured: float | None, floor: float | None, unit: str,
            **more) -> Row:
        row = Row(self.name, what, measured, floor, unit, **more)
        self.rows.append(row)
        return row


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity (an unanswered request's latency) made None, as
    JSON has neither."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def fmt(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if value == math.inf:
        return "unanswered"
    if unit in ("req/s", "events/s", "msg/s"):
        return f"{value:,.0f} {unit}"
    if unit == "ms":
        return f"{value:,.1f} ms" if value < 1000 else f"{value:,.0f} ms"
    if unit == "MB":
        return f"{value:,.1f} MB"
    if unit == "s":
        return f"{value:,.1f} s"
    return f"{value:,.2f} {unit}".strip()


def table(rows: list[Row]) -> str:
    lines = ["| path | measured | floor | ratio | goal | met? |", "|---|---:|---:|---:|---|---|"]
    for row in rows:
        floor = fmt(row.floor, row.unit)
        if row.floor_what:
            floor = f"{floor} ({row.floor_what})"
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f}×"
        met = {True: "yes", False: "**no**", None: "—"}[row.met]
        measured = fmt(row.measured, row.unit)
        if row.failed:
            measured = f"{measured} (failed: {row.failed})"
        note = f" ({row.note})" if row.note else ""
        lines.append(f"| {row.path}: {row.what}{note} | {measured} | {floor} | {ratio} | "
                     f"{row.goal} | {met} |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the figures were taken on."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    info: dict[str, Any] = {"cores": os.cpu_count(), "cpu": model, "memory_gib": memory_gib,
                            "python": platform.python_version(), "system": platform.platform(),
                            "load_average": list(os.getloadavg())}
    with contextlib.suppress(Exception):
        import psycopg
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as db:
            info["postgresql"] = db.execute("SHOW server_version").fetchone()[0]
    return info


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def say(message: str) -> None:
    print(f"  {message}", flush=True)


# == scratch PostgreSQL databases and RabbitMQ virtual hosts =========================================

def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def scratch_databases(*names: str) -> Iterator[dict[str, str]]:
    """``clientloop_bench_<random>_<name>`` for each name, created empty and dropped after."""
    import psycopg
    prefix = f"clientloop_bench_{uuid.uuid4().hex[:8]}"
    databases = {name: f"{prefix}_{name}" for name in names}
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as db:
            for database in databases.values():
                db.execute(f'CREATE DATABASE "{database}"')
        yield {name: PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
               for name, database in databases.items()}
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as db:
            for database in databases.values():
                db.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


@contextlib.contextmanager
def scratch_vhost() -> Iterator[str]:
    """A RabbitMQ virtual host of its own (the topology's names are fixed), deleted after; its
    AMQP URL."""
    name = f"clientloop_bench_{uuid.uuid4().hex[:8]}"
    _rabbitmqctl("add_vhost", name)
    try:
        _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{RABBIT[0]}:{RABBIT[1]}/{name}"
    finally:
        with contextlib.suppress(Exception):
            _rabbitmqctl("delete_vhost", name)


def migrate(service: str, url: str) -> None:
    from shared.migrations import upgrade
    upgrade(service, url)


def staff_token(role: str = "admin", name: str = "bench") -> str:
    from shared.auth import issue
    token, _principal = issue(SECRET, name=name, role=role, days=1, now=now_utc())
    return token


# == processes ======================================================================================

def service_env(work: Path, **variables: str) -> dict[str, str]:
    """The environment of a process started by the bench: this one's, without any
    ``CLIENTLOOP_*`` of the caller's, plus ``variables``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("CLIENTLOOP_")}
    env.update(CLIENTLOOP_LOG_FORMAT="json", CLIENTLOOP_SECRET_KEY=SECRET,
               CLIENTLOOP_DATA_DIR=str(work / "data"), CLIENTLOOP_RATELIMIT_PUBLIC=UNLIMITED)
    env.update(variables)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, seconds: float = 20) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def started(command: list[str], env: dict[str, str], log_path: Path, *,
            ready: Callable[[], bool] | None = None, timeout: float = 90
            ) -> Iterator[subprocess.Popen]:
    """A process of the suite (``python -m shared.cli serve …``, gunicorn, a relay…), its output
    in ``log_path``; waits for ``ready()`` if given; stopped (SIGTERM) on leaving."""
    log = open(log_path, "ab")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        if ready is not None:
            deadline = time.monotonic() + timeout
            while not ready():
                if process.poll() is not None:
                    raise RuntimeError(f"{' '.join(command[:5])} exited ({process.returncode}); "
                                       f"see {log_path}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{' '.join(command[:5])} not ready in {timeout:.0f} s; "
                                       f"see {log_path}")
                time.sleep(0.2)
        yield process
    finally:
        stop(process)
        log.close()


def answers(url: str) -> Callable[[], bool]:
    def check() -> bool:
        import requests
        try:
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False
    return check


def clientloop(*args: str) -> list[str]:
    """The ``clientloop`` command line, as this interpreter runs it."""
    return [sys.executable, "-m", "shared.cli", *args]


@contextlib.contextmanager
def serve(service: str, env: dict[str, str], work: Path, *, workers: int = 4,
          threads: int = 4) -> Iterator[tuple[str, subprocess.Popen]]:
    """``clientloop serve SERVICE --workers N`` (gunicorn, gthread, ``threads`` each) on a free
    port of 127.0.0.1; yields its base URL and the gunicorn master process."""
    port = free_port()
    metrics = work / f"metrics-{service}-{port}"
    metrics.mkdir(parents=True, exist_ok=True)
    env = dict(env, CLIENTLOOP_THREADS=str(threads), PROMETHEUS_MULTIPROC_DIR=str(metrics))
    base = f"http://127.0.0.1:{port}"
    with started(clientloop("serve", service, "--bind", f"127.0.0.1:{port}", "--workers",
                            str(workers)), env, work / f"serve-{service}-{port}.log",
                 ready=answers(f"{base}/healthz")) as process:
        yield base, process


@contextlib.contextmanager
def gunicorn(app: str, env: dict[str, str], work: Path, *, workers: int,
             threads: int) -> Iterator[str]:
    """A WSGI app of the bench (a floor) under gunicorn with the project's own settings
    (``shared.gunicorn_conf``: gthread), on a free port; yields its base URL."""
    port = free_port()
    env = dict(env, CLIENTLOOP_THREADS=str(threads))
    base = f"http://127.0.0.1:{port}"
    with started([sys.executable, "-m", "gunicorn", "-c", "python:shared.gunicorn_conf",
                  "--bind", f"127.0.0.1:{port}", "--workers", str(workers), app], env,
                 work / f"floor-{port}.log", ready=answers(f"{base}/healthz")):
        yield base


def worker_pids(master_pid: int) -> list[int]:
    """The gunicorn workers (children) of ``master_pid``."""
    try:
        text = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text()
        return [int(pid) for pid in text.split()]
    except OSError:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master_pid:
                        pids.append(int(entry.name))
        return pids


def memory_kib(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


def reset_peak(pid: int) -> bool:
    """Reset the process's peak RSS (``VmHWM``) to its current RSS (Linux, same user or root)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False
