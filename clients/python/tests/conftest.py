"""Fixtures for hive_client's tests: a live hive node serving the test actors.

The node is tests/gateway_node.c (built as build/gateway_node; the
HIVE_GATEWAY_NODE environment variable overrides the path). It listens on
127.0.0.1 on a free port (token needed) and on a Unix socket (no token),
prints "port=PORT" once it serves, and stops when its stdin gets "stop".
``node`` is one node per test module; ``own_node`` a node of the test's own,
for tests that kill or stop it. Helpers every test file uses live here too.
"""

from __future__ import annotations

import faulthandler
import os
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import pytest

ROOT = Path(__file__).resolve().parents[3]  # clients/python/tests -> the repository
sys.path.insert(0, str(ROOT / "clients" / "python"))
sys.dont_write_bytecode = True  # leave no __pycache__ in the package under test

NODE_PROGRAM = os.environ.get("HIVE_GATEWAY_NODE", str(ROOT / "build" / "gateway_node"))
START_TIMEOUT = 10.0  # seconds for the node to print its port
STOP_TIMEOUT = 10.0  # seconds for it to exit after "stop"
TEST_WATCHDOG = 120.0  # a test still running after this long is a hang: dump stacks and exit


class Node:
    """A running gateway_node: .tcp, .unix, .token, .proc."""

    def __init__(self, directory: Path) -> None:
        self.token = secrets.token_hex(16)
        self.unix = _socket_path(directory)
        self.log_path = directory / "gateway_node.log"
        if not os.access(NODE_PROGRAM, os.X_OK):
            pytest.fail(f"the test node {NODE_PROGRAM} is missing or not executable "
                        f"(build it, or set HIVE_GATEWAY_NODE)", pytrace=False)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [NODE_PROGRAM, self.token, self.unix],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        try:
            self.port = self._read_port()
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            self._log.close()
            raise
        self.tcp = f"127.0.0.1:{self.port}"

    def _read_port(self) -> int:
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + START_TIMEOUT
        out = b""
        while b"\n" not in out:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"{NODE_PROGRAM} printed no port line within {START_TIMEOUT} s "
                            f"(stdout so far: {out!r}; {self.log()})", pytrace=False)
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    rc = self.proc.wait(STOP_TIMEOUT)
                    pytest.fail(f"{NODE_PROGRAM} exited ({rc}) before printing its port "
                                f"(stdout: {out!r}; {self.log()})", pytrace=False)
                out += chunk
        line = out.split(b"\n", 1)[0].decode(errors="replace").strip()
        if not line.startswith("port=") or not line[5:].isdigit():
            pytest.fail(f"{NODE_PROGRAM} printed {line!r}, not port=PORT", pytrace=False)
        return int(line[5:])

    def log(self) -> str:
        """What the node wrote to stderr, for failure messages."""
        try:
            return "its stderr: " + self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "no stderr"

    def request_stop(self) -> None:
        """Writes "stop" to the node's stdin; it answers calls in flight "shutdown" and exits."""
        if self.proc.poll() is not None or self.proc.stdin.closed:
            return
        try:
            self.proc.stdin.write(b"stop\n")
            self.proc.stdin.flush()
            self.proc.stdin.close()
        except OSError:  # it is gone already
            pass

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> Optional[int]:
        """The exit status, or None if it is still running after timeout seconds."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """Stops the node; fails the test if it does not exit cleanly within STOP_TIMEOUT."""
        self.request_stop()
        rc = self.wait_exit()
        try:
            self.proc.stdout.close()
        except OSError:
            pass
        if rc is None:
            self.proc.kill()
            self.proc.wait()
            self._log.close()
            pytest.fail(f"gateway_node did not exit within {STOP_TIMEOUT} s of 'stop'; killed it "
                        f"({self.log()})", pytrace=False)
        self._log.close()
        # SIGKILL comes only from a test that killed the node (proc.kill());
        # it may not have been reaped yet when the test ended.
        killed_by_test = rc == -signal.SIGKILL
        if not killed_by_test and rc != 0:
            pytest.fail(f"gateway_node exited with status {rc} after 'stop' ({self.log()})", pytrace=False)


def _socket_path(directory: Path) -> str:
    """directory/gw.sock, or a short directory's if that is over sun_path's 108 bytes."""
    path = str(directory / "gw.sock")
    if len(path.encode()) < 100:
        return path
    return os.path.join(tempfile.mkdtemp(prefix="hive-gw-"), "gw.sock")


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """One node for the whole test module."""
    n = Node(tmp_path_factory.mktemp("node"))
    yield n
    n.stop()


@pytest.fixture
def own_node(tmp_path):
    """A node of this test's own: the test may kill it (proc.kill()) or stop it."""
    n = Node(tmp_path)
    yield n
    n.stop()


@pytest.fixture(autouse=True)
def _watchdog():
    """A test that hangs despite its own timeouts ends the run with every thread's stack."""
    faulthandler.dump_traceback_later(TEST_WATCHDOG, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


# ---- helpers the test files import ------------------------------------------


def open_sockets() -> int:
    """How many of this process's file descriptors are sockets."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:  # the descriptor listdir itself used, now closed
            pass
    return count


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Polls predicate until it holds; fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"after {timeout} s still not: {what}")
        pause.wait(0.01)


def run_bounded(fn: Callable[[], object], timeout: float, what: str) -> object:
    """fn() in a thread of its own; its result, or a test failure if it takes over timeout s."""
    box: dict = {}

    def body() -> None:
        try:
            box["result"] = fn()
        except BaseException as e:  # handed to the test
            box["error"] = e

    t = threading.Thread(target=body, name=f"bounded: {what}", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        pytest.fail(f"{what} did not finish within {timeout} s")
    if "error" in box:
        raise box["error"]
    return box.get("result")
