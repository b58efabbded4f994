#!/usr/bin/python3
"""Counts primes in 16 ranges three ways, and prints how long each took:

  1. plain Python, one range after another;
  2. Python threads, one a range (the GIL lets one run at a time);
  3. hive, through the gateway: the ranges go to primes_service.c's actors,
     which run on every core.

    HIVE_GATEWAY_TOKEN=secret build/py_offload 7070 &
    HIVE_GATEWAY_TOKEN=secret samples/py_offload/offload.py --address 127.0.0.1:7070

or let it start the service itself:

    samples/py_offload/offload.py --service build/py_offload

Needs python3-msgpack, and the client on the path (PYTHONPATH=clients/python).
"""

import argparse
import os
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../clients/python"))
from hive_client import Client  # noqa: E402


def count_primes(lo: int, hi: int) -> int:
    """The same trial division the C workers do."""
    count = 0
    for n in range(max(lo, 2), hi):
        d = 2
        while d * d <= n:
            if n % d == 0:
                break
            d += 1
        else:
            count += 1
    return count


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--address", help="a running service's gateway, HOST:PORT")
    ap.add_argument("--service", help="start this primes_service binary instead")
    ap.add_argument("--ranges", type=int, default=16)
    ap.add_argument("--size", type=int, default=200_000, help="numbers in each range")
    args = ap.parse_args()
    ranges = [(i * args.size, (i + 1) * args.size) for i in range(args.ranges)]

    service = None
    token = os.environ.get("HIVE_GATEWAY_TOKEN")
    address = args.address
    if args.service:
        token = token or secrets.token_hex(16)
        service = subprocess.Popen(
            [args.service, "0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "HIVE_GATEWAY_TOKEN": token})
        line = service.stdout.readline()
        if not line.startswith("port="):
            print("the service did not start", file=sys.stderr)
            return 1
        address = "127.0.0.1:" + line.strip().split("=")[1]
    if not address:
        ap.error("give --address or --service")

    try:
        t = time.perf_counter()
        expected = [count_primes(lo, hi) for lo, hi in ranges]
        plain = time.perf_counter() - t
        print(f"plain Python    {plain:6.2f} s")

        t = time.perf_counter()
        with ThreadPoolExecutor(len(ranges)) as pool:
            threaded = list(pool.map(lambda r: count_primes(*r), ranges))
        threads = time.perf_counter() - t
        print(f"Python threads  {threads:6.2f} s")

        with Client(address, token=token, timeout=600) as hive:
            t = time.perf_counter()
            futures = [hive.call_async("primes", [lo, hi]) for lo, hi in ranges]
            offloaded = [f.result() for f in futures]
            elapsed = time.perf_counter() - t
        print(f"hive            {elapsed:6.2f} s   "
              f"({plain / elapsed:.2f}x plain Python, {threads / elapsed:.2f}x threads)")
        if not expected == threaded == offloaded:
            print(f"the counts differ: {expected} {threaded} {offloaded}", file=sys.stderr)
            return 1
        print(f"{sum(expected)} primes below {args.ranges * args.size}, the same all three ways")
    finally:
        if service is not None:
            service.stdin.close()  # the service stops when its stdin ends
            service.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
