#!/usr/bin/python3
"""bench/gateway.py [--calls N] [--bench BUILD/bench_gateway]: the gateway
from Python clients (bench/gateway.c measures a C client).

Starts `bench_gateway --serve` (a node with the gateway and an "echo"
actor) and measures, with hive_client:
  - one call at a time: rate, p50 and p99 latency;
  - 64 calls in flight from one client (call_async);
  - 8 processes, each one client with 64 calls in flight: the total rate;
  - sends from one client (then one call, answered once all were handled).
Prints one RESULT line each (shared/DESIGN.md's format, with p50_us and
p99_us where they apply), a progress line before each on stderr.
"""

import argparse
import collections
import multiprocessing
import os
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
from hive_client import Client  # noqa: E402

TOKEN = "bench"


def result(name, n, secs, **extra):
    fields = " ".join(f"{k}={v}" for k, v in extra.items())
    print(f"RESULT peer=hive bench={name} n={n} secs={secs:.3f} rate={n / secs:.0f} {fields}".rstrip(),
          flush=True)


def call_one_at_a_time(address, n):
    with Client(address, token=TOKEN) as c:
        lat = []
        t0 = time.perf_counter()
        for i in range(n):
            t = time.perf_counter()
            c.call("echo", i)
            lat.append(time.perf_counter() - t)
        secs = time.perf_counter() - t0
    lat.sort()
    return secs, lat[len(lat) // 2] * 1e6, lat[len(lat) * 99 // 100] * 1e6


def call_in_flight(address, n, depth=64):
    with Client(address, token=TOKEN) as c:
        window = collections.deque()
        t0 = time.perf_counter()
        for i in range(n):
            if len(window) == depth:
                window.popleft().result()
            window.append(c.call_async("echo", i))
        while window:
            window.popleft().result()
        return time.perf_counter() - t0


def _process(args):
    address, n, start = args
    # Every process starts at the same moment, so that they overlap; each
    # says when it finished.
    while time.time() < start:
        time.sleep(0.001)
    call_in_flight(address, n)
    return time.time()


def sends(address, n):
    with Client(address, token=TOKEN) as c:
        t0 = time.perf_counter()
        for i in range(n):
            c.send("echo", i)
        c.call("echo", 0, timeout=60)  # handled after every send before it
        return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=50_000)
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "bench_gateway"))
    args = ap.parse_args()
    n = args.calls
    node = subprocess.Popen([args.bench, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        address = "127.0.0.1:" + node.stdout.readline().strip().split("=")[1]
        print("python: one call at a time ...", file=sys.stderr, flush=True)
        secs, p50, p99 = call_one_at_a_time(address, n // 5)
        result("gateway_py_call_1", n // 5, secs, p50_us=f"{p50:.1f}", p99_us=f"{p99:.1f}")
        print("python: 64 calls in flight ...", file=sys.stderr, flush=True)
        result("gateway_py_call_64", n, call_in_flight(address, n))
        print("python: 8 processes, 64 calls in flight each ...", file=sys.stderr, flush=True)
        start = time.time() + 1.0
        with multiprocessing.Pool(8) as pool:
            ends = pool.map(_process, [(address, n, start)] * 8)
        result("gateway_py_8proc_call_64", 8 * n, max(ends) - start)
        print("python: sends ...", file=sys.stderr, flush=True)
        result("gateway_py_send", n, sends(address, n))
    finally:
        node.stdin.close()
        node.wait(timeout=30)


if __name__ == "__main__":
    main()
