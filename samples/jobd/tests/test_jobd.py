"""hive-jobd end to end: a real jobd, spoken to over its gateway with jobd_client.

Each test states one rule in its name. The tests wait on answers (result with
wait_ms, watch pushes, log lines), and poll only where jobd pushes nothing
(a job's start), always against a deadline.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

from hive_client import HiveError

from conftest import (DEFAULT_FLAGS, FINAL_STATES, JOBD_PROGRAM, TAG_ENDED, JobdError, JobdService,
                      descendants, final, raw, wait_state)

PRIMES_BELOW_100000 = 9592
FOREVER_PRIMES = [0, 10 ** 12]  # a range no test waits for
CANCEL_LIMIT_S = 1.0  # a cancel answers within this (generous: it is milliseconds)


def one_job(jobd, kind, args, isolate, timeout_ms=0, wait=60.0):
    return final(jobd, jobd.submit(kind, args, isolate=isolate, timeout_ms=timeout_ms), wait=wait)


# ---- 1. every kind, in the node and isolated ----------------------------------


@pytest.mark.parametrize("isolate", [False, True], ids=["in_node", "isolated"])
def test_primes_job_is_done_with_the_count_of_primes(jobd, isolate):
    r = one_job(jobd, "primes", [0, 100000], isolate)
    assert r["state"] == "done", r
    assert r["result"] == PRIMES_BELOW_100000
    assert r["attempts"] == 1 and r["isolate"] is isolate and r["kind"] == "primes"
    assert r["submitted_ms"] is not None and r["started_ms"] is not None and r["ended_ms"] is not None


@pytest.mark.parametrize("isolate", [False, True], ids=["in_node", "isolated"])
def test_sleep_job_is_done_with_its_milliseconds(jobd, isolate):
    r = one_job(jobd, "sleep", [50], isolate)
    assert r["state"] == "done", r
    assert r["result"] == 50
    assert r["isolate"] is isolate


@pytest.mark.parametrize("isolate", [False, True], ids=["in_node", "isolated"])
def test_crash_job_is_crashed_with_SIGSEGV(jobd, isolate):
    r = one_job(jobd, "crash", [], isolate)
    assert r["state"] == "crashed", r
    assert "SIGSEGV" in r["error"]
    assert "result" not in r
    assert r["isolate"] is isolate


@pytest.mark.parametrize("isolate", [False, True], ids=["in_node", "isolated"])
def test_fail_job_is_failed_with_an_error_text(jobd, isolate):
    r = one_job(jobd, "fail", [], isolate)
    assert r["state"] == "failed", r
    assert isinstance(r["error"], str) and r["error"]
    assert "invalid argument" in r["error"]


@pytest.mark.parametrize("isolate", [False, True], ids=["in_node", "isolated"])
def test_hang_job_ends_only_at_its_timeout(jobd, isolate):
    r = one_job(jobd, "hang", [], isolate, timeout_ms=300)
    assert r["state"] == "timeout", r
    assert r["error"] == "timeout_ms passed"
    assert r["ended_ms"] - r["started_ms"] >= 250


@pytest.mark.parametrize("isolate", [False, True], ids=["asked_in_node", "asked_isolated"])
def test_spin_job_is_always_isolated_and_ends_at_its_timeout(jobd, isolate):
    r = one_job(jobd, "spin", [], isolate, timeout_ms=300)
    assert r["state"] == "timeout", r
    assert r["isolate"] is True


def test_primes_with_bad_args_fails(jobd):
    for args in ([], [10], [10, 5], ["a", "b"]):
        r = one_job(jobd, "primes", args, False)
        assert r["state"] == "failed", (args, r)


def test_isolate_flag_makes_every_job_isolated_unless_it_says_otherwise(service):
    service.start("--isolate", *DEFAULT_FLAGS)
    jobd = service.client()
    assert one_job(jobd, "primes", [0, 100000], None)["isolate"] is True
    r = one_job(jobd, "primes", [0, 100000], False)
    assert r["isolate"] is False and r["result"] == PRIMES_BELOW_100000


# ---- 2. cancel --------------------------------------------------------------------


CANCEL_CASES = [
    ("primes", FOREVER_PRIMES, False),
    ("primes", FOREVER_PRIMES, True),
    ("hang", [], False),
    ("hang", [], True),
    ("sleep", [600000], False),
    ("sleep", [600000], True),
    ("spin", [], True),
]


@pytest.mark.parametrize("kind,args,isolate", CANCEL_CASES,
                         ids=[f"{k}_{'isolated' if i else 'in_node'}" for k, _, i in CANCEL_CASES])
def test_cancel_of_a_running_job_answers_cancelled_within_a_second(jobd, kind, args, isolate):
    job = jobd.submit(kind, args, isolate=isolate)
    wait_state(jobd, job, "running")
    t0 = time.monotonic()
    r = jobd.cancel(job)
    took = time.monotonic() - t0
    assert r["state"] == "cancelled", r
    assert took < CANCEL_LIMIT_S, f"cancel took {took:.3f} s"
    assert r["error"] == "cancelled"
    assert jobd.status(job)["state"] == "cancelled"
    # the slot is free again: a job after it runs
    assert one_job(jobd, "primes", [0, 100000], False)["result"] == PRIMES_BELOW_100000


def test_cancel_of_a_queued_job_answers_cancelled_and_it_never_starts(jobd):
    busy = [jobd.submit("hang", []) for _ in range(2)]  # --max-running 2: both slots
    for job in busy:
        wait_state(jobd, job, "running")
    queued = jobd.submit("primes", [0, 100000])
    assert jobd.status(queued)["state"] == "queued"
    r = jobd.cancel(queued)
    assert r["state"] == "cancelled", r
    assert r["started_ms"] is None and r["attempts"] == 0
    for job in busy:
        assert jobd.cancel(job)["state"] == "cancelled"
    assert one_job(jobd, "primes", [0, 100000], False)["state"] == "done"
    assert jobd.status(queued)["state"] == "cancelled"  # not run after the slots freed


def test_cancel_of_a_finished_job_answers_its_final_state(jobd):
    job = jobd.submit("primes", [0, 100000])
    final(jobd, job)
    r = jobd.cancel(job)
    assert r["state"] == "done" and r["result"] == PRIMES_BELOW_100000


# ---- 3. crashes ---------------------------------------------------------------------


@pytest.mark.parametrize("isolate", [False, True], ids=["in_node", "isolated"])
def test_a_crash_does_not_stop_the_service(jobd_service, jobd, isolate):
    assert one_job(jobd, "crash", [], isolate)["state"] == "crashed"
    r = one_job(jobd, "primes", [0, 100000], isolate)
    assert r["state"] == "done" and r["result"] == PRIMES_BELOW_100000
    assert jobd_service.running()
    # several in a row do not use up a supervisor's restart intensity either
    for _ in range(5):
        assert one_job(jobd, "crash", [], isolate)["state"] == "crashed"
    assert one_job(jobd, "primes", [0, 100000], isolate)["result"] == PRIMES_BELOW_100000


@pytest.mark.parametrize("isolate", [False, True], ids=["in_node", "isolated"])
def test_crash_with_one_retry_runs_twice_then_is_crashed(jobd, isolate):
    job = jobd.submit("crash", [], isolate=isolate, retries=1)
    r = final(jobd, job)
    assert r["state"] == "crashed", r
    assert r["attempts"] == 2
    assert "SIGSEGV" in r["error"]


def test_retries_are_for_crashes_only_a_failed_job_runs_once(jobd):
    r = final(jobd, jobd.submit("fail", [], retries=3))
    assert r["state"] == "failed" and r["attempts"] == 1


# ---- 4. unknown ids and malformed requests -------------------------------------


def test_unknown_id_is_notfound_for_status_result_cancel_and_watch(jobd):
    known = jobd.submit("primes", [0, 100000])
    final(jobd, known)
    unknown = known + 1000
    for call in (lambda: jobd.status(unknown), lambda: jobd.result(unknown, wait=0.2),
                 lambda: jobd.cancel(unknown), lambda: jobd.watch(unknown)):
        with pytest.raises(JobdError) as e:
            call()
        assert e.value.kind == "notfound", e.value
    assert jobd.status(known)["state"] == "done"


MALFORMED = [
    ("not_a_map_list", [1, 2, 3], "badarg"),
    ("not_a_map_string", "submit", "badarg"),
    ("not_a_map_nil", None, "badarg"),
    ("no_op", {"kind": "primes"}, "unknownop"),
    ("unknown_op", {"op": "explode"}, "unknownop"),
    ("op_not_a_string", {"op": 7}, "unknownop"),
    ("bad_kind", {"op": "submit", "kind": "nope", "args": []}, "badarg"),
    ("kind_not_a_string", {"op": "submit", "kind": 1, "args": []}, "badarg"),
    ("args_a_string", {"op": "submit", "kind": "primes", "args": "0,100"}, "badarg"),
    ("args_a_map", {"op": "submit", "kind": "primes", "args": {"lo": 0}}, "badarg"),
    ("isolate_not_a_bool", {"op": "submit", "kind": "fail", "isolate": 1}, "badarg"),
    ("negative_timeout", {"op": "submit", "kind": "fail", "timeout_ms": -5}, "badarg"),
    ("float_timeout", {"op": "submit", "kind": "fail", "timeout_ms": 1.5}, "badarg"),
    ("huge_timeout", {"op": "submit", "kind": "fail", "timeout_ms": 2 ** 40}, "badarg"),
    ("negative_retries", {"op": "submit", "kind": "fail", "retries": -1}, "badarg"),
    ("too_many_retries", {"op": "submit", "kind": "fail", "retries": 101}, "badarg"),
    ("status_without_id", {"op": "status"}, "badarg"),
    ("status_id_zero", {"op": "status", "id": 0}, "badarg"),
    ("status_id_negative", {"op": "status", "id": -1}, "badarg"),
    ("status_id_string", {"op": "status", "id": "1"}, "badarg"),
    ("result_negative_wait", {"op": "result", "id": 1, "wait_ms": -1}, "badarg"),
    ("result_wait_over_an_hour", {"op": "result", "id": 1, "wait_ms": 3600001}, "badarg"),
    ("list_limit_zero", {"op": "list", "limit": 0}, "badarg"),
    ("list_bad_state", {"op": "list", "state": "sleeping"}, "badarg"),
]


def test_malformed_requests_are_refused_and_the_service_still_answers(jobd):
    first = jobd.submit("fail", [])  # so that id 1 exists for the result cases
    final(jobd, first)
    for name, data, kind in MALFORMED:
        with pytest.raises(JobdError) as e:
            raw(jobd, data)
        assert e.value.kind == kind, f"{name}: {e.value}"
        assert e.value.detail, name
    # nothing was stored by a refused submit, and jobd still works
    assert sum(jobd.counts().values()) == 1
    assert one_job(jobd, "primes", [0, 100000], False)["result"] == PRIMES_BELOW_100000


def test_submit_past_max_queued_is_full(service):
    service.start("--workers", "2", "--max-running", "1", "--max-queued", "2")
    jobd = service.client()
    a, b = jobd.submit("hang", []), jobd.submit("hang", [])
    with pytest.raises(JobdError) as e:
        jobd.submit("primes", [0, 10])
    assert e.value.kind == "full"
    assert jobd.cancel(a)["state"] == "cancelled"
    c = jobd.submit("primes", [0, 100000])  # room again
    assert jobd.cancel(b)["state"] == "cancelled"
    assert final(jobd, c)["result"] == PRIMES_BELOW_100000


# ---- 5. timeout ---------------------------------------------------------------------


@pytest.mark.parametrize("isolate", [False, True], ids=["in_node", "isolated"])
def test_timeout_ms_ends_a_hang_job_as_timeout(jobd, isolate):
    job = jobd.submit("hang", [], isolate=isolate, timeout_ms=200)
    r = final(jobd, job)
    assert r["state"] == "timeout", r
    assert r["attempts"] == 1


def test_a_job_that_ends_before_its_timeout_is_done(jobd):
    r = final(jobd, jobd.submit("sleep", [20], timeout_ms=60000))
    assert r["state"] == "done" and r["result"] == 20


# ---- 6. watch, result, list, counts -------------------------------------------------


def test_watch_pushes_the_end_with_tag_164(jobd):
    job = jobd.submit("sleep", [200])
    answer = raw(jobd, {"op": "watch", "id": job})
    assert answer == {"id": job, "watching": True}
    msg = jobd.client.receive(timeout=30)
    assert msg.tag == TAG_ENDED == 164
    assert msg.data["id"] == job and msg.data["state"] == "done" and msg.data["result"] == 200


def test_watch_of_an_ended_job_pushes_its_end_at_once(jobd):
    job = jobd.submit("crash", [])
    final(jobd, job)
    jobd.watch(job)
    msg = jobd.client.receive(timeout=30)
    assert msg.tag == TAG_ENDED and msg.data["id"] == job and msg.data["state"] == "crashed"


def test_watch_pushes_a_cancel_to_every_watcher(jobd_service, jobd):
    other = jobd_service.client()
    job = jobd.submit("hang", [])
    jobd.watch(job)
    other.watch(job)
    assert jobd.cancel(job)["state"] == "cancelled"
    for c in (jobd, other):
        msg = c.client.receive(timeout=30)
        assert msg.tag == TAG_ENDED and msg.data["id"] == job and msg.data["state"] == "cancelled"


def test_result_whose_wait_runs_out_answers_the_state_now(jobd):
    job = jobd.submit("hang", [])
    t0 = time.monotonic()
    r = jobd.result(job, wait=0.3)
    took = time.monotonic() - t0
    assert r["state"] in ("queued", "running") and r["error"] is None
    assert 0.25 <= took < 10
    assert jobd.cancel(job)["state"] == "cancelled"


def test_list_and_counts_agree_with_the_jobs(jobd):
    ids = {"done": [], "failed": [], "crashed": []}
    for kind, state in (("primes", "done"), ("fail", "failed"), ("crash", "crashed")) * 2:
        job = jobd.submit(kind, [0, 10] if kind == "primes" else [])
        assert final(jobd, job)["state"] == state
        ids[state].append(job)
    counts = jobd.counts()
    assert set(counts) == set(FINAL_STATES) | {"queued", "running"}
    assert counts == {"queued": 0, "running": 0, "done": 2, "failed": 2, "cancelled": 0,
                      "crashed": 2, "timeout": 0}
    rows = jobd.list()
    assert [r["id"] for r in rows] == sorted(sum(ids.values(), []), reverse=True)
    assert [r["id"] for r in jobd.list(state="failed")] == sorted(ids["failed"], reverse=True)
    assert len(jobd.list(limit=1)) == 1


# ---- 7. SIGTERM -------------------------------------------------------------------------


def test_sigterm_answers_the_waiting_client_and_exits_0_within_10_s(jobd_service, jobd):
    jobs = [jobd.submit("hang", []), jobd.submit("sleep", [600000])]
    queued = jobd.submit("primes", [0, 100000])  # behind the two in the slots
    for job in jobs:
        wait_state(jobd, job, "running")
    waiting = jobd.client.call_async("jobd", {"op": "result", "id": jobs[0], "wait_ms": 60000},
                                     timeout=90)
    jobd.counts()  # answered after the result request was taken: the wait is registered
    assert not waiting.done()
    t0 = time.monotonic()
    jobd_service.signal(signal.SIGTERM)
    # an answer, not a lost connection or a timeout: jobd's own (an error
    # "shutdown", or the status) or the gateway's error "shutdown" for a call
    # still pending when the node stops
    try:
        answer = waiting.result(timeout=30)
    except HiveError as e:
        assert e.kind == "shutdown", repr(e)
    else:
        assert isinstance(answer, dict), answer
        assert answer.get("error") == "shutdown" or answer.get("id") == jobs[0], answer
    rc = jobd_service.wait_exit(10.0)
    took = time.monotonic() - t0
    assert rc == 0, jobd_service.log_text()
    assert took < 10.0
    assert "hive-jobd stopped" in jobd_service.log_text()
    jobd_service.assert_nothing_left()
    # what was queued or running is queued again at the next start
    jobd_service.restart()
    again = jobd_service.client()
    for job in jobs:  # they hold the two slots again: the primes job is behind them
        r = again.status(job)
        assert r["state"] in ("queued", "running") and r["attempts"] >= 1, r
        assert again.cancel(job)["state"] == "cancelled"
    assert final(again, queued)["result"] == PRIMES_BELOW_100000


def test_a_job_interrupted_by_sigterm_runs_again_after_restart(jobd_service, jobd):
    job = jobd.submit("sleep", [1500])
    wait_state(jobd, job, "running")
    jobd_service.stop()
    jobd_service.restart()
    r = final(jobd_service.client(), job)
    assert r["state"] == "done" and r["result"] == 1500 and r["attempts"] == 2


# ---- 8. SIGKILL and restart ---------------------------------------------------------------


N_JOBS = 500
KILL_RANGE = [0, 150000]  # ~20 ms a job at 2 at once: hundreds still queued when the submits end


def test_sigkill_mid_run_loses_no_accepted_job_and_reruns_at_most_the_running_ones(service):
    max_running = 2
    service.start("--workers", "3", "--max-running", str(max_running))
    expected = one_job(service.client(), "primes", KILL_RANGE, False)["result"]

    ids, errors = [], []
    lock = threading.Lock()

    def submitter(n):
        c = service.client()
        try:
            for _ in range(n):
                job = c.submit("primes", KILL_RANGE)
                with lock:
                    ids.append(job)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=submitter, args=(N_JOBS // 4,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(ids) == N_JOBS and len(set(ids)) == N_JOBS

    jobd = service.client()
    counts = jobd.counts()
    done_before = {r["id"] for r in jobd.list(state="done", limit=10000)}
    assert counts["queued"] > 0, f"every job ended before the kill: make them longer ({counts})"
    service.kill()

    service.restart()
    jobd = service.client(timeout=60)
    assert "jobs queued or running at the last stop: queued again" in service.log_text()
    rows = {}
    for job in ids:
        r = final(jobd, job, wait=300)
        rows[job] = r
    not_done = {j: r for j, r in rows.items() if r["state"] != "done"}
    assert not not_done, not_done
    wrong = {j: r["result"] for j, r in rows.items() if r["result"] != expected}
    assert not wrong, wrong
    attempts = {j: r["attempts"] for j, r in rows.items()}
    assert all(1 <= a <= 2 for a in attempts.values()), attempts
    twice = sorted(j for j, a in attempts.items() if a == 2)
    assert len(twice) <= max_running, f"more jobs ran twice than could run at the kill: {twice}"
    assert not set(twice) & done_before, "a job done before the kill ran again"
    counts = jobd.counts()
    assert counts["done"] == N_JOBS + 1 and counts["queued"] == 0 and counts["running"] == 0


def test_sigkill_leaves_no_job_process_and_the_jobs_run_again(service):
    service.start(*DEFAULT_FLAGS)
    jobd = service.client()
    # one job in a process of its own, one in the node
    jobs = [jobd.submit("spin", []), jobd.submit("hang", [], isolate=False)]
    for job in jobs:
        wait_state(jobd, job, "running")
    # "running" is committed as the job actor starts; its process comes right after
    deadline = time.monotonic() + 10
    while len(descendants(service.proc.pid)) < 2:
        assert time.monotonic() < deadline, "no zygote and job process under jobd"
        time.sleep(0.01)
    service.note_children()
    service.kill()  # asserts that the zygote and the job processes died with it
    service.restart()
    jobd = service.client()
    for job in jobs:  # running again: started a second time
        wait_state(jobd, job, "running", attempts=2)
        assert jobd.cancel(job)["state"] == "cancelled"


# ---- 9. a bad database -----------------------------------------------------------------------


def _assert_refuses_to_start(service, pattern):
    service.spawn(*DEFAULT_FLAGS)
    rc = service.wait_exit(10.0)
    log = service.log_text()
    assert rc > 0, f"exit {rc} (negative: killed by a signal);\n{log}"
    assert "hive-jobd ready" not in log
    errors = [l for l in log.splitlines() if "level=error" in l and "database" in l]
    assert errors, f"no database error in the log:\n{log}"
    assert any(pattern in l for l in errors), f"no {pattern!r} in:\n{log}"
    service.assert_nothing_left()


def test_a_corrupted_database_file_is_refused_with_a_database_error(service):
    service.db.write_bytes(b"not an SQLite database, just garbage\n" * 200 + os.urandom(8192))
    _assert_refuses_to_start(service, "file is not a database")
    assert not (service.directory / "core").exists()


def test_a_database_in_a_missing_directory_is_refused_with_a_database_error(workdir):
    service = JobdService(workdir, db=workdir / "no" / "such" / "dir" / "jobd.db")
    try:
        _assert_refuses_to_start(service, "unable to open database file")
    finally:
        service.teardown()


def test_a_restart_keeps_every_finished_job(service):
    service.start(*DEFAULT_FLAGS)
    jobd = service.client()
    done = final(jobd, jobd.submit("primes", [0, 100000]))
    crashed = final(jobd, jobd.submit("crash", []))
    service.restart()
    jobd = service.client()
    assert jobd.result(done["id"]) == done
    assert jobd.result(crashed["id"]) == crashed
    assert jobd.submit("fail", []) > crashed["id"]  # ids are not reused


# ---- 10. a full disk ---------------------------------------------------------------------------


@pytest.fixture
def small_fs(workdir):
    if os.geteuid() != 0:
        pytest.skip("a full disk needs a 1 MB tmpfs: mount needs root")
    mnt = workdir / "small"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a 1 MB tmpfs: {p.stderr.strip() or p.returncode}")
    try:
        yield mnt
    finally:
        u = subprocess.run(["umount", str(mnt)], capture_output=True, text=True)
        assert u.returncode == 0, f"umount {mnt}: {u.stderr}"


def test_a_full_disk_refuses_submits_with_storage_and_keeps_what_it_accepted(workdir, small_fs):
    service = JobdService(workdir, db=small_fs / "jobd.db")
    try:
        service.start(*DEFAULT_FLAGS)
        jobd = service.client()
        big = "x" * 50_000
        accepted, refused = [], None
        for _ in range(200):  # 1 MB holds far fewer than 200 x 50 KB
            try:
                accepted.append(jobd.submit("fail", [big]))
            except JobdError as e:
                refused = e
                break
        assert refused is not None, f"{len(accepted)} submits of 50 KB fit in 1 MB"
        assert refused.kind == "storage", refused
        assert accepted, "not even one job fit"
        # The line was written before the answer; the log is read by a
        # thread of the fixture, which may not have taken it in yet.
        deadline = time.monotonic() + 10
        while not ("level=error" in service.log_text() and "database" in service.log_text()):
            assert time.monotonic() < deadline, service.log_text()
            time.sleep(0.02)
        for job in accepted:
            assert jobd.status(job)["id"] == job
        assert isinstance(jobd.counts(), dict)
        # another attempt is answered too: refused the same way, or stored
        try:
            accepted.append(jobd.submit("fail", [big]))
        except JobdError as e:
            assert e.kind == "storage", e
        assert jobd.list(limit=1)[0]["id"] >= accepted[-1]
        service.stop()
        # a restart on the full disk still finds every accepted job
        service.start(*DEFAULT_FLAGS)
        jobd = service.client()
        for job in accepted:
            assert jobd.status(job)["id"] == job
    finally:
        service.teardown()


# ---- regression: in-node jobs in every worker ---------------------------------------------
#
# An in-node job (primes, hang, crash) runs its loop on a worker thread.
# Before jobs ran in 5 ms slices and yielded, as many long in-node jobs as
# workers (max_running defaults to the number of workers) held every worker:
# the gateway's connection actors and the supervisors never ran, no call was
# answered (not even the cancel that would free a worker) and SIGTERM never
# finished its stop.


def _fill_every_worker(service):
    """Starts jobd with 2 workers and max_running 2 (the defaults on this 2-core
    machine spelled out) and two hang jobs in the node, and waits until both
    run: (client, ids, None), or (client, ids, why) if jobd stopped answering
    on the way (the bug)."""
    service.start("--workers", "2", "--max-running", "2")
    jobd = service.client(timeout=3)
    first = jobd.submit("hang", [], isolate=False)
    wait_state(jobd, first, "running")  # one worker still free here
    try:
        second = jobd.submit("hang", [], isolate=False)
        wait_state(jobd, second, "running", timeout=10)
    except HiveError as e:
        return jobd, [first], f"no answer once the second job ran: {e!r}"
    return jobd, [first, second], None


def test_jobd_answers_while_in_node_jobs_fill_every_worker(service):
    jobd, jobs, starved = _fill_every_worker(service)
    try:
        if starved is None:
            deadline = time.monotonic() + 1.0  # it keeps answering (each call: 3 s at most)
            while time.monotonic() < deadline:
                jobd.counts()
            for job in jobs:
                assert jobd.cancel(job)["state"] == "cancelled"
    except HiveError as e:
        starved = f"no answer with both jobs running: {e!r}"
    if starved is not None:
        service.kill()  # a starved jobd cannot be stopped either (next test)
        raise AssertionError(f"jobd stopped answering with every worker in a job: {starved}")


def test_sigterm_stops_jobd_while_in_node_jobs_fill_every_worker(service):
    jobd, jobs, starved = _fill_every_worker(service)
    service.close_clients()
    service.signal(signal.SIGTERM)
    try:
        rc = service.proc.wait(10)
    except subprocess.TimeoutExpired:
        service.kill()
        raise AssertionError("jobd did not exit within 10 s of SIGTERM with every worker in a job"
                             + (f" ({starved})" if starved else ""))
    service.join_log()
    assert rc == 0, service.log_text()


# ---- regression: process spawns at once ----------------------------------------------------
#
# process/spawner.c, hive__proc_spawn, before one FORK was kept in flight at
# a time: forked_id is one slot that the spawner thread overwrote with every
# FORKED report, so when the zygote answered two FORKs before the first
# waiter woke, that one waited for ever inside the job actor's handler: the
# job stayed "running", could not be cancelled, and SIGTERM never finished.
# jobd met it whenever isolated jobs started together (several slots free at
# once, or a restart re-queueing isolated jobs): 8 at once hit it every time.


def test_isolated_jobs_started_at_once_all_start(service):
    service.start("--workers", "10", "--max-running", "8")
    jobd = service.client(timeout=10)
    for _ in range(10):
        submits = [jobd.client.call_async("jobd", {"op": "submit", "kind": "primes",
                                                   "args": [0, 1000], "isolate": True})
                   for _ in range(8)]
        ids = [f.result(10)["id"] for f in submits]
        results = [jobd.client.call_async("jobd", {"op": "result", "id": job, "wait_ms": 3000},
                                          timeout=10) for job in ids]
        stuck = [r["id"] for r in (f.result(10) for f in results) if r["state"] != "done"]
        if stuck:
            service.kill()  # a stuck spawn cannot be cancelled nor stopped
            raise AssertionError(f"isolated jobs {stuck} never ended (their spawn hangs)")


# ---- an end that cannot be stored yet ------------------------------------------------------
#
# table.c: when a batch's commit fails (the disk is full), its submits are
# refused, and the records of jobs that started or ended in it are held, in
# order, and written again every second until they go in; later records
# wait behind them. Nothing accepted is lost: once there is room, every
# job's end is stored and its waiters are answered.


def fill(path):
    """Writes a file until the filesystem is full."""
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC, e


def test_ends_that_fall_in_a_rolled_back_batch_are_written_once_there_is_room(workdir, small_fs):
    service = JobdService(workdir, db=small_fs / "jobd.db")
    try:
        service.start("--workers", "3", "--max-running", "1")
        jobd = service.client(timeout=15)
        sleeper = jobd.submit("sleep", [500])
        accepted = [sleeper] + [jobd.submit("fail", ["small"]) for _ in range(10)]
        wait_state(jobd, sleeper, "running")
        filler = small_fs / "filler"
        fill(filler)
        # Submits are refused while the disk is full; the jobs end meanwhile,
        # their records in batches that roll back with the refused submits.
        refused = 0
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                jobd.submit("fail", ["x" * 20_000])
            except JobdError as e:
                assert e.kind == "storage", e
                refused += 1
        assert refused > 0, "the full disk refused no submit"
        filler.unlink()  # room again: the held records go in within a second or so
        answers = [jobd.result(job, wait=15) for job in accepted]
        left = {r["id"]: r["state"] for r in answers if r["state"] not in FINAL_STATES}
        assert not left, f"jobs that ended are still reported so: {left}"
        assert answers[0]["state"] == "done" and answers[0]["result"] == 500
        assert all(r["state"] == "failed" for r in answers[1:]), answers
    finally:
        service.teardown()


def test_finished_jobs_are_removed_after_keep_results(workdir):
    service = JobdService(workdir)
    try:
        service.start("--keep-results", "1")  # looked at every half second
        jobd = service.client()
        done = jobd.submit("primes", [0, 100])
        assert jobd.result(done, wait=10)["state"] == "done"
        hang = jobd.submit("hang")
        wait_state(jobd, hang, "running")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                jobd.status(done)
            except JobdError as e:
                assert e.kind == "notfound", e
                break
            time.sleep(0.1)
        else:
            pytest.fail("a job finished 20 s ago is still kept with --keep-results 1")
        assert jobd.status(hang)["state"] == "running", "an unfinished job is never removed"
        assert jobd.cancel(hang)["state"] == "cancelled"
    finally:
        service.teardown()


def test_when_its_tree_gives_up_jobd_exits_1_for_systemd_to_restart_it(workdir):
    hivectl = os.environ.get("HIVECTL", os.path.join(os.path.dirname(JOBD_PROGRAM), "hivectl"))
    if not os.access(hivectl, os.X_OK):
        pytest.fail(f"{hivectl} is missing (build it, or set HIVECTL)")
    service = JobdService(workdir)
    try:
        service.start()
        jobd = service.client()
        job = jobd.submit("hang")
        wait_state(jobd, job, "running")
        service.close_clients()
        # jobd.sup allows 3 restarts in 10 s: the scheduler killed 4 times ends it.
        deadline = time.monotonic() + 30
        while service.running() and time.monotonic() < deadline:
            subprocess.run([hivectl, "-s", str(service.admin_socket), "kill", "jobd.scheduler"],
                           capture_output=True, timeout=10)
            try:
                service.proc.wait(0.2)
            except subprocess.TimeoutExpired:
                pass
        assert not service.running(), "jobd outlived its tree"
        assert service.proc.returncode == 1, service.log_text()
        service.join_log()
        assert "the service stops, exit status 1" in service.log_text()
        service.assert_nothing_left()
        service.start()  # as systemd would: the job is still there, and runs again
        jobd = service.client()
        status = wait_state(jobd, job, "running")
        assert status["attempts"] >= 2, status
        assert jobd.cancel(job)["state"] == "cancelled"
    finally:
        service.teardown()


def test_a_primes_range_past_2_to_the_40_fails_rather_than_hold_a_worker(jobd):
    job = jobd.submit("primes", [2**64 - 100, 2**64 - 1])
    r = jobd.result(job, wait=10)
    assert r["state"] == "failed" and "invalid argument" in r["error"], r
    assert jobd.result(jobd.submit("primes", [0, 100]), wait=10)["result"] == 25


def test_http_serves_the_inspector_and_metrics_of_jobd(service):
    """--http: the page, /metrics and the JSON API, on a port the log names."""
    service.start(*DEFAULT_FLAGS, "--http", "127.0.0.1:0")
    m = service.wait_log(re.compile(r'msg="http: the inspector is at (http://127\.0\.0\.1:\d+/)"'), 0)
    assert m is not None, service.log_text()
    url = m.group(1)
    with urllib.request.urlopen(url, timeout=30) as r:
        assert "<title>hive inspector</title>" in r.read().decode()
    with urllib.request.urlopen(url + "api/tree", timeout=30) as r:
        tree = json.load(r)
    top = [n for n in tree if n["name"] == "jobd.sup"]
    assert len(top) == 1 and top[0]["type"] == "supervisor" and top[0]["children"], tree
    with urllib.request.urlopen(url + "metrics", timeout=30) as r:
        text = r.read().decode()
    assert re.search(r'^hive_actor_mailbox_length\{pid="<[0-9.]+>",name="jobd.sup"', text, re.M), text
