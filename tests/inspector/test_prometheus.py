"""A real Prometheus (Debian's prometheus package) scrapes a node's /metrics:
what it stores is what the node says."""
import json
import shutil
import socket
import subprocess
import tempfile
import urllib.parse
import urllib.request

import pytest

from conftest import TIMEOUT, wait_for

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(base, expr):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
        reply = json.load(r)
    assert reply["status"] == "success", reply
    return reply["data"]["result"]


@pytest.fixture
def prometheus():
    """Starts Prometheus on a free loopback port, storing into a temporary folder;
    yields a function that points it at a target and returns its base URL."""
    folder = tempfile.mkdtemp(prefix="hive-prometheus-")
    procs = []

    def start(target):
        config = f"{folder}/prometheus.yml"
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: hive\n"
                    f"    static_configs:\n      - targets: ['{target}']\n")
        port = free_port()
        log = open(f"{folder}/prometheus.log", "w")
        procs.append(subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={folder}/data",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log))
        base = f"http://127.0.0.1:{port}"
        wait_for("Prometheus to be ready",
                 lambda: urllib.request.urlopen(f"{base}/-/ready", timeout=5).status == 200)
        return base

    yield start
    for p in procs:
        p.terminate()
        p.wait(TIMEOUT)
    shutil.rmtree(folder, ignore_errors=True)


def test_prometheus_scrapes_the_node_and_stores_its_values(make_http_node, prometheus):
    node = make_http_node("--idle", 25, "--backlog", 1234)
    target = node.url.removeprefix("http://").rstrip("/")
    base = prometheus(target)

    up = wait_for("a successful scrape", lambda: [r for r in query(base, "up") if r["value"][1] == "1"])
    assert up[0]["metric"]["instance"] == target

    alive = wait_for("hive_actors_alive", lambda: query(base, "hive_actors_alive"))
    node_alive = node.api("/api/node")[0]["node"]["actors_alive"]
    assert node_alive == 26  # 25 idle actors and the backlog
    assert float(alive[0]["value"][1]) == node_alive

    # One series per actor: the backlog's mailbox, labelled with its name.
    series = wait_for("the backlog's mailbox series",
                      lambda: query(base, 'hive_actor_mailbox_length{name="backlog"}'))
    assert len(series) == 1
    node_backlog = node.api("/api/actors/backlog")[0]
    assert node_backlog["mailbox_len"] == 1234
    assert float(series[0]["value"][1]) == node_backlog["mailbox_len"]
    assert series[0]["metric"]["pid"] == node_backlog["pid"]
    assert series[0]["metric"]["behaviour"] == "backlog"
    idle = query(base, 'count(hive_actor_mailbox_length{behaviour="idle"})')
    assert float(idle[0]["value"][1]) == 25
