"""hive_client.Client (threads) against a live node serving the test actors.

Covers: the hello over TCP (token) and over the Unix socket (no token), and
its refusals; call/send/whereis/stats and the values a call carries; Pid's
text form; every error kind (timeout, noproc, busy, unauthorized, a remote
shutdown, connection lost) and the arguments refused locally,
each time checking the connection still works after; a reply that is not
msgpack; pushed messages through receive() and messages(), and the
max_messages bound; one client shared by many threads, many call_async
futures in flight, and concurrent.futures' wait/as_completed on them; the
node killed or stopped under pending calls; close() and the context manager
leaving no thread and no socket behind; and a loss that a waiting thread
sees while the reader is still failing the futures (it was once reported as
a timeout).
"""

from __future__ import annotations

import concurrent.futures
import re
import threading
import time

import pytest
from conftest import open_sockets, run_bounded, wait_until

from hive_client import (
    TAG_USER,
    Client,
    HiveBusy,
    HiveConnectionLost,
    HiveError,
    HiveNoProc,
    HiveRemoteError,
    HiveTimeout,
    HiveUnauthorized,
    Message,
    Pid,
)

MAX_INFLIGHT = 1024  # the node's default gateway_max_inflight
PROMPT = 5.0  # seconds: "at once", with room for a loaded machine


@pytest.fixture(scope="module")
def client(node):
    """One TCP client shared by the module's tests that need no client of their own."""
    c = Client(node.tcp, token=node.token)
    yield c
    c.close()


# ---- hello ----------------------------------------------------------------


def test_hello_over_tcp_with_the_token_gives_the_node_and_a_pid(node):
    with Client(node.tcp, token=node.token) as c:
        assert isinstance(c.node, str) and c.node
        assert isinstance(c.self_pid, Pid) and c.self_pid.value != 0
        assert c.max_frame > 0
        assert c.call("echo", "over tcp") == "over tcp"


def test_hello_over_the_unix_socket_needs_no_token(node):
    with Client(node.unix) as c:
        assert c.self_pid.value != 0
        assert c.call("echo", "over unix") == "over unix"


def test_each_connection_gets_a_pid_of_its_own(node):
    with Client(node.tcp, token=node.token) as a, Client(node.unix) as b:
        assert a.self_pid != b.self_pid


def test_a_wrong_token_is_refused_as_unauthorized(node):
    with pytest.raises(HiveUnauthorized) as info:
        Client(node.tcp, token="not-" + node.token)
    assert info.value.kind == "unauthorized"
    assert isinstance(info.value, HiveError)


def test_tcp_without_a_token_is_refused_as_unauthorized(node):
    with pytest.raises(HiveUnauthorized):
        Client(node.tcp)


def test_a_socket_nobody_listens_on_raises_connection_lost(tmp_path):
    with pytest.raises(HiveConnectionLost):
        Client(str(tmp_path / "nobody.sock"), timeout=2)


def test_an_address_that_is_neither_host_port_nor_path_is_a_value_error():
    with pytest.raises(ValueError):
        Client("127.0.0.1:http")


# ---- calls and their values -------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        0,
        -1,
        42,
        2**64 - 1,
        -(2**63),
        "",
        "hive ✓ ünïcode",
        b"",
        b"\x00\xffraw",
        [],
        [1, "two", 3.0],
        {},
        {"a": 1, "b": [True, False]},
        {1: "int key"},
        None,
        True,
        False,
        1.5,
        -0.25,
        {"nested": [{"deep": [1, [2, [3, None]]], "bin": b"\x01"}], "n": None},
    ],
    ids=lambda v: type(v).__name__,
)
def test_call_returns_the_decoded_reply(client, value):
    assert client.call("echo", value) == value


def test_a_tuple_goes_out_and_comes_back_as_a_list(client):
    assert client.call("echo", (1, 2, 3)) == [1, 2, 3]


def test_call_without_data_carries_none(client):
    assert client.call("echo") is None


def test_sum_adds_its_two_integers(client):
    assert client.call("sum", [2, 3]) == 5
    assert client.call("sum", [-7, 7]) == 0
    assert client.call("sum", [10**12, 1]) == 10**12 + 1


def test_a_call_waits_for_a_slow_actor_reply(client):
    start = time.monotonic()
    assert client.call("slow", 200, timeout=5) == 200
    assert time.monotonic() - start >= 0.19


def test_a_call_with_any_user_tag_is_answered(client):
    assert client.call("echo", "t", tag=TAG_USER) == "t"
    assert client.call("echo", "t", tag=0xFFFFFFFF) == "t"


def test_a_reply_that_is_not_msgpack_comes_back_as_bytes(client):
    reply = client.call("bytes", "anything")
    assert isinstance(reply, bytes)
    assert reply == b"\xc1\x01\x02"
    assert client.call("echo", 1) == 1  # and the connection is fine


def test_a_call_by_pid_or_integer_reaches_the_same_actor(client):
    pid = client.whereis("echo")
    assert client.call(pid, "by pid") == "by pid"
    assert client.call(int(pid), "by int") == "by int"


def test_a_frame_just_under_max_frame_round_trips(client):
    blob = b"x" * (client.max_frame - 100)
    assert client.call("echo", blob) == blob


def test_sends_reach_an_actor_before_a_later_call_to_it(client):
    before = client.stats("echo")["processed"]
    for i in range(50):
        client.send("echo", i)
    assert client.call("echo", "after the sends") == "after the sends"
    # The call was handled after the 50 sends (one mailbox, in order).
    assert client.stats("echo")["processed"] - before >= 51


def test_what_a_send_makes_an_actor_push_comes_before_what_a_later_call_makes_it_push(client):
    me = client.self_pid.value
    client.send("pusher", [me, 3, 100])
    assert client.call("pusher", [me, 2, 101]) == 2
    got = [client.receive(timeout=PROMPT) for _ in range(5)]
    assert [(m.tag, m.data) for m in got] == [(100, 0), (100, 1), (100, 2), (101, 0), (101, 1)]


def test_a_send_to_a_name_nobody_has_is_dropped_silently(client):
    client.send("nobody-has-this-name", 1)
    assert client.call("echo", "still here") == "still here"


# ---- whereis, stats, Pid ------------------------------------------------------


def test_whereis_gives_a_pid_for_a_name_and_none_for_an_unknown_one(client):
    pid = client.whereis("echo")
    assert isinstance(pid, Pid) and pid.value != 0
    assert client.whereis("nobody-has-this-name") is None
    assert client.whereis("") is None


def test_a_pid_prints_erlang_style_and_parses_back(client):
    pid = client.whereis("echo")
    text = str(pid)
    assert re.fullmatch(r"<\d+\.\d+\.\d+>", text)
    assert Pid.parse(text) == pid
    assert int(pid) == pid.value


def test_pid_fields_and_text():
    pid = Pid.parse("<0.2.1>")
    assert (pid.node, pid.slot, pid.gen) == (0, 2, 1)
    assert pid.value == (2 << 32) | 1
    assert str(pid) == "<0.2.1>"
    assert Pid.parse("0.2.1") == pid
    assert Pid.parse(" <3.16777215.4294967295> ") == Pid((3 << 56) | (0xFFFFFF << 32) | 0xFFFFFFFF)
    assert {Pid(5), Pid(5)} == {Pid(5)}
    assert Pid(1) < Pid(2)


@pytest.mark.parametrize("text", ["", "0.2", "<a.b.c>", "<256.0.1>", "<0.16777216.1>", "<0.1.4294967296>"])
def test_pid_parse_refuses_what_is_not_a_pid(text):
    with pytest.raises(ValueError):
        Pid.parse(text)


def test_stats_gives_the_actor_fields(client):
    st = client.stats("echo")
    assert {"pid", "name", "behaviour", "mailbox_len", "processed"} <= set(st)
    assert st["name"] == "echo"
    assert st["behaviour"] == "gwt_echo"
    assert st["pid"] == str(client.whereis("echo"))
    assert isinstance(st["mailbox_len"], int) and isinstance(st["processed"], int)
    assert client.stats(client.whereis("echo"))["name"] == "echo"


def test_stats_of_an_unknown_actor_is_noproc(client):
    with pytest.raises(HiveNoProc):
        client.stats("nobody-has-this-name")


# ---- errors -----------------------------------------------------------------


def test_a_call_nobody_answers_times_out_at_its_own_timeout(client):
    start = time.monotonic()
    with pytest.raises(HiveTimeout) as info:
        client.call("never", "hello?", timeout=0.2)
    took = time.monotonic() - start
    assert info.value.kind == "timeout"
    assert 0.15 <= took < 2.0, took  # not the client's 5 s default
    assert client.call("echo", 1) == 1


def test_the_clients_default_timeout_bounds_a_call(node):
    with Client(node.tcp, token=node.token, timeout=0.3) as c:
        start = time.monotonic()
        with pytest.raises(HiveTimeout):
            c.call("never")
        assert time.monotonic() - start < 2.0


def test_a_call_to_an_actor_that_fails_is_noproc_and_it_comes_back(client):
    with pytest.raises(HiveNoProc) as info:
        client.call("crash", 1)
    assert info.value.kind == "noproc"
    with pytest.raises(HiveNoProc):  # restarted by its supervisor, it fails again
        client.call("crash", 2)
    wait_until(lambda: client.whereis("crash") is not None, PROMPT, "crash is registered again")
    assert client.call("echo", 1) == 1


def test_a_call_to_an_unknown_name_is_noproc(client):
    with pytest.raises(HiveNoProc) as info:
        client.call("nobody-has-this-name")
    assert info.value.kind == "noproc"
    assert "nobody-has-this-name" in info.value.detail


def test_pid_zero_and_pids_out_of_range_are_refused_before_sending(client):
    for bad in (0, -1, 1 << 64):
        with pytest.raises(ValueError):
            client.call(bad, "x")
    assert client.call("echo", 1) == 1


@pytest.mark.parametrize(
    "bad",
    [
        dict(to="echo", tag=TAG_USER - 1),
        dict(to="echo", tag=0),
        dict(to="echo", tag=2**32),
        dict(to="echo", tag=True),
        dict(to="", tag=TAG_USER),
    ],
    ids=["tag63", "tag0", "tag2**32", "tagbool", "emptyname"],
)
def test_bad_values_are_refused_locally_with_value_error(client, bad):
    with pytest.raises(ValueError):
        client.call(bad["to"], 1, tag=bad["tag"])
    with pytest.raises(ValueError):
        client.send(bad["to"], 1, tag=bad["tag"])
    with pytest.raises(ValueError):
        client.call_async(bad["to"], 1, tag=bad["tag"])
    assert client.call("echo", "fine") == "fine"


@pytest.mark.parametrize("to", [3.5, None, b"echo", True, ["echo"]], ids=repr)
def test_a_target_of_the_wrong_type_is_refused_locally_with_type_error(client, to):
    with pytest.raises(TypeError):
        client.call(to, 1)
    with pytest.raises(TypeError):
        client.send(to, 1)
    with pytest.raises(TypeError):
        client.stats(to)
    assert client.call("echo", "fine") == "fine"


def test_whereis_refuses_a_name_that_is_not_a_str(client):
    with pytest.raises(TypeError):
        client.whereis(5)
    assert client.call("echo", "fine") == "fine"


def test_a_frame_over_max_frame_is_refused_locally(client):
    with pytest.raises(ValueError):
        client.call("echo", b"x" * client.max_frame)
    assert client.call("echo", "fine") == "fine"


def test_data_msgpack_cannot_encode_is_refused_locally(client):
    with pytest.raises(TypeError):
        client.call("echo", object())
    assert client.call("echo", "fine") == "fine"


def test_calls_over_max_inflight_are_busy_and_the_connection_survives(node):
    with Client(node.tcp, token=node.token) as c:
        futures = [c.call_async("never", i, timeout=2.0) for i in range(MAX_INFLIGHT + 76)]
        # While 1024 calls are in flight, requests that are not calls still work.
        assert c.whereis("echo") is not None
        done, not_done = concurrent.futures.wait(futures, timeout=15)
        assert not not_done
        errors = [f.exception() for f in futures]
        busy = [e for e in errors if isinstance(e, HiveBusy)]
        timeouts = [e for e in errors if isinstance(e, HiveTimeout)]
        assert len(busy) == 76
        assert all(e.kind == "busy" for e in busy)
        assert len(timeouts) == MAX_INFLIGHT
        # The client gives up on each call at its own deadline, which starts
        # before the node's: the node may hold the calls a moment longer
        # (more under load), answering busy until its timeouts free them.
        def usable():
            try:
                return c.call("echo", "usable") == "usable"
            except HiveBusy:
                return False
        wait_until(usable, PROMPT, "the node frees the timed-out calls")


def test_stopping_the_node_answers_pending_calls_with_a_remote_shutdown(own_node):
    with Client(own_node.tcp, token=own_node.token) as c:
        pending = c.call_async("never", 1, timeout=30)
        wait_until(lambda: c.stats("never")["processed"] >= 1, PROMPT, "the call reached never")
        own_node.request_stop()
        with pytest.raises(HiveRemoteError) as info:
            pending.result(timeout=10)
        assert info.value.kind == "shutdown"
        assert own_node.wait_exit() == 0
        with pytest.raises(HiveConnectionLost):
            c.call("echo", 1)


# ---- pushed messages ----------------------------------------------------------


def test_pushed_messages_come_out_of_receive_in_order(client):
    n = client.call("pusher", [client.self_pid.value, 5, 300])
    assert n == 5
    pusher = client.whereis("pusher")
    got = [client.receive(timeout=PROMPT) for _ in range(5)]
    assert all(isinstance(m, Message) for m in got)
    assert [m.data for m in got] == [0, 1, 2, 3, 4]
    assert {m.tag for m in got} == {300}
    assert {m.sender for m in got} == {pusher}


def test_pushed_messages_come_out_of_messages(client):
    assert client.call("pusher", [client.self_pid.value, 20, 301]) == 20

    def take_20():
        got = []
        for m in client.messages():
            got.append(m)
            if len(got) == 20:
                break
        return got

    got = run_bounded(take_20, 10, "messages() yielding 20 pushes")
    assert [(m.tag, m.data) for m in got] == [(301, i) for i in range(20)]


def test_receive_with_nothing_pushed_times_out(client):
    start = time.monotonic()
    with pytest.raises(HiveTimeout):
        client.receive(timeout=0.1)
    assert time.monotonic() - start < 2.0


def test_pushes_over_max_messages_are_dropped_and_counted(node):
    with Client(node.tcp, token=node.token, max_messages=5) as c:
        assert c.call("pusher", [c.self_pid.value, 20, 302]) == 20
        # The pushes came before the reply on the one socket: all were handled.
        assert [c.receive(timeout=PROMPT).data for _ in range(5)] == [0, 1, 2, 3, 4]
        with pytest.raises(HiveTimeout):
            c.receive(timeout=0.1)
        assert c.dropped_messages == 15


# ---- many threads, many futures -------------------------------------------------


def test_sixteen_threads_sharing_one_client_each_get_their_own_answers(client):
    results = {}
    failures = []
    start = threading.Barrier(16, timeout=10)

    def worker(t):
        try:
            start.wait()
            results[t] = [client.call("echo", [t, k, f"{t}/{k}"]) for k in range(200)]
        except BaseException as e:
            failures.append((t, e))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not any(th.is_alive() for th in threads), "a thread is still calling after 60 s"
    assert not failures
    for t in range(16):
        assert results[t] == [[t, k, f"{t}/{k}"] for k in range(200)], f"thread {t}"


def test_a_thousand_call_async_in_flight_each_resolve_their_own_future(client):
    futures = [client.call_async("sum", [i, 1_000_000 * i]) for i in range(1000)]
    assert len({id(f) for f in futures}) == 1000
    assert [f.result(timeout=10) for f in futures] == [1_000_001 * i for i in range(1000)]


def test_call_async_futures_work_with_wait_and_as_completed(client):
    late = client.call_async("never", "late", timeout=1.0)
    quick = [client.call_async("echo", i) for i in range(10)]
    everything = [late] + quick
    done, not_done = concurrent.futures.wait(everything, timeout=10,
                                             return_when=concurrent.futures.FIRST_COMPLETED)
    assert done and late not in done  # an echo answered first, the late one still pending
    order = list(concurrent.futures.as_completed(everything, timeout=10))
    assert set(order) == set(everything)
    assert order[-1] is late  # it failed last, after its 1 s timeout
    assert [f.result() for f in quick] == list(range(10))
    assert isinstance(late.exception(), HiveTimeout)
    done, not_done = concurrent.futures.wait(everything, timeout=0)
    assert done == set(everything) and not not_done


def test_sync_calls_and_call_async_mix_on_one_connection(client):
    futures = [client.call_async("echo", ("async", i)) for i in range(100)]
    assert [client.call("echo", ("sync", i)) for i in range(100)] == [["sync", i] for i in range(100)]
    assert [f.result(timeout=10) for f in futures] == [["async", i] for i in range(100)]


# ---- the connection lost, closing -----------------------------------------------


def test_a_lost_connection_fails_every_pending_call_at_once(own_node):
    c = Client(own_node.tcp, token=own_node.token)
    try:
        before = c.stats("never")["processed"]
        outcomes = {}  # thread -> (exception, when it returned)

        def blocked(t):
            try:
                c.call("never", t, timeout=30)
                outcomes[t] = (None, time.monotonic())
            except BaseException as e:
                outcomes[t] = (e, time.monotonic())

        threads = [threading.Thread(target=blocked, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        futures = [c.call_async("never", i, timeout=30) for i in range(100)]
        finished = {}
        for f in futures:
            f.add_done_callback(lambda f: finished.setdefault(f, time.monotonic()))
        wait_until(lambda: c.stats("never")["processed"] - before >= 108, 10,
                   "all 108 calls reached the actor")

        own_node.proc.kill()
        killed = time.monotonic()
        for th in threads:
            th.join(10)
        assert not any(th.is_alive() for th in threads), "a blocked call outlived the connection by 10 s"
        done, not_done = concurrent.futures.wait(futures, timeout=10)
        assert not not_done

        for t, (error, when) in outcomes.items():
            assert isinstance(error, HiveConnectionLost), f"thread {t}: {error!r}"
            assert when - killed < PROMPT, f"thread {t} took {when - killed:.2f} s"
        assert len(outcomes) == 8
        for f in futures:
            assert isinstance(f.exception(), HiveConnectionLost), repr(f.exception())
            assert finished[f] - killed < PROMPT

        with pytest.raises(HiveConnectionLost):
            c.call("echo", 1)
        with pytest.raises(HiveConnectionLost):
            c.send("echo", 1)
        with pytest.raises(HiveConnectionLost):
            c.call_async("echo", 1)
        with pytest.raises(HiveConnectionLost):
            c.whereis("echo")
        with pytest.raises(HiveConnectionLost):
            c.receive(timeout=1)
        assert run_bounded(lambda: list(c.messages()), 5, "messages() after the loss") == []
    finally:
        c.close()


def test_messages_pushed_before_the_loss_are_still_received(own_node):
    with Client(own_node.tcp, token=own_node.token) as c:
        assert c.call("pusher", [c.self_pid.value, 3, 303]) == 3
        own_node.proc.kill()
        own_node.wait_exit()
        with pytest.raises(HiveConnectionLost):
            c.call("echo", 1)
        got = run_bounded(lambda: [m.data for m in c.messages()], 5, "messages() after the loss")
        assert got == [0, 1, 2]
        with pytest.raises(HiveConnectionLost):
            c.receive(timeout=1)


def test_close_fails_the_calls_other_threads_wait_on(node):
    c = Client(node.tcp, token=node.token)
    before = c.stats("never")["processed"]
    errors = []

    def blocked():
        try:
            c.call("never", timeout=30)
        except BaseException as e:
            errors.append((e, time.monotonic()))

    threads = [threading.Thread(target=blocked) for _ in range(4)]
    for th in threads:
        th.start()
    pending = c.call_async("never", timeout=30)
    wait_until(lambda: c.stats("never")["processed"] - before >= 5, 10, "all 5 calls reached never")
    closed = time.monotonic()
    c.close()
    for th in threads:
        th.join(10)
    assert not any(th.is_alive() for th in threads)
    assert len(errors) == 4
    for e, when in errors:
        assert isinstance(e, HiveConnectionLost), repr(e)
        assert when - closed < PROMPT
    assert isinstance(pending.exception(timeout=PROMPT), HiveConnectionLost)


def test_the_context_manager_closes_the_connection(node):
    with Client(node.tcp, token=node.token) as c:
        assert c.call("echo", 1) == 1
        pending = c.call_async("never", timeout=30)
    assert isinstance(pending.exception(timeout=PROMPT), HiveConnectionLost)
    with pytest.raises(HiveConnectionLost):
        c.call("echo", 1)
    with pytest.raises(HiveConnectionLost):
        c.receive(timeout=1)
    c.close()  # a second close is harmless


def test_closed_clients_leave_no_thread_and_no_socket(node):
    threads_before = set(threading.enumerate())
    sockets_before = open_sockets()

    tcp = Client(node.tcp, token=node.token)
    unix = Client(node.unix)
    with pytest.raises(HiveUnauthorized):
        Client(node.tcp, token="wrong")
    for c in (tcp, unix):
        assert c.call("echo", 1) == 1
        assert c.call_async("echo", 2).result(timeout=10) == 2  # starts its reader thread
        c.call_async("never", timeout=30)  # still pending at close
    assert open_sockets() == sockets_before + 2
    assert len(set(threading.enumerate()) - threads_before) == 2
    tcp.close()
    unix.close()

    for th in set(threading.enumerate()) - threads_before:
        th.join(2)
    left = [th for th in set(threading.enumerate()) - threads_before if th.is_alive()]
    assert not left, f"threads still alive after close: {left}"
    assert open_sockets() == sockets_before


# ---- a loss seen while the reader is still failing the futures ------------------


def _slow_set_exception(monkeypatch, seconds):
    """Makes failing a Future slow, as if the reader thread were preempted in _fail_all."""
    original = concurrent.futures.Future.set_exception

    def slow(self, exc):
        time.sleep(seconds)  # stands for preemption, not for synchronisation
        original(self, exc)

    monkeypatch.setattr(concurrent.futures.Future, "set_exception", slow)


def test_a_call_pending_when_the_connection_drops_never_reports_a_timeout(own_node, monkeypatch):
    # Two blocked callers: at most one of them is the reader that runs _fail_all,
    # the other waits on the condition and so meets the window.
    with Client(own_node.tcp, token=own_node.token) as c:
        c.call_async("never", 0, timeout=30)  # a reader thread, and the future failed first
        errors = []

        def blocked(i):
            try:
                c.call("never", i, timeout=30)
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=blocked, args=(i,)) for i in (1, 2)]
        for th in threads:
            th.start()
        wait_until(lambda: c.stats("never")["processed"] >= 3, PROMPT, "the 3 calls reached never")
        _slow_set_exception(monkeypatch, 0.5)
        own_node.proc.kill()
        for th in threads:
            th.join(10)
        assert not any(th.is_alive() for th in threads)
        assert [type(e) for e in errors] == [HiveConnectionLost, HiveConnectionLost], errors


def test_messages_ends_quietly_when_the_connection_drops(own_node, monkeypatch):
    # Two consumers: at most one of them is the reader that runs _fail_all.
    with Client(own_node.tcp, token=own_node.token) as c:
        c.call_async("never", 0, timeout=30)  # a reader thread, and a future to fail
        wait_until(lambda: c.stats("never")["processed"] >= 1, PROMPT, "the call reached never")
        _slow_set_exception(monkeypatch, 0.5)
        consumers = concurrent.futures.ThreadPoolExecutor(2)
        try:
            got = [consumers.submit(lambda: list(c.messages())) for _ in range(2)]
            assert c.call("echo", 1) == 1
            own_node.proc.kill()
            assert [g.result(timeout=10) for g in got] == [[], []]
        finally:
            consumers.shutdown(wait=False)
