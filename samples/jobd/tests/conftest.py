"""Fixtures for hive-jobd's end-to-end tests: a live jobd, started and stopped here.

The program is $HIVE_JOBD (ctest sets it to the built target), else
build/hive-jobd in the repository. ``jobd`` gives each test a jobd of its
own: a fresh directory (token file, database, admin socket), a free gateway
port, started with ``JobdService.start()`` and waited for until it logs
``hive-jobd ready``; at teardown it is stopped with SIGTERM and must exit 0
(unless the test ended it itself, e.g. with SIGKILL, in which case it only has
to be gone).

Every process a jobd leads to is ours: jobd itself, its zygote
("hive-zygote", spawned by jobd, same environment) and the zygote's
children (the isolated jobs, each in a process group of its own). All carry
an environment variable with this session's marker, which survives the
reparenting to init that follows a SIGKILL of jobd; so "nothing of ours is
left" is checked by walking /proc for that marker (and, while jobd lives,
for processes whose parent chain leads to it), after each jobd ends and once
more when the session ends.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

import pytest

ROOT = Path(__file__).resolve().parents[3]  # samples/jobd/tests -> the repository
sys.path.insert(0, str(ROOT / "clients" / "python"))
sys.path.insert(0, str(ROOT / "samples" / "jobd"))
sys.dont_write_bytecode = True

from jobd_client import FINAL_STATES, TAG_ENDED, Jobd, JobdError  # noqa: E402,F401

JOBD_PROGRAM = os.environ.get("HIVE_JOBD", str(ROOT / "build" / "hive-jobd"))
START_TIMEOUT = 30.0  # seconds for jobd to log "ready" (generous: a loaded 2-core box, sanitizers)
STOP_TIMEOUT = 10.0  # seconds for it to exit after SIGTERM
GONE_TIMEOUT = 10.0  # seconds for its zygote and children to die after jobd ended

MARKER_VAR = "HIVE_JOBD_E2E_MARKER"
SESSION_MARKER = f"jobd-e2e-{os.getpid()}-{secrets.token_hex(4)}"

# Every pid this session started or saw under a jobd of its own.
STARTED_PIDS: Set[int] = set()

READY_RE = re.compile(r'msg="hive-jobd ready"')
PORT_RE = re.compile(r'msg="gateway listening on port (\d+)"')


# ---- /proc ------------------------------------------------------------------


def _stat(pid: int) -> Optional[tuple]:
    """(state, ppid, pgid) of a live pid, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    rest = data[data.rfind(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[2])


def _has_marker(pid: int, marker: str, prefix: bool = False) -> bool:
    """Whether the process's environment holds MARKER_VAR=marker (or a value
    starting with marker)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read()
    except OSError:
        return False
    want = f"{MARKER_VAR}={marker}".encode()
    return any(v == want or (prefix and v.startswith(want)) for v in env.split(b"\0"))


def _all_pids() -> List[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return "?"


def descendants(root: int) -> List[int]:
    """Live processes whose parent chain leads to root (root excluded)."""
    parent = {}
    for pid in _all_pids():
        st = _stat(pid)
        if st is not None:
            parent[pid] = st[1]
    out = []
    for pid in parent:
        p, hops = parent.get(pid), 0
        while p is not None and p > 1 and hops < 64:
            if p == root:
                out.append(pid)
                break
            p, hops = parent.get(p), hops + 1
    return out


def ours_alive(marker: str, prefix: bool = False) -> List[str]:
    """Processes carrying marker, or recorded by this session, that still run
    (zombies left to init, which reaps when it likes, do not count)."""
    left = []
    for pid in _all_pids():
        st = _stat(pid)
        if st is None or st[0] in ("Z", "X"):
            continue
        if _has_marker(pid, marker, prefix):
            left.append(f"{pid} ({_comm(pid)}, state {st[0]}, parent {st[1]})")
    return left


def wait_ours_gone(marker: str, timeout: float = GONE_TIMEOUT) -> List[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = ours_alive(marker)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


# ---- the service ------------------------------------------------------------


class JobdService:
    """One jobd: .directory, .db, .token, .port, .address, .proc, .log_text()."""

    def __init__(self, directory: Path, db: Optional[Path] = None) -> None:
        self.directory = directory
        self.db = db if db is not None else directory / "jobd.db"
        self.token = secrets.token_hex(16)
        self.token_file = directory / "token"
        self.token_file.write_text(self.token + "\n")
        os.chmod(self.token_file, 0o600)
        self.admin_socket = directory / "admin.sock"
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0
        self.marker = ""
        self.args: List[str] = []
        self.extra: List[str] = []
        self.runs = 0
        self._lines: List[str] = []
        self._cond = threading.Condition()
        self._reader: Optional[threading.Thread] = None
        self._clients: List[Jobd] = []
        self.seen_children: Set[int] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- log --

    def log_text(self) -> str:
        with self._cond:
            return "".join(self._lines)

    def _read_log(self, stream, log_file) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace")
            log_file.write(line)
            log_file.flush()
            with self._cond:
                self._lines.append(line)
                self._cond.notify_all()
        stream.close()
        log_file.close()
        with self._cond:
            self._lines.append("")  # wakes waiters
            self._cond.notify_all()

    def wait_log(self, pattern: "re.Pattern[str]", timeout: float, since: int = 0) -> Optional["re.Match[str]"]:
        """The first match of pattern in the log lines from index since; None if
        none came within timeout or jobd exited first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._lines[since:]:
                    m = pattern.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc is not None and self.proc.poll() is not None
                                 and not self._reader.is_alive()):
                    return None
                self._cond.wait(min(left, 0.2))

    # -- life --

    def spawn(self, *extra: str) -> subprocess.Popen:
        """Starts jobd (does not wait for ready): the Popen."""
        if not os.access(JOBD_PROGRAM, os.X_OK):
            pytest.fail(f"{JOBD_PROGRAM} is missing or not executable (build it, or set HIVE_JOBD)",
                        pytrace=False)
        assert self.proc is None or self.proc.poll() is not None, "jobd already runs"
        self.runs += 1
        self.marker = f"{SESSION_MARKER}-{secrets.token_hex(4)}"
        self.extra = list(extra)
        self.args = [JOBD_PROGRAM, "--gateway", "127.0.0.1:0", "--token-file", str(self.token_file),
                     "--db", str(self.db), "--admin-socket", str(self.admin_socket), *extra]
        env = dict(os.environ)
        env[MARKER_VAR] = self.marker
        env.pop("HIVE_GATEWAY_TOKEN", None)
        with self._cond:
            self._lines = []
        log_file = open(self.directory / f"jobd.{self.runs}.log", "w")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env, start_new_session=True,
                                     cwd=str(self.directory))
        STARTED_PIDS.add(self.proc.pid)
        self._reader = threading.Thread(target=self._read_log, args=(self.proc.stderr, log_file),
                                        daemon=True, name=f"jobd-log-{self.proc.pid}")
        self._reader.start()
        return self.proc

    def start(self, *extra: str) -> "JobdService":
        """Starts jobd and waits for its ready line."""
        self.spawn(*extra)
        if self.wait_log(READY_RE, START_TIMEOUT) is None:
            rc = self.proc.poll()
            if rc is None:
                self.proc.kill()
                self.proc.wait()
            pytest.fail(f"jobd did not log ready within {START_TIMEOUT} s (exit {rc});\n"
                        f"log:\n{self.log_text()}", pytrace=False)
        m = self.wait_log(PORT_RE, 0)
        assert m is not None, f"no gateway port in the log:\n{self.log_text()}"
        self.port = int(m.group(1))
        self.note_children()
        return self

    def note_children(self) -> None:
        """Records the pids under jobd now (its zygote, its job processes)."""
        if self.proc is not None and self.proc.poll() is None:
            for pid in descendants(self.proc.pid):
                self.seen_children.add(pid)
                STARTED_PIDS.add(pid)

    def client(self, timeout: float = 30.0) -> Jobd:
        """A Jobd client connected to this jobd (closed at stop)."""
        c = Jobd(self.address, token=self.token, timeout=timeout)
        self._clients.append(c)
        return c

    def close_clients(self) -> None:
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass
        self._clients = []

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        self.note_children()
        self.proc.send_signal(sig)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM; asserts exit 0 within timeout and the "stopped" line."""
        self.close_clients()
        if not self.running():
            return self.proc.returncode
        self.signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"jobd did not exit within {timeout} s of SIGTERM;\nlog:\n{self.log_text()}",
                        pytrace=False)
        self.join_log()
        assert rc == 0, f"jobd exited {rc} after SIGTERM;\nlog:\n{self.log_text()}"
        assert "hive-jobd stopped" in self.log_text(), self.log_text()
        self.assert_nothing_left()
        return rc

    def kill(self) -> None:
        """SIGKILL, reaped; its zygote and children must follow it."""
        self.close_clients()
        self.signal(signal.SIGKILL)
        self.proc.wait(STOP_TIMEOUT)
        assert self.proc.returncode == -signal.SIGKILL
        self.assert_nothing_left()
        self.join_log()

    def wait_exit(self, timeout: float) -> int:
        """Waits for a jobd that ends by itself: its exit status."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"jobd still ran {timeout} s after it should have exited;\nlog:\n"
                        f"{self.log_text()}", pytrace=False)
        self.join_log()
        return rc

    def join_log(self) -> None:
        if self._reader is not None:
            self._reader.join(GONE_TIMEOUT)

    def restart(self, *extra: str) -> "JobdService":
        """Starts jobd again on the same database (stopping it first if it runs),
        with the same flags unless others are given."""
        if self.running():
            self.stop()
        flags = list(extra) if extra else self.extra
        return self.start(*flags)

    def assert_nothing_left(self) -> None:
        left = wait_ours_gone(self.marker)
        assert not left, f"processes of jobd {self.proc.pid} still run after it ended: {left}"

    def teardown(self) -> None:
        self.close_clients()
        if self.proc is None:
            return
        if self.running():
            self.stop()
        else:
            self.join_log()
            self.assert_nothing_left()


@pytest.fixture
def workdir():
    """A fresh, short directory (Unix socket paths are limited to 107 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="jobd-e2e-"))
    yield d
    if os.environ.get("JOBD_E2E_KEEP"):  # keep the logs and databases to look at
        print(f"kept {d}")
    else:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def service(workdir):
    """A JobdService not yet started (the test starts it, with its own flags)."""
    svc = JobdService(workdir)
    yield svc
    svc.teardown()


# Two jobs at once on three workers; test_jobd.py also runs jobd with as
# many running jobs as workers (jobs yield every 5 ms slice).
DEFAULT_FLAGS = ("--workers", "3", "--max-running", "2")


@pytest.fixture
def jobd_service(service):
    """A started jobd (DEFAULT_FLAGS)."""
    return service.start(*DEFAULT_FLAGS)


@pytest.fixture
def jobd(jobd_service) -> Jobd:
    """A client of a started jobd."""
    return jobd_service.client()


@pytest.fixture(autouse=True, scope="session")
def _no_process_left():
    """At the session's end: no process any jobd of this session led to still runs
    (found by the marker every jobd run's marker starts with, and by the pids
    recorded along the way)."""
    yield
    left = set(ours_alive(SESSION_MARKER, prefix=True))
    for pid in STARTED_PIDS:
        st = _stat(pid)
        if st is not None and st[0] not in ("Z", "X") and _has_marker(pid, SESSION_MARKER, prefix=True):
            left.add(f"{pid} ({_comm(pid)}, recorded)")
    assert not left, f"processes this session started still run: {sorted(left)}"


# ---- helpers the tests share --------------------------------------------------


def raw(jobd: Jobd, data: Any, timeout: float = 30.0) -> Any:
    """Any data as a call to "jobd"; an {"error": ..} answer raises JobdError."""
    answer = jobd.client.call("jobd", data, timeout=timeout)
    if isinstance(answer, dict) and "error" in answer and "id" not in answer:
        raise JobdError(answer["error"], answer.get("detail", ""))
    return answer


def wait_state(jobd: Jobd, job: int, states, timeout: float = 30.0,
               attempts: Optional[int] = None) -> Dict[str, Any]:
    """Polls status (no push exists for a start) until the job is in one of
    states, and has been started `attempts` times if that is given: after a
    restart, a job that was running shows "running" until it starts again."""
    if isinstance(states, str):
        states = (states,)
    deadline = time.monotonic() + timeout
    while True:
        st = jobd.status(job)
        if st["state"] in states and (attempts is None or st["attempts"] == attempts):
            return st
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job} not {states} within {timeout} s: {st}")
        time.sleep(0.01)


def final(jobd: Jobd, job: int, wait: float = 60.0) -> Dict[str, Any]:
    """The job's result once it ended (result with wait_ms); asserts it ended."""
    r = jobd.result(job, wait=wait)
    assert r["state"] in FINAL_STATES, f"job {job} did not end within {wait} s: {r}"
    return r
