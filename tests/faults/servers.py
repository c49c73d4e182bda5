"""A private PostgreSQL cluster and a private RabbitMQ node, started as operators start them.

The fault suite restarts its servers, so it never uses the machine's shared ones: each run gets
its own cluster (``initdb`` + ``pg_ctl`` on a free port, in a temporary folder owned by
``postgres``) and its own RabbitMQ node (its own node name, AMQP and distribution ports, data,
log, cookie and plugin files, in a temporary folder owned by ``rabbitmq``). Both restart with
their data kept; ``destroy`` stops them and removes their folders, whatever state they are in.

    with PrivatePostgres() as postgres, PrivateRabbit() as rabbit:
        url = postgres.create_database("registry")       # postgresql://postgres@127.0.0.1:P/registry
        rabbit.url                                       # amqp://guest:guest@127.0.0.1:P/
        postgres.restart(); rabbit.restart()
"""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


def free_port(low: int | None = None, high: int | None = None) -> int:
    """A TCP port nothing listens on: any (kernel's choice), or one in ``[low, high)``."""
    if low is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    for port in secrets.SystemRandom().sample(range(low, high), min(200, high - low)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in [{low}, {high})")


def _owned_folder(prefix: str, user: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    entry = pwd.getpwnam(user)
    os.chown(folder, entry.pw_uid, entry.pw_gid)
    folder.chmod(0o755)
    return folder


def _as(user: str, *command: str | Path, env: dict[str, str] | None = None, timeout: float = 120,
        check: bool = True) -> subprocess.CompletedProcess:
    environment = [f"{name}={value}" for name, value in (env or {}).items()]
    return subprocess.run([*_runuser(user), "env", *environment, *map(str, command)],
                          capture_output=True, text=True, timeout=timeout, check=check)


def _runuser(user: str) -> list[str]:
    """The prefix that runs a command as ``user`` (none when we are that user already)."""
    return [] if pwd.getpwuid(os.getuid()).pw_name == user else ["runuser", "-u", user, "--"]


def _wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class PrivatePostgres:
    """One PostgreSQL 15 cluster of this test's own: trust authentication, user ``postgres``."""

    def __init__(self) -> None:
        self.folder = _owned_folder("clientloop-faults-pg-", "postgres")
        self.data = self.folder / "data"
        self.port = free_port()
        self.log = self.folder / "server.log"
        try:
            _as("postgres", PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                "-E", "UTF8", "--no-sync")
            with (self.data / "postgresql.conf").open("a") as conf:
                conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                           f"unix_socket_directories = '{self.folder}'\nmax_connections = 300\n")
            self.start()
        except BaseException:
            self.destroy()
            raise

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return _as("postgres", PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, *args,
                   timeout=timeout)

    def start(self) -> None:
        self._ctl("start", "-w", "-t", "60")
        if not _wait_for_port(self.port, 30):
            raise RuntimeError(f"private PostgreSQL did not listen on {self.port}:\n{self.tail()}")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast", "-w", "-t", "60")

    def restart(self, down_s: float = 0.0) -> None:
        """``pg_ctl restart -m fast`` (every connection is cut, the data stays), or with
        ``down_s`` a fast stop, that long with no server, and a start."""
        if not down_s:
            self._ctl("restart", "-m", "fast", "-w", "-t", "60")
        else:
            self.stop()
            time.sleep(down_s)
            self._ctl("start", "-w", "-t", "60")
        if not _wait_for_port(self.port, 30):
            raise RuntimeError(f"private PostgreSQL did not come back on {self.port}:\n{self.tail()}")

    def running(self) -> bool:
        return _as("postgres", PG_BIN / "pg_ctl", "-D", self.data, "status", check=False).returncode == 0

    def create_database(self, name: str) -> str:
        import psycopg
        with psycopg.connect(self.admin_url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.admin_url(name)

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def destroy(self) -> None:
        try:
            if self.data.exists() and self.running():
                _as("postgres", PG_BIN / "pg_ctl", "-D", self.data, "stop", "-m", "immediate",
                    "-w", "-t", "30", check=False)
        finally:
            _kill_pidfile(self.data / "postmaster.pid")
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "PrivatePostgres":
        return self

    def __exit__(self, *_exc) -> None:
        self.destroy()


class PrivateRabbit:
    """One RabbitMQ node of this test's own, restartable with its data (durable queues and
    persistent messages survive). Runs as ``rabbitmq`` with its own HOME, so its Erlang cookie
    is its own too; ``guest`` may connect from localhost."""

    def __init__(self) -> None:
        self.folder = _owned_folder("clientloop-faults-rabbit-", "rabbitmq")
        self.node = f"clientloop-faults-{secrets.token_hex(4)}@localhost"
        self.port = free_port()
        # CLI tools take distribution ports at RABBITMQ_DIST_PORT + 10000..10010.
        self.dist_port = free_port(26000, 30000)
        self.home = self.folder / "home"
        self.log = self.folder / "console.log"
        self.process: subprocess.Popen | None = None
        try:
            self._prepare()
            self.start()
        except BaseException:
            self.destroy()
            raise

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _prepare(self) -> None:
        entry = pwd.getpwnam("rabbitmq")
        self.home.mkdir()
        cookie = self.home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)
        (self.folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            "loopback_users.guest = true\n"
            "log.console = true\nlog.console.level = warning\nlog.file.level = info\n")
        (self.folder / "enabled_plugins").write_text("[].\n")
        (self.folder / "rabbitmq-env.conf").write_text(
            "ERL_EPMD_ADDRESS=127.0.0.1\n"
            'export ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"\n')
        for path in (self.home, cookie, self.folder / "rabbitmq.conf", self.folder / "enabled_plugins",
                     self.folder / "rabbitmq-env.conf"):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _env(self) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_CONF_ENV_FILE": str(self.folder / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq.conf"),
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(self.folder / "feature_flags"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.folder / "plugins-expand"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def ctl(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        return _as("rabbitmq", RABBIT_BIN / "rabbitmqctl", "-n", self.node, *args, env=self._env(),
                   timeout=timeout, check=check)

    def start(self) -> None:
        log = self.log.open("ab")
        environment = [f"{name}={value}" for name, value in self._env().items()]
        self.process = subprocess.Popen(
            [*_runuser("rabbitmq"), "env", *environment, str(RABBIT_BIN / "rabbitmq-server")],
            cwd=self.folder, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        log.close()
        deadline = time.monotonic() + 90
        while True:  # await_startup fails at once until the node has registered with epmd
            answer = self.ctl("await_startup", "--timeout", "60", timeout=90, check=False)
            if answer.returncode == 0:
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"private RabbitMQ {self.node} did not start: {answer.stderr}\n"
                                   f"{self.tail()}")
            time.sleep(0.5)
        if not _wait_for_port(self.port, 30):
            raise RuntimeError(f"private RabbitMQ did not listen on {self.port}:\n{self.tail()}")

    def stop(self) -> None:
        """``rabbitmqctl stop``: the node shuts down cleanly, its data stays."""
        self.ctl("stop", check=False, timeout=120)
        if self.process is not None:
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                _kill_group(self.process, signal.SIGKILL)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def destroy(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.ctl("stop", check=False, timeout=60)
                try:
                    self.process.wait(30)
                except subprocess.TimeoutExpired:
                    pass
            if self.process is not None:
                _kill_group(self.process, signal.SIGKILL)
                self.process.wait(10)
            _kill_processes_mentioning(str(self.folder))
        finally:
            self.process = None
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "PrivateRabbit":
        return self

    def __exit__(self, *_exc) -> None:
        self.destroy()


def _kill_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_pidfile(pidfile: Path) -> None:
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_processes_mentioning(folder: str) -> None:
    """Processes (the node's Erlang VM and helpers) that outlived their process group: found by
    this node's own temporary folder on their command line, killed by id."""
    result = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True)
    for line in result.stdout.splitlines():
        pid, _, args = line.strip().partition(" ")
        if folder in args and pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
