"""hive_client.aio.AsyncClient (asyncio) against a live node serving the test actors.

Covers the same ground as test_client.py, as coroutines: connecting over
TCP (token) and the Unix socket (no token) and the refusals; call, send,
whereis and stats and the values a call carries; the error kinds (timeout,
noproc, busy, unauthorized, and shutdown) and arguments
refused locally, the connection still usable after each; asyncio.gather of
a thousand calls on one connection; pushed messages through receive() and
``async for`` over messages(); the node killed under pending calls (they
all fail with HiveConnectionLost at once); and close()/``async with``
leaving no socket and no task behind. Every await that could block has a
timeout of its own. 
"""

from __future__ import annotations

import asyncio
import sys
import time

import pytest
from conftest import open_sockets

from hive_client import (
    TAG_USER,
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
from hive_client.aio import AsyncClient

MAX_INFLIGHT = 1024  # the node's default gateway_max_inflight
PROMPT = 5.0  # seconds: "at once", with room for a loaded machine
GUARD = 15.0  # the most any single await in these tests may take


async def bounded(awaitable, timeout=GUARD):
    """awaitable, failing the test instead of hanging past timeout seconds."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        pytest.fail(f"no result within {timeout} s")


async def connect(node, **kw):
    return await bounded(AsyncClient.connect(node.tcp, token=node.token, **kw))


async def eventually(predicate, timeout, what):
    """Awaits predicate() (a coroutine function) until it holds; fails after timeout s."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"after {timeout} s still not: {what}")
        await asyncio.sleep(0.01)


async def processed(client, name):
    return (await bounded(client.stats(name)))["processed"]


# ---- connecting ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_connect_over_tcp_with_the_token(node):
    async with await connect(node) as c:
        assert isinstance(c.node, str) and c.node
        assert isinstance(c.self_pid, Pid) and c.self_pid.value != 0
        assert c.max_frame > 0
        assert await c.call("echo", "over tcp") == "over tcp"


@pytest.mark.asyncio
async def test_connect_over_the_unix_socket_needs_no_token(node):
    async with await bounded(AsyncClient.connect(node.unix)) as c:
        assert c.self_pid.value != 0
        assert await c.call("echo", "over unix") == "over unix"


@pytest.mark.asyncio
async def test_a_wrong_token_is_refused_as_unauthorized(node):
    with pytest.raises(HiveUnauthorized) as info:
        await bounded(AsyncClient.connect(node.tcp, token="not-" + node.token))
    assert info.value.kind == "unauthorized"
    assert isinstance(info.value, HiveError)


@pytest.mark.asyncio
async def test_tcp_without_a_token_is_refused_as_unauthorized(node):
    with pytest.raises(HiveUnauthorized):
        await bounded(AsyncClient.connect(node.tcp))


@pytest.mark.asyncio
async def test_a_socket_nobody_listens_on_raises_connection_lost(tmp_path):
    with pytest.raises(HiveConnectionLost):
        await bounded(AsyncClient.connect(str(tmp_path / "nobody.sock"), timeout=2))


# ---- calls, sends, whereis, stats -------------------------------------------------


@pytest.mark.asyncio
async def test_call_returns_the_decoded_reply_of_every_type(node):
    values = [0, -1, 2**64 - 1, -(2**63), "", "ünïcode ✓", b"", b"\x00\xff", [], [1, "two", 3.0],
              {}, {"a": 1, "b": [True, False]}, {1: "int key"}, None, True, 1.5,
              {"nested": [{"deep": [1, [2, [3, None]]], "bin": b"\x01"}], "n": None}]
    async with await connect(node) as c:
        for value in values:
            assert await c.call("echo", value) == value, repr(value)
        assert await c.call("echo") is None
        assert await c.call("sum", [2, 3]) == 5
        assert await c.call("echo", "t", tag=0xFFFFFFFF) == "t"


@pytest.mark.asyncio
async def test_a_reply_that_is_not_msgpack_comes_back_as_bytes(node):
    async with await connect(node) as c:
        assert await c.call("bytes", 1) == b"\xc1\x01\x02"
        assert await c.call("echo", 1) == 1


@pytest.mark.asyncio
async def test_a_call_waits_for_a_slow_actor_reply(node):
    async with await connect(node) as c:
        start = time.monotonic()
        assert await c.call("slow", 200, timeout=5) == 200
        assert time.monotonic() - start >= 0.19


@pytest.mark.asyncio
async def test_sends_reach_an_actor_before_a_later_call_to_it(node):
    async with await connect(node) as c:
        before = await processed(c, "echo")
        for i in range(50):
            await c.send("echo", i)
        assert await c.call("echo", "after") == "after"
        assert await processed(c, "echo") - before >= 51


@pytest.mark.asyncio
async def test_what_a_send_makes_an_actor_push_comes_before_what_a_later_call_makes_it_push(node):
    async with await connect(node) as c:
        me = c.self_pid.value
        await c.send("pusher", [me, 3, 100])
        assert await c.call("pusher", [me, 2, 101]) == 2
        got = [await c.receive(timeout=PROMPT) for _ in range(5)]
        assert [(m.tag, m.data) for m in got] == [(100, 0), (100, 1), (100, 2), (101, 0), (101, 1)]


@pytest.mark.asyncio
async def test_whereis_gives_a_pid_for_a_name_and_none_for_an_unknown_one(node):
    async with await connect(node) as c:
        pid = await c.whereis("echo")
        assert isinstance(pid, Pid) and pid.value != 0
        assert Pid.parse(str(pid)) == pid
        assert await c.call(pid, "by pid") == "by pid"
        assert await c.whereis("nobody-has-this-name") is None


@pytest.mark.asyncio
async def test_stats_gives_the_actor_fields(node):
    async with await connect(node) as c:
        st = await c.stats("echo")
        assert {"pid", "name", "behaviour", "mailbox_len", "processed"} <= set(st)
        assert st["name"] == "echo" and st["behaviour"] == "gwt_echo"
        assert st["pid"] == str(await c.whereis("echo"))
        with pytest.raises(HiveNoProc):
            await c.stats("nobody-has-this-name")


# ---- errors -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_call_nobody_answers_times_out_at_its_own_timeout(node):
    async with await connect(node) as c:
        start = time.monotonic()
        with pytest.raises(HiveTimeout) as info:
            await bounded(c.call("never", timeout=0.2))
        assert info.value.kind == "timeout"
        assert 0.15 <= time.monotonic() - start < 2.0
        assert await c.call("echo", 1) == 1


@pytest.mark.asyncio
async def test_the_clients_default_timeout_bounds_a_call(node):
    async with await connect(node, timeout=0.3) as c:
        start = time.monotonic()
        with pytest.raises(HiveTimeout):
            await bounded(c.call("never"))
        assert time.monotonic() - start < 2.0


@pytest.mark.asyncio
async def test_calls_to_a_failing_actor_or_an_unknown_name_are_noproc(node):
    async with await connect(node) as c:
        with pytest.raises(HiveNoProc) as info:
            await c.call("crash", 1)
        assert info.value.kind == "noproc"
        with pytest.raises(HiveNoProc) as info:
            await c.call("nobody-has-this-name")
        assert "nobody-has-this-name" in info.value.detail
        assert await c.call("echo", 1) == 1


@pytest.mark.asyncio
async def test_pid_zero_and_pids_out_of_range_are_refused_before_sending(node):
    async with await connect(node) as c:
        for bad in (0, -1, 1 << 64):
            with pytest.raises(ValueError):
                await c.call(bad, "x")
        assert await c.call("echo", 1) == 1


@pytest.mark.asyncio
async def test_bad_arguments_are_refused_locally_and_the_connection_survives(node):
    async with await connect(node) as c:
        for tag in (TAG_USER - 1, 0, 2**32, True):
            with pytest.raises(ValueError):
                await c.call("echo", 1, tag=tag)
            with pytest.raises(ValueError):
                await c.send("echo", 1, tag=tag)
        with pytest.raises(ValueError):
            await c.call("", 1)
        for to in (3.5, None, b"echo", True):
            with pytest.raises(TypeError):
                await c.call(to, 1)
            with pytest.raises(TypeError):
                await c.stats(to)
        with pytest.raises(TypeError):
            await c.whereis(5)
        with pytest.raises(ValueError):
            await c.call("echo", b"x" * c.max_frame)
        with pytest.raises(TypeError):
            await c.call("echo", object())
        assert await c.call("echo", "fine") == "fine"


@pytest.mark.asyncio
async def test_calls_over_max_inflight_are_busy_and_the_connection_survives(node):
    async with await connect(node) as c:
        calls = [c.call("never", i, timeout=2.0) for i in range(MAX_INFLIGHT + 76)]
        results = await bounded(asyncio.gather(*calls, return_exceptions=True))
        busy = [r for r in results if isinstance(r, HiveBusy)]
        timeouts = [r for r in results if isinstance(r, HiveTimeout)]
        assert len(busy) == 76 and all(e.kind == "busy" for e in busy)
        assert len(timeouts) == MAX_INFLIGHT
        assert await c.call("echo", "usable") == "usable"


@pytest.mark.asyncio
async def test_stopping_the_node_answers_pending_calls_with_a_remote_shutdown(own_node):
    async with await connect(own_node) as c:
        pending = asyncio.ensure_future(c.call("never", 1, timeout=30))
        await eventually(lambda: _at_least(c, "never", 1), PROMPT, "the call reached never")
        own_node.request_stop()
        with pytest.raises(HiveRemoteError) as info:
            await bounded(pending)
        assert info.value.kind == "shutdown"
        with pytest.raises(HiveConnectionLost):
            await bounded(c.call("echo", 1))
    assert own_node.wait_exit() == 0


async def _at_least(client, name, n):
    return await processed(client, name) >= n


# ---- many calls at once -----------------------------------------------------------


@pytest.mark.asyncio
async def test_gather_of_a_thousand_calls_gives_each_its_own_answer(node):
    async with await connect(node) as c:
        calls = [c.call("sum", [i, 1_000_000 * i]) for i in range(1000)]
        assert await bounded(asyncio.gather(*calls)) == [1_000_001 * i for i in range(1000)]
        echoes = [c.call("echo", [i, str(i)]) for i in range(1000)]
        assert await bounded(asyncio.gather(*echoes)) == [[i, str(i)] for i in range(1000)]


@pytest.mark.asyncio
async def test_many_tasks_share_one_connection(node):
    async with await connect(node) as c:

        async def task(t):
            return [await c.call("echo", [t, k]) for k in range(100)]

        results = await bounded(asyncio.gather(*(task(t) for t in range(16))))
        for t, got in enumerate(results):
            assert got == [[t, k] for k in range(100)]


# ---- pushed messages ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_pushed_messages_come_out_of_receive_in_order(node):
    async with await connect(node) as c:
        assert await c.call("pusher", [c.self_pid.value, 5, 300]) == 5
        pusher = await c.whereis("pusher")
        got = [await c.receive(timeout=PROMPT) for _ in range(5)]
        assert all(isinstance(m, Message) for m in got)
        assert [m.data for m in got] == [0, 1, 2, 3, 4]
        assert {m.tag for m in got} == {300} and {m.sender for m in got} == {pusher}


@pytest.mark.asyncio
async def test_pushed_messages_come_out_of_async_for_over_messages(node):
    async with await connect(node) as c:
        assert await c.call("pusher", [c.self_pid.value, 20, 301]) == 20

        async def take_20():
            got = []
            async for m in c.messages():
                got.append(m)
                if len(got) == 20:
                    break
            return got

        got = await bounded(take_20(), 10)
        assert [(m.tag, m.data) for m in got] == [(301, i) for i in range(20)]


@pytest.mark.asyncio
async def test_receive_with_nothing_pushed_times_out(node):
    async with await connect(node) as c:
        start = time.monotonic()
        with pytest.raises(HiveTimeout):
            await c.receive(timeout=0.1)
        assert time.monotonic() - start < 2.0


@pytest.mark.asyncio
async def test_pushes_over_max_messages_are_dropped_and_counted(node):
    async with await connect(node, max_messages=5) as c:
        assert await c.call("pusher", [c.self_pid.value, 20, 302]) == 20
        assert [(await c.receive(timeout=PROMPT)).data for _ in range(5)] == [0, 1, 2, 3, 4]
        with pytest.raises(HiveTimeout):
            await c.receive(timeout=0.1)
        assert c.dropped_messages == 15


@pytest.mark.asyncio
async def test_receive_with_zero_timeout_returns_a_message_already_queued(node):
    async with await connect(node) as c:
        assert await c.call("pusher", [c.self_pid.value, 1, 304]) == 1
        # The push came before the reply, so it is queued already.
        m = await c.receive(timeout=0)
        assert (m.tag, m.data) == (304, 0)


# ---- the connection lost, closing ------------------------------------------------------


@pytest.mark.asyncio
async def test_a_lost_connection_fails_every_pending_call_at_once(own_node):
    c = await connect(own_node)
    try:
        before = await processed(c, "never")
        finished = {}

        async def pending_call(i):
            try:
                await c.call("never", i, timeout=30)
                return None
            except BaseException as e:
                return e
            finally:
                finished[i] = time.monotonic()

        tasks = [asyncio.ensure_future(pending_call(i)) for i in range(200)]
        await eventually(lambda: _at_least(c, "never", before + 200), 10, "all 200 calls reached never")

        own_node.proc.kill()
        killed = time.monotonic()
        errors = await bounded(asyncio.gather(*tasks), 10)
        assert all(isinstance(e, HiveConnectionLost) for e in errors), {type(e) for e in errors}
        assert max(finished.values()) - killed < PROMPT

        with pytest.raises(HiveConnectionLost):
            await bounded(c.call("echo", 1))
        with pytest.raises(HiveConnectionLost):
            await bounded(c.send("echo", 1))
        with pytest.raises(HiveConnectionLost):
            await bounded(c.whereis("echo"))
        with pytest.raises(HiveConnectionLost):
            await bounded(c.receive(timeout=1))

        async def drain():
            return [m async for m in c.messages()]

        assert await bounded(drain(), 5) == []
    finally:
        await bounded(c.close())


@pytest.mark.asyncio
async def test_messages_pushed_before_the_loss_are_still_received(own_node):
    async with await connect(own_node) as c:
        assert await c.call("pusher", [c.self_pid.value, 3, 303]) == 3
        own_node.proc.kill()
        own_node.wait_exit()
        with pytest.raises(HiveConnectionLost):
            await bounded(c.call("echo", 1))

        async def drain():
            return [m.data async for m in c.messages()]

        assert await bounded(drain(), 5) == [0, 1, 2]


@pytest.mark.asyncio
async def test_close_fails_the_calls_still_pending(node):
    c = await connect(node)
    before = await processed(c, "never")
    tasks = [asyncio.ensure_future(c.call("never", i, timeout=30)) for i in range(5)]
    waiting = asyncio.ensure_future(c.receive())
    await eventually(lambda: _at_least(c, "never", before + 5), 10, "all 5 calls reached never")
    await bounded(c.close())
    results = await bounded(asyncio.gather(*tasks, waiting, return_exceptions=True), PROMPT)
    assert all(isinstance(r, HiveConnectionLost) for r in results), results


@pytest.mark.asyncio
async def test_async_with_closes_the_connection(node):
    async with await connect(node) as c:
        assert await c.call("echo", 1) == 1
    with pytest.raises(HiveConnectionLost):
        await bounded(c.call("echo", 1))
    with pytest.raises(HiveConnectionLost):
        await bounded(c.receive(timeout=1))
    await bounded(c.close())  # a second close is harmless


@pytest.mark.asyncio
async def test_closed_clients_leave_no_socket_and_no_task(node):
    tasks_before = asyncio.all_tasks()
    sockets_before = open_sockets()  # the event loop's own sockets included

    tcp = await connect(node)
    unix = await bounded(AsyncClient.connect(node.unix))
    pending = []
    for c in (tcp, unix):
        assert await c.call("echo", 1) == 1
        pending.append(asyncio.ensure_future(c.call("never", timeout=30)))
    assert open_sockets() == sockets_before + 2
    await bounded(tcp.close())
    await bounded(unix.close())
    results = await bounded(asyncio.gather(*pending, return_exceptions=True), PROMPT)
    assert all(isinstance(r, HiveConnectionLost) for r in results), results

    assert open_sockets() == sockets_before
    left = [t for t in asyncio.all_tasks() - tasks_before if not t.done()]
    assert not left, f"tasks still pending after close: {left}"


@pytest.mark.asyncio
async def test_a_refused_connect_leaves_no_socket(node):
    sockets_before = open_sockets()
    with pytest.raises(HiveUnauthorized):
        await bounded(AsyncClient.connect(node.tcp, token="wrong"))
    # The refused transport is closed, not awaited: allow the loop a moment.
    deadline = time.monotonic() + PROMPT
    while open_sockets() != sockets_before and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert open_sockets() == sockets_before
