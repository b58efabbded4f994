#!/usr/bin/env python3
"""demo.py - hive-jobd, end to end, in under a minute (scripts/demo runs it).

It starts its own hive-jobd (a temporary folder: a fresh random token, a
fresh job database, an admin socket) and, from Python threads over the
gateway (samples/jobd/jobd_client.py), shows:

  1. a batch of a few hundred small jobs (primes, sleep, a few that fail),
     with a progress bar fed by jobd's `counts` operation;
  2. cancels: a `hang` job (an actor that checks hive_checkpoint) and a
     `spin` job (a busy loop that never checks, in a process of its own)
     are cancelled while they run, each cancel timed (it is answered once
     the job has ended: its process is gone);
  3. a `crash` job (a SIGSEGV in an ordinary actor) ends as "crashed" while
     jobd goes on serving: the next job succeeds, no supervisor restarts;
     `hivectl top`, `hivectl ps` and `hivectl tree` are captured meanwhile;
  4. durability: jobd is killed with SIGKILL in the middle of a second
     batch, restarted on the same database, and every job it had accepted
     still finishes (the ones that were running are re-run: attempts 2);
  5. an orderly stop (SIGTERM, exit status 0), a summary table, and no
     process left behind (jobd's zygote and job processes die with it).

    /usr/bin/python3 samples/jobd/demo.py [--jobd build/hive-jobd] [--hivectl build/hivectl]

It needs the msgpack module (Debian: python3-msgpack) and finds hive_client
and jobd_client in the repository. Exit status 0 when every check passed.
"""
import argparse
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for _p in (REPO / "clients" / "python", REPO / "samples" / "jobd"):
    if str(_p) not in sys.path:
        sys.path.append(str(_p))
try:
    from hive_client import HiveError
    from jobd_client import FINAL_STATES, Jobd, JobdError
except ImportError as e:  # msgpack, most likely
    sys.exit(f"demo.py: {e} (run it with a python3 that has msgpack: /usr/bin/python3 on Debian)")


class DemoFailed(Exception):
    """A check of the demo failed: the message says which."""


def check(ok, what):
    if not ok:
        raise DemoFailed(what)


# ---- the terminal ------------------------------------------------------------


class Console:
    """Lines and, on a terminal, one progress bar redrawn in place below them."""

    def __init__(self, tty):
        self.tty = tty
        self.lock = threading.Lock()
        self.bar_shown = False

    def say(self, text=""):
        with self.lock:
            if self.bar_shown:
                sys.stdout.write("\r\x1b[K")
                self.bar_shown = False
            print(text, flush=True)

    def bar(self, text):
        with self.lock:
            sys.stdout.write("\r\x1b[K" + text)
            sys.stdout.flush()
            self.bar_shown = True

    def end_bar(self):
        """Keeps the last bar drawn, as a line."""
        with self.lock:
            if self.bar_shown:
                sys.stdout.write("\n")
                sys.stdout.flush()
                self.bar_shown = False


def ended_of(counts):
    return sum(counts.get(s, 0) for s in FINAL_STATES)


class Link:
    """The connection to the jobd running now (replaced when jobd restarts)."""

    def __init__(self):
        self.jobd = None


class Progress(threading.Thread):
    """Draws a batch's progress from jobd's counts: a bar redrawn with \\r on a
    terminal (10 a second), a plain line a second otherwise."""

    live = set()  # the ones drawing now: halted on the way out

    def __init__(self, con, link, label, total, base_ended):
        super().__init__(name="progress", daemon=True)
        self.con, self.link, self.label = con, link, label
        self.total, self.base_ended = total, base_ended
        self.t0 = time.monotonic()
        self.halt = threading.Event()
        self.last = None

    def run(self):
        interval = 0.1 if self.con.tty else 1.0
        while not self.halt.wait(interval):
            self.draw()

    def start(self):
        Progress.live.add(self)
        super().start()

    @classmethod
    def halt_all(cls):
        for p in list(cls.live):
            p.halt.set()
            p.join()
        cls.live.clear()

    def stop(self):
        self.halt.set()
        self.join()
        Progress.live.discard(self)
        self.draw()
        self.con.end_bar()

    def draw(self):
        jobd = self.link.jobd
        try:
            counts = jobd.counts() if jobd is not None else None
        except (HiveError, JobdError, OSError):
            counts = None
        elapsed = time.monotonic() - self.t0
        if counts is None:
            state = "(jobd is down)"
            ended = ended_of(self.last) - self.base_ended if self.last else 0
        else:
            self.last = counts
            ended = ended_of(counts) - self.base_ended
            state = f"{counts['running']:3d} running {counts['queued']:4d} queued"
        ended = max(0, min(ended, self.total))
        text = f"  {self.label} {ended:4d}/{self.total} done {state}  {elapsed:5.1f} s"
        if self.con.tty:
            width = 30
            fill = int(width * ended / self.total) if self.total else width
            self.con.bar(f"  {self.label} [{'#' * fill}{'.' * (width - fill)}]" + text[len(self.label) + 2:])
        else:
            self.con.say(text)


# ---- processes -----------------------------------------------------------------


def _stat(pid):
    """(ppid, state, start time) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[1]), fields[0], int(fields[19])


def descendants(root):
    """Every process below root (its children, theirs, ...)."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st is not None:
                children.setdefault(st[0], []).append(int(name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def become_subreaper():
    """Makes this process the one jobd's orphans (its zygote and job processes,
    once jobd is gone) are reparented to, not pid 1: the demo reaps them and
    sees whether any is left. False where Linux's prctl is not to be had."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


class Tracker:
    """The processes this demo started, directly (jobd) or not (jobd's zygote
    and job processes), each known by pid and start time."""

    def __init__(self):
        self.seen = {}
        self.popen = set()  # waited for by their Popen, not by reap()

    def reap(self):
        """Reaps the noted processes that ended as this process's children
        (orphans reparented to it)."""
        me = os.getpid()
        for pid, start in self.seen.items():
            st = _stat(pid)
            if pid not in self.popen and st is not None and st[0] == me and st[2] == start and st[1] == "Z":
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass

    def descendants_left(self):
        """Every process still below this one, but for the Popen'd (a zombie is dead)."""
        return [pid for pid in descendants(os.getpid())
                if pid not in self.popen and (_stat(pid) or (0, "Z"))[1] != "Z"]

    def note(self, root):
        for pid in [root] + descendants(root):
            st = _stat(pid)
            if st is not None:
                self.seen.setdefault(pid, st[2])
        return len(self.seen)

    def alive(self, pids=None):
        """The noted processes (or those of pids) still running (a zombie is dead)."""
        out = []
        for pid, start in self.seen.items():
            if pids is not None and pid not in pids:
                continue
            st = _stat(pid)
            if st is not None and st[2] == start and st[1] != "Z":
                out.append(pid)
        return out

    def wait_gone(self, timeout=3.0, pids=None):
        deadline = time.monotonic() + timeout
        while self.alive(pids) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.reap()
        return self.alive(pids)

    def kill_all(self):
        for pid in self.alive():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


class Jobd_process:
    """One hive-jobd run: started, waited for, stopped."""

    def __init__(self, exe, folder, tracker):
        self.exe, self.folder, self.tracker = exe, folder, tracker
        self.token_file = folder / "token"
        self.db = folder / "jobs.db"
        self.sock = folder / "admin.sock"
        self.log = folder / "jobd.log"
        self.proc = None
        self.port = None
        self.inspector = None
        self.log_from = 0

    def start(self, timeout=10.0):
        self.log_from = self.log.stat().st_size if self.log.exists() else 0
        t0 = time.monotonic()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.exe), "--gateway", "127.0.0.1:0", "--token-file", str(self.token_file),
                 "--db", str(self.db), "--admin-socket", str(self.sock),
                 # The page's port is kept across a restart: an open page comes back.
                 "--http", self.inspector.split("/")[2] if self.inspector else "127.0.0.1:0"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        self.tracker.popen.add(self.proc.pid)
        while True:
            text = self.log_text()
            port = re.search(r'msg="gateway listening on port (\d+)"', text)
            if port and 'msg="hive-jobd ready"' in text:
                self.port = int(port.group(1))
                inspector = re.search(r'msg="http: the inspector is at (\S+?)"', text)
                self.inspector = inspector.group(1) if inspector else None
                break
            if self.proc.poll() is not None:
                raise DemoFailed(f"hive-jobd exited with status {self.proc.returncode} before it was ready:\n"
                                 + text)
            if time.monotonic() - t0 > timeout:
                raise DemoFailed(f"hive-jobd not ready in {timeout} s:\n" + text)
            time.sleep(0.01)
        self.tracker.note(self.proc.pid)
        return time.monotonic() - t0

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def log_text(self):
        """What this run logged so far."""
        try:
            with open(self.log, "rb") as f:
                f.seek(self.log_from)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_line(self, pattern):
        for line in self.log_text().splitlines():
            if re.search(pattern, line):
                return line
        return None

    def kill9(self):
        self.tracker.note(self.proc.pid)
        os.kill(self.proc.pid, signal.SIGKILL)
        return self.waited(10)

    def waited(self, timeout):
        status = self.proc.wait(timeout)
        self.tracker.popen.discard(self.proc.pid)
        return status

    def terminate(self, timeout=15.0):
        self.tracker.note(self.proc.pid)
        os.kill(self.proc.pid, signal.SIGTERM)
        return self.waited(timeout)

    def cleanup(self):
        """On the way out, whatever happened: nothing of it keeps running."""
        if self.proc is not None and self.proc.poll() is None:
            self.tracker.note(self.proc.pid)
            self.proc.kill()
            self.waited(10)


def tree_restarts(text):
    """The restarts of every supervisor's children, from `hivectl --json tree`."""
    try:
        todo, n = list(json.loads(text)), 0
    except ValueError:
        return -1
    while todo:
        node = todo.pop()
        n += node.get("restarts", 0)
        todo.extend(node.get("children", []))
    return n


def hivectl(exe, sock, *args):
    run = subprocess.run([str(exe), "-s", str(sock), *args], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=10)
    if run.returncode != 0:
        return f"(hivectl {' '.join(args)} failed, status {run.returncode}: {run.stderr.strip()})"
    return run.stdout.rstrip("\n")


def indent(text, prefix="    "):
    return "\n".join(prefix + line if line else line for line in text.splitlines())


# ---- the jobs ---------------------------------------------------------------------


def batch_specs(rng, n):
    """n small jobs: mostly primes of modest ranges (one in 20 in a process of
    its own), one in 10 a short sleep, one in 37 a job that fails."""
    specs = []
    for i in range(n):
        if i % 37 == 5:
            specs.append(("fail", [i], None))
        elif i % 10 == 3:
            specs.append(("sleep", [rng.randrange(20, 120)], None))
        else:
            lo = rng.randrange(0, 3_000_000)
            specs.append(("primes", [lo, lo + rng.randrange(80_000, 160_000)], True if i % 20 == 7 else None))
    return specs


def submit_spec(link, spec):
    kind, args, isolate = spec
    return link.jobd.submit(kind, args, isolate=isolate)


def wait_drained(link, timeout):
    """Until nothing is queued or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = link.jobd.counts()
        if counts["queued"] + counts["running"] == 0:
            return counts
        time.sleep(0.05)
    raise DemoFailed(f"jobs still queued or running after {timeout} s: {link.jobd.counts()}")


def wait_state(jobd, job, states, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        st = jobd.status(job)
        if st["state"] in states or time.monotonic() > deadline:
            return st
        time.sleep(0.01)


def all_rows(jobd):
    return {row["id"]: row for row in jobd.list(limit=10000)}


def timed_cancel(jobd, job):
    t = time.perf_counter()
    answer = jobd.cancel(job)
    return answer, (time.perf_counter() - t) * 1000


# ---- the demo ----------------------------------------------------------------------


def batch_one(args, con, link, node, rng, tracker):
    """Steps 2 and 3: the first batch, with hang, spin and crash during it."""
    jobd = link.jobd
    n = args.jobs
    specs = batch_specs(rng, n)
    specs.insert(n // 2, ("crash-pair", None, None))  # submitted halfway, by one thread
    total = n + 4  # and hang, spin, crash and the job after it
    con.say(f"\n== batch 1: {n} jobs from {args.threads} threads (primes, sleep, a few fail), "
            "with hang, spin and crash jobs among them")
    base = ended_of(jobd.counts())
    t0 = time.monotonic()
    hang = jobd.submit("hang")
    spin = jobd.submit("spin")
    pair = {}

    def submit(spec):
        if spec[0] == "crash-pair":
            pair["crash"] = jobd.submit("crash", isolate=False)
            pair["next"] = jobd.submit("primes", [0, 100_000])  # queued after it
            return pair["crash"]
        return submit_spec(link, spec)

    progress = Progress(con, link, "batch 1", total, base)
    progress.start()
    with ThreadPoolExecutor(args.threads, thread_name_prefix="submit") as pool:
        futures = [pool.submit(submit, s) for s in specs]

        # Cancels: both are running (first in the queue); neither would ever end by itself.
        for job in (hang, spin):
            check(wait_state(jobd, job, ("running",))["state"] == "running", f"job {job} never started")
        for f in futures:
            f.result()  # raises if a submit failed
        con.say(f"  {n + 4} submits accepted in {time.monotonic() - t0:.2f} s; hang #{hang} and "
                f"spin #{spin} came first and are running, the batch queues behind them")
        time.sleep(0.3)
        ps_during = hivectl(args.hivectl, node.sock, "ps")
        spin_rows = [line for line in ps_during.splitlines()[1:] if re.search(r"\sprocess\s", line)]
        spin_os_pids = [int(line.split()[-3]) for line in spin_rows]
        tracker.note(node.proc.pid)
        answer_hang, ms_hang = timed_cancel(jobd, hang)
        answer_spin, ms_spin = timed_cancel(jobd, spin)
        check(answer_hang["state"] == "cancelled", f"hang job {hang}: {answer_hang}")
        check(answer_spin["state"] == "cancelled", f"spin job {spin}: {answer_spin}")
        check(len(spin_os_pids) == 1, f"hivectl ps shows no process for the spin job:\n{ps_during}")
        check(spin_os_pids[0] in tracker.seen, f"process {spin_os_pids[0]} is not one of jobd's")
        spin_gone = tracker.wait_gone(pids=spin_os_pids) == []
        check(spin_gone, f"the spin job's process {spin_os_pids[0]} still runs after its cancel")
        con.say(f"  cancel hang #{hang} (an actor whose loop checks hive_checkpoint): "
                f"answered in {ms_hang:.1f} ms, state {answer_hang['state']}")
        con.say(f"  cancel spin #{spin} (a busy loop that never checks, in process {spin_os_pids[0]}): "
                f"answered in {ms_spin:.1f} ms, state {answer_spin['state']}, the process is gone")
        top_during = hivectl(args.hivectl, node.sock, "top", "--iterations", "1")

        # The crash: only its job actor ends; the job queued behind it runs.
        crashed = jobd.result(pair["crash"], wait=40)
        check(crashed["state"] == "crashed", f"crash job {pair['crash']}: {crashed}")
        after = jobd.result(pair["next"], wait=40)
        check(after["state"] == "done", f"the job after the crash, {pair['next']}: {after}")
        tree_during = hivectl(args.hivectl, node.sock, "tree")
        restarts = tree_restarts(hivectl(args.hivectl, node.sock, "--json", "tree"))
        con.say(f"  crash #{crashed['id']} (SIGSEGV in an ordinary actor): state {crashed['state']}, "
                f"error {crashed['error']!r}")
        con.say(f"  the job submitted just after it, primes #{after['id']} [0, 100000): "
                f"state {after['state']}, result {after['result']}; jobd kept serving")

    counts = wait_drained(link, 60)
    elapsed = time.monotonic() - t0
    progress.stop()
    con.say(f"  batch 1: {total} jobs ended in {elapsed:.1f} s ({total / elapsed:.0f} jobs/s)")
    con.say("\n  hivectl top, one frame, while the batch ran (the first lines):")
    con.say(indent("\n".join(top_during.splitlines()[:12])))
    if spin_rows:
        con.say("  hivectl ps, the spin job's process while it ran:")
        con.say(indent("\n".join([ps_during.splitlines()[0]] + spin_rows)))
    con.say("  hivectl tree after the crash: "
            + ("no restart anywhere, the crash ended its job's actors only" if restarts == 0
               else f"{restarts} restarts"))
    con.say(indent(tree_during))
    return {"jobs": total, "seconds": elapsed, "cancel_ms": (ms_hang, ms_spin), "counts": counts}


def batch_two(args, con, link, node, rng, tracker):
    """Step 4: kill -9 in the middle of a second batch, restart, every accepted job ends."""
    n = max(20, args.jobs // 2)
    pending = list(reversed(batch_specs(rng, n)))
    lock = threading.Lock()
    accepted, unanswered = [], []
    running = threading.Event()  # cleared while jobd is down
    running.set()
    rate = args.rate1 * 1.5  # submits a second: a little ahead of what jobd runs, so a queue builds
    pause = args.threads / rate

    con.say(f"\n== batch 2: {n} jobs submitted at {rate:.0f}/s; jobd is killed (kill -9) halfway")
    base = ended_of(link.jobd.counts())
    t0 = time.monotonic()

    def submitter():
        while True:
            running.wait()
            with lock:
                if not pending:
                    return
                spec, jobd = pending.pop(), link.jobd
                if jobd is None:  # jobd is down: not sent, back in the queue
                    pending.append(spec)
                    continue
            try:
                job = jobd.submit(spec[0], spec[1], isolate=spec[2])
                with lock:
                    accepted.append(job)
            except HiveError:  # jobd died with the submit in flight: no answer
                with lock:
                    unanswered.append(spec)
            time.sleep(pause)

    progress = Progress(con, link, "batch 2", n, base)
    progress.start()
    with ThreadPoolExecutor(args.threads, thread_name_prefix="submit") as pool:
        workers = [pool.submit(submitter) for _ in range(args.threads)]
        deadline = time.monotonic() + 30
        while True:
            with lock:
                if len(accepted) >= n // 2:
                    break
            if all(w.done() for w in workers) or time.monotonic() > deadline:
                for w in workers:
                    if w.done():
                        w.result()  # its error, if it had one
                raise DemoFailed(f"batch 2: only {len(accepted)} of {n} submits accepted")
            time.sleep(0.005)
        before = link.jobd.counts()
        running.clear()  # no new submits; the ones in flight die with jobd
        tracker.note(node.proc.pid)
        below = len(descendants(node.proc.pid))
        status = node.kill9()
        gone = tracker.wait_gone() + tracker.descendants_left()
        check(not gone, f"processes left after the kill: {gone}")
        with lock:
            n_accepted = len(accepted)
        con.say(f"  kill -9 jobd (pid {node.proc.pid}) at {time.monotonic() - t0:.1f} s, status {status}: "
                f"{n_accepted} jobs accepted so far, {before['running']} running and {before['queued']} "
                f"queued just before")
        con.say("    its zygote" + (f" and {below - 1} job processes" if below > 1 else "")
                + " died with it (no process of it left)")
        with lock:
            old_client, link.jobd = link.jobd, None
        old_client.close()

        ready = node.start()
        with lock:
            link.jobd = Jobd(node.address, token=args.token, timeout=10)
        again = node.log_line(r"queued again")
        con.say(f"  restarted on the same database in {ready * 1000:.0f} ms: gateway {node.address} "
                f"(the inspector page is back at {node.inspector})")
        if again:
            con.say("    jobd logged: " + re.sub(r'.*msg=("[^"]*").*', r"\1", again))
        # Submits in flight at the kill: their answer was lost; jobd has those it committed.
        rows = all_rows(link.jobd)
        known = set(args.known_ids) | set(accepted)
        committed = [job for job in rows if job not in known]
        with lock:
            lost = len(unanswered)
            progress.total = n - (lost - len(committed))
        if lost:
            con.say(f"  {lost} submits were in flight at the kill: {len(committed)} of them had been "
                    f"committed (jobd runs them), {lost - len(committed)} had not (no id: never run)")
        running.set()  # the rest of the batch, to the new jobd
        for w in workers:
            w.result()

    counts = wait_drained(link, 60)
    elapsed = time.monotonic() - t0
    progress.stop()
    rows = all_rows(link.jobd)
    mine = accepted + committed
    unended = [job for job in mine if rows.get(job, {}).get("state") not in FINAL_STATES]
    check(not unended, f"accepted jobs that did not end: {unended}")
    rerun = sorted(job for job, row in rows.items() if row["attempts"] == 2)
    states = {}
    for job in mine:
        states[rows[job]["state"]] = states.get(rows[job]["state"], 0) + 1
    con.say(f"  every accepted job ended ({len(mine)}: "
            + ", ".join(f"{v} {k}" for k, v in sorted(states.items())) + f") in {elapsed:.1f} s")
    con.say(f"  re-run after the kill (attempts 2: running at the kill, started again): {len(rerun)}"
            + (f" (#{', #'.join(map(str, rerun))})" if rerun else ""))
    return {"rerun": len(rerun), "counts": counts}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobd", type=Path, default=REPO / "build" / "hive-jobd",
                        help="the hive-jobd program (default: build/hive-jobd of this repository)")
    parser.add_argument("--hivectl", type=Path, default=REPO / "build" / "hivectl",
                        help="the hivectl program (default: build/hivectl of this repository)")
    parser.add_argument("--jobs", type=int, default=300, help="jobs in the first batch (default 300); "
                        "the second has half as many")
    parser.add_argument("--threads", type=int, default=8, help="Python threads that submit (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="seeds the jobs' arguments (default 1)")
    args = parser.parse_args()
    args.jobs = max(20, args.jobs)
    args.threads = max(1, args.threads)
    for exe in (args.jobd, args.hivectl):
        if not os.access(exe, os.X_OK):
            parser.error(f"{exe}: not an executable (build hive first: scripts/demo does)")

    # SIGTERM (and SIGHUP) end the demo as Ctrl-C does: through the finally below.
    def stop(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)

    con = Console(sys.stdout.isatty())
    rng = random.Random(args.seed)
    tracker = Tracker()
    become_subreaper()
    link = Link()
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="hive-jobd-demo-"))
    node = None
    try:
        # 1. A fresh token and database; jobd on a port of its choosing.
        args.token = secrets.token_hex(32)
        (folder / "token").write_text(args.token + "\n")
        os.chmod(folder / "token", 0o600)
        node = Jobd_process(args.jobd.resolve(), folder, tracker)
        ready = node.start()
        con.say(f"hive-jobd ready in {ready * 1000:.0f} ms (pid {node.proc.pid}, {os.cpu_count()} CPUs)")
        con.say(f"  gateway       {node.address}  (token: {folder / 'token'}, fresh)")
        con.say(f"  admin socket  {node.sock}")
        con.say(f"  inspector     {node.inspector}  (open it in a browser while the demo runs)")
        con.say(f"  database      {node.db}  (fresh)")
        link.jobd = Jobd(node.address, token=args.token, timeout=10)

        one = batch_one(args, con, link, node, rng, tracker)
        args.rate1 = one["jobs"] / one["seconds"]
        args.known_ids = list(all_rows(link.jobd))
        two = batch_two(args, con, link, node, rng, tracker)

        # 5. The orderly stop.
        final = link.jobd.counts()
        link.jobd.close()
        link.jobd = None
        t = time.monotonic()
        status = node.terminate()
        stop_ms = (time.monotonic() - t) * 1000
        left = tracker.wait_gone() + tracker.descendants_left()
        check(status == 0, f"hive-jobd exited with status {status} after SIGTERM")
        check(not left, f"processes left after the stop: {left}")
        con.say(f"\n== SIGTERM: hive-jobd stopped in {stop_ms:.0f} ms, exit status {status}; no process "
                f"left (of the {len(tracker.seen)} seen: both jobd runs, their zygotes, job processes)")

        # 6. The summary.
        elapsed = time.monotonic() - started
        rows = [("done", final["done"]), ("failed", final["failed"]), ("cancelled", final["cancelled"]),
                ("crashed", final["crashed"]), ("timeout", final["timeout"]),
                ("re-run after the kill", two["rerun"]),
                ("jobs/s (batch 1)", f"{args.rate1:.0f}"),
                ("cancel hang / spin", f"{one['cancel_ms'][0]:.1f} / {one['cancel_ms'][1]:.1f} ms"),
                ("elapsed", f"{elapsed:.1f} s")]
        con.say("\n== summary")
        for name, value in rows:
            con.say(f"  {name:<24}{value:>16}")
        con.say("\nPASS")
        return 0
    except (DemoFailed, HiveError, JobdError, subprocess.TimeoutExpired) as e:
        Progress.halt_all()
        con.end_bar()
        con.say(f"\nFAIL: {type(e).__name__}: {e}")
        if node is not None:
            con.say("jobd's log (the end):\n" + indent("\n".join(node.log_text().splitlines()[-20:])))
        return 1
    except KeyboardInterrupt:
        Progress.halt_all()
        con.end_bar()
        con.say("\ninterrupted")
        return 130
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # a second one: cleanup goes on
            signal.signal(signum, signal.SIG_IGN)
        Progress.halt_all()
        if link.jobd is not None:
            link.jobd.close()
        if node is not None:
            node.cleanup()
        tracker.kill_all()
        tracker.wait_gone()
        for pid in tracker.descendants_left():  # not seen, but below: started by jobd's
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
