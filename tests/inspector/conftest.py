"""Nodes with an HTTP endpoint, for the tests that look at it from outside:
a real browser (test_browser.py) and a real Prometheus (test_prometheus.py).

ctest passes the programs in the environment: HIVE_SERVICE (samples/service)
and HIVE_HTTP_NODE (tests/http_node.c); screenshots go to HIVE_ARTIFACTS.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

TIMEOUT = 60


class Node:
    """A node process serving HTTP on a port it chose; its address in url."""

    def __init__(self, argv, stop_by_stdin):
        self.stop_by_stdin = stop_by_stdin
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + TIMEOUT
        self.url = None
        while self.url is None:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{argv[0]} ended before serving: {self.proc.stderr.read()}")
            m = re.search(r"inspector: (http://\S+)", line)
            if m:
                self.url = m.group(1)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} did not serve within {TIMEOUT} s")

    def api(self, path):
        """GET path: (the decoded JSON body, the X-Total-Count header)."""
        with urllib.request.urlopen(self.url.rstrip("/") + path, timeout=TIMEOUT) as r:
            return json.load(r), r.headers.get("X-Total-Count")

    def stop(self):
        if self.proc.poll() is None:
            if self.stop_by_stdin:
                self.proc.stdin.close()  # http_node stops its node in order
            else:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f and not f.closed:
                f.close()
        return self.proc.returncode


def program(var):
    path = os.environ.get(var)
    if not path:
        pytest.fail(f"{var} is not set: run these tests through ctest")
    return path


@pytest.fixture
def service():
    """samples/service: a supervisor "app" over producer, a backed-up consumer, and flaky."""
    folder = tempfile.mkdtemp(prefix="hive-inspector-")
    node = Node([program("HIVE_SERVICE"), "--http", "127.0.0.1:0", f"{folder}/admin.sock", "600"],
                stop_by_stdin=False)
    yield node
    node.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def make_http_node():
    """tests/http_node.c with the arguments given; stopped (in order) at the end."""
    nodes = []

    def make(*args):
        node = Node([program("HIVE_HTTP_NODE"), *map(str, args)], stop_by_stdin=True)
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        assert node.stop() == 0, "the node did not stop cleanly"


@pytest.fixture
def artifacts():
    path = Path(os.environ.get("HIVE_ARTIFACTS", tempfile.gettempdir()))
    path.mkdir(parents=True, exist_ok=True)
    return path


def wait_for(what, check, timeout=TIMEOUT, every=0.1):
    """Polls check() until it returns something true; fails naming what."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (urllib.error.URLError, ConnectionError, KeyError, IndexError, ValueError) as e:
            last = e
        time.sleep(every)
    pytest.fail(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
