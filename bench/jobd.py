#!/usr/bin/python3
"""bench/jobd.py [--jobd BUILD/hive-jobd] [--tiny N] [--ranges R --size S]:
hive-jobd (samples/jobd) as Python programs use it.

Starts hive-jobd on loopback with a fresh database (every submit durable:
answered once committed, WAL, synchronous=FULL) and measures:
  - tiny jobs submitted from 8 processes, each one client with 32 submits
    in flight: submits/s, and jobs/s until the last has run;
  - submit-to-start latency of jobs submitted one at a time to an idle
    jobd (jobd's own started_ms - submitted_ms): p50, p99;
  - a batch of R prime-counting ranges of S numbers (trial division, the
    DESIGN.md workload): wall time and CPU use of jobd's process, in % of
    one core (the target on 2 cores: above 180 %);
  - for scale, the same batch through Python's ProcessPoolExecutor(2).
Prints one RESULT line each (DESIGN.md's format, with extra fields), and a
progress line before each on stderr.
"""

import argparse
import collections
import concurrent.futures
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
sys.path.insert(0, os.path.join(ROOT, "samples", "jobd"))
from jobd_client import Jobd  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def result(name, n, secs, peer="hive", **extra):
    fields = " ".join(f"{k}={v}" for k, v in extra.items())
    print(f"RESULT peer={peer} bench={name} n={n} secs={secs:.3f} rate={n / secs:.0f} {fields}".rstrip(),
          flush=True)


def progress(text):
    print(f"jobd bench: {text}", file=sys.stderr, flush=True)


class Service:
    """hive-jobd in a temporary folder, on a free loopback port."""

    def __init__(self, binary):
        self.dir = tempfile.mkdtemp(prefix="hive-bench-jobd-")
        self.token = secrets.token_hex(16)
        with open(os.path.join(self.dir, "token"), "w") as f:
            f.write(self.token + "\n")
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.proc = subprocess.Popen(
            [binary, "--gateway", "127.0.0.1:0", "--token-file", os.path.join(self.dir, "token"),
             "--db", os.path.join(self.dir, "jobs.db"), "--max-queued", "1000000"],
            stderr=self.log)
        deadline = time.monotonic() + 30
        self.address = None
        while time.monotonic() < deadline and self.proc.poll() is None:
            self.log.seek(0)
            text = self.log.read()
            port = re.search(r"gateway listening on port (\d+)", text)
            if port and "hive-jobd ready" in text:
                self.address = f"127.0.0.1:{port.group(1)}"
                break
            time.sleep(0.02)
        if self.address is None:
            self.stop()
            raise SystemExit("hive-jobd did not start")

    def cpu_seconds(self):
        """jobd's CPU time so far (user + system), from /proc."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def submit_tiny(address, token, n, depth, out):
    """One process: n tiny jobs, depth submits in flight; returns the ids."""
    with Jobd(address, token=token) as jobd:
        window = collections.deque()
        ids = []
        fields = {"op": "submit", "kind": "primes", "args": [0, 10]}
        for _ in range(n):
            if len(window) == depth:
                ids.append(window.popleft().result()["id"])
            window.append(jobd.client.call_async("jobd", fields, timeout=60))
        while window:
            ids.append(window.popleft().result()["id"])
    out.put(ids[-1] if ids else 0)


def bench_tiny(svc, n, procs=8, depth=32):
    per = n // procs
    out = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=submit_tiny, args=(svc.address, svc.token, per, depth, out))
               for _ in range(procs)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    submitted = time.perf_counter() - t0
    with Jobd(svc.address, token=svc.token) as jobd:
        while True:
            counts = jobd.counts()
            if counts["queued"] == 0 and counts["running"] == 0:
                break
            time.sleep(0.01)
        ran = time.perf_counter() - t0
    return per * procs, submitted, ran


def bench_start_latency(svc, n):
    with Jobd(svc.address, token=svc.token) as jobd:
        lat = []
        for _ in range(n):
            job = jobd.submit("primes", [0, 10])
            status = jobd.result(job, wait=10)
            lat.append(status["started_ms"] - status["submitted_ms"])
    lat.sort()
    return lat[len(lat) // 2], lat[len(lat) * 99 // 100]


def bench_primes(svc, ranges, size):
    with Jobd(svc.address, token=svc.token) as jobd:
        cpu0, t0 = svc.cpu_seconds(), time.perf_counter()
        jobs = [jobd.submit("primes", [i * size, (i + 1) * size]) for i in range(ranges)]
        total = sum(jobd.result(job, wait=600)["result"] for job in jobs)
        secs = time.perf_counter() - t0
        cpu = svc.cpu_seconds() - cpu0
    return total, secs, cpu


def count_primes(lo, hi):
    count = 0
    for n in range(lo, hi):
        if n < 2:
            continue
        d = 2
        while d * d <= n:
            if n % d == 0:
                break
            d += 1
        else:
            count += 1
    return count


def bench_pool(ranges, size):
    t0 = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        total = sum(pool.map(count_primes, [i * size for i in range(ranges)],
                             [(i + 1) * size for i in range(ranges)]))
    return total, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobd", default=os.path.join(ROOT, "build", "hive-jobd"))
    ap.add_argument("--tiny", type=int, default=40000, help="tiny jobs (default 40000)")
    ap.add_argument("--latency", type=int, default=500, help="jobs timed one at a time")
    ap.add_argument("--ranges", type=int, default=16)
    ap.add_argument("--size", type=int, default=200000)
    ap.add_argument("--no-pool", action="store_true", help="skip ProcessPoolExecutor")
    args = ap.parse_args()

    svc = Service(args.jobd)
    try:
        progress(f"{args.tiny} tiny jobs from 8 processes, 32 submits in flight each")
        n, submitted, ran = bench_tiny(svc, args.tiny)
        result("jobd_submit", n, submitted, jobs_per_s=f"{n / ran:.0f}", all_ran_secs=f"{ran:.3f}")
        progress(f"submit-to-start latency, {args.latency} jobs one at a time")
        p50, p99 = bench_start_latency(svc, args.latency)
        result("jobd_start_latency", args.latency, 1.0, p50_ms=p50, p99_ms=p99)
        progress(f"{args.ranges} prime-counting ranges of {args.size}")
        total, secs, cpu = bench_primes(svc, args.ranges, args.size)
        result("jobd_primes", args.ranges, secs, cpu_pct=f"{100 * cpu / secs:.0f}", primes=total)
    finally:
        svc.stop()
    if not args.no_pool:
        progress("the same batch through ProcessPoolExecutor(2)")
        pool_total, pool_secs = bench_pool(args.ranges, args.size)
        result("pool_primes", args.ranges, pool_secs, peer="python", primes=pool_total)
        if pool_total != total:
            raise SystemExit(f"the counts differ: jobd {total}, Python {pool_total}")


if __name__ == "__main__":
    main()
