"""The client for threads: one connection, shared by any number of threads.

Calls from several threads are multiplexed on the one socket: each gets an
id, and every answer goes to the call with that id, in whatever order the
node answers. Messages actors push to this client wait in a queue for
``receive()``.

Who reads the socket: whichever thread is waiting for something takes the
reader's role (a lock), reads, hands out what it read, and gives the role
up once its own answer is there; the others wait on a condition. So a
program that makes one call at a time pays no thread switch for it. The
first ``call_async`` starts a thread that reads for the futures, since
nobody may be waiting on them.
"""

from __future__ import annotations

import itertools
import logging
import queue
import select
import socket
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, Dict, Iterator, Optional

from ._protocol import (
    TAG_USER,
    FrameReader,
    Message,
    Pid,
    Target,
    check_tag,
    decode_body,
    encode_frame,
    encode_target,
    frame_for,
    message_of,
    parse_address,
    result_of,
    welcome_of,
)
from .errors import HiveConnectionLost, HiveError, HiveTimeout

_CLOSED = object()  # what the message queue holds once the connection is gone
_SCAN_EVERY = 0.05  # how often the reader looks for calls past their deadline
_log = logging.getLogger("hive_client")


class Client:
    """A connection to a hive node's gateway.

    ``address`` is ``"host:port"`` or the path of the gateway's Unix socket;
    ``token`` the gateway's token (needed over TCP); ``timeout`` the default
    for every call, in seconds. Pushed messages wait for ``receive()``, at
    most ``max_messages`` of them: beyond that new ones are dropped, counted
    in ``dropped_messages`` and logged. Use it as a context manager, or
    ``close()``.
    """

    def __init__(
        self,
        address: str,
        token: Optional[str] = None,
        timeout: float = 5.0,
        client_name: str = "hive_client",
        max_messages: int = 100_000,
    ) -> None:
        self.timeout = timeout
        self.max_messages = max_messages
        self.dropped_messages = 0
        self._sock = _connect(address, timeout)
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()  # guards _pending and _lost
        self._pending: Dict[int, tuple] = {}  # id -> (Future, deadline)
        self._ids = itertools.count(1)
        self._messages: "queue.Queue[Any]" = queue.Queue()
        self._lost: Optional[HiveError] = None
        self._reader = FrameReader()
        try:
            welcome = self._hello(token, client_name, timeout)
        except BaseException:
            self._sock.close()
            raise
        self.node: str = welcome.get("node", "")
        self.node_id: int = int(welcome.get("node_id", 0))
        self.max_frame: int = int(welcome.get("max_frame", 1 << 20))
        self.self_pid = Pid(int(welcome["self"]))
        self._sock.settimeout(None)  # blocking: readers poll, writers never time out
        self._poller = select.poll()
        self._poller.register(self._sock, select.POLLIN)
        self._read_lock = threading.Lock()  # held by the thread reading the socket
        self._cond = threading.Condition()  # the others wait here for what it reads
        self._closing = False
        self._driver: Optional[threading.Thread] = None
        self._next_scan = time.monotonic() + _SCAN_EVERY

    # ---- the calls ----------------------------------------------------------

    def send(self, to: Target, data: Any = None, tag: int = TAG_USER) -> None:
        """Sends data to an actor; no answer (a message to a dead actor is dropped)."""
        self._write({"op": "send", "to": encode_target(to), "tag": check_tag(tag), "data": data})

    def call(self, to: Target, data: Any = None, tag: int = TAG_USER, timeout: Optional[float] = None) -> Any:
        """Sends data as a request and returns the actor's reply (decoded).

        Raises HiveTimeout, HiveNoProc, HiveBusy, HiveConnectionLost or
        HiveRemoteError. Never waits longer than ``timeout`` seconds.
        """
        timeout = self.timeout if timeout is None else timeout
        future = self._request(self._call_fields(to, data, tag, timeout), timeout)
        return self._result(future, timeout)

    def call_async(self, to: Target, data: Any = None, tag: int = TAG_USER, timeout: Optional[float] = None) -> "Future[Any]":
        """As call, but returns at once a concurrent.futures.Future of the reply."""
        timeout = self.timeout if timeout is None else timeout
        future = self._request(self._call_fields(to, data, tag, timeout), timeout)
        self._start_driver()
        return future

    def whereis(self, name: str) -> Optional[Pid]:
        """The pid registered under name, or None."""
        if not isinstance(name, str):
            raise TypeError("a name is a str")
        pid = self._result(self._request({"op": "whereis", "name": name}, self.timeout), self.timeout)
        return Pid(pid) if pid else None

    def stats(self, to: Target) -> Dict[str, Any]:
        """An actor's statistics: the fields of ``hivectl --json stats``."""
        fields = {"op": "stats", "to": encode_target(to)}
        return self._result(self._request(fields, self.timeout), self.timeout)

    def receive(self, timeout: Optional[float] = None) -> Message:
        """The next message an actor pushed to this client (to ``self_pid``).

        Waits up to ``timeout`` seconds (None: for ever): HiveTimeout then.
        HiveConnectionLost once the connection is gone and none is left.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._pump(lambda: not self._messages.empty(), deadline)
        try:
            item = self._messages.get_nowait()
        except queue.Empty:
            if self._lost is not None:  # lost before its end was queued
                raise self._lost from None
            raise HiveTimeout(f"no message in {timeout} s", kind="timeout") from None
        if item is _CLOSED:
            self._messages.put(_CLOSED)  # for the next receive too
            raise self._lost or HiveConnectionLost("the connection is closed")
        return item

    def messages(self) -> Iterator[Message]:
        """Pushed messages as they come, until the connection closes."""
        while True:
            try:
                yield self.receive()
            except HiveConnectionLost:
                return

    def close(self) -> None:
        """Closes the connection; calls still pending fail with HiveConnectionLost."""
        self._closing = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self._driver is not None and threading.current_thread() is not self._driver:
            self._driver.join()
        with self._read_lock:  # no reader left
            self._sock.close()
        self._fail_all(HiveConnectionLost("the client closed the connection"))

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- inside -------------------------------------------------------------

    def _hello(self, token: Optional[str], name: str, timeout: float) -> Dict[str, Any]:
        hello: Dict[str, Any] = {"op": "hello", "client": name}
        if token is not None:
            hello["token"] = token
        self._sock.sendall(encode_frame(hello))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HiveTimeout("no welcome from the node", kind="timeout")
            self._sock.settimeout(left)
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise HiveConnectionLost("the node closed the connection during hello")
            frames = self._reader.feed(data)
            if frames:
                frame = welcome_of(decode_body(frames[0]))
                for extra in frames[1:]:
                    self._dispatch(decode_body(extra))
                return frame

    def _write(self, fields: Dict[str, Any]) -> None:
        frame = frame_for(fields, self.max_frame)
        if self._lost is not None:
            raise self._lost
        try:
            with self._write_lock:
                self._sock.sendall(frame)
        except OSError as e:
            lost = HiveConnectionLost(f"the connection is lost: {e}")
            self._fail_all(lost)
            raise lost from e

    def _request(self, fields: Dict[str, Any], timeout: float) -> "Future[Any]":
        future: "Future[Any]" = Future()
        ident = next(self._ids)
        fields["id"] = ident
        with self._lock:
            if self._lost is not None:
                raise self._lost
            self._pending[ident] = (future, time.monotonic() + timeout)
        future.hive_id = ident  # type: ignore[attr-defined]
        try:
            self._write(fields)
        except BaseException:
            with self._lock:
                self._pending.pop(ident, None)
            raise
        return future

    def _forget(self, future: "Future[Any]") -> None:
        with self._lock:
            self._pending.pop(getattr(future, "hive_id", 0), None)

    def _dispatch(self, frame: Dict[str, Any]) -> None:
        if frame.get("op") == "message":
            if self._messages.qsize() >= self.max_messages:
                self.dropped_messages += 1
                if self.dropped_messages == 1 or self.dropped_messages % 10000 == 0:
                    _log.warning("hive_client: %d pushed messages dropped: receive() them faster "
                                 "or raise max_messages", self.dropped_messages)
                return
            self._messages.put(message_of(frame))
            return
        ident = frame.get("id")
        with self._lock:
            entry = self._pending.pop(ident, None) if ident is not None else None
        if entry is None:
            return  # a late answer to a call given up on, or an error about a send
        future = entry[0]
        try:
            future.set_result(result_of(frame))
        except HiveError as e:
            future.set_exception(e)

    def _expire(self, now: float) -> None:
        with self._lock:
            late = [i for i, (_, deadline) in self._pending.items() if deadline < now]
            entries = [self._pending.pop(i) for i in late]
        for future, _ in entries:
            if not future.done():
                future.set_exception(HiveTimeout("no answer in time", kind="timeout"))

    def _call_fields(self, to: Target, data: Any, tag: int, timeout: float) -> Dict[str, Any]:
        return {
            "op": "call",
            "to": encode_target(to),
            "tag": check_tag(tag),
            "data": data,
            "timeout_ms": max(0, int(timeout * 1000)),
        }

    def _result(self, future: "Future[Any]", timeout: float) -> Any:
        self._pump(future.done, time.monotonic() + timeout)
        if not future.done():
            self._forget(future)
            if self._lost is not None:  # lost while its future was still being failed
                raise self._lost
            raise HiveTimeout(f"no answer in {timeout} s", kind="timeout")
        return future.result()

    def _pump(self, done: Callable[[], bool], deadline: Optional[float]) -> None:
        """Reads (or waits for whoever reads) until done() or the deadline."""
        while not done() and self._lost is None:
            wait = _SCAN_EVERY
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                wait = min(wait, left)
            if self._read_lock.acquire(blocking=False):
                try:
                    if not done():
                        self._read_once(wait)
                finally:
                    self._read_lock.release()
                    with self._cond:
                        self._cond.notify_all()
            else:
                with self._cond:
                    if not done() and self._lost is None:
                        self._cond.wait(wait)

    def _read_once(self, wait: float) -> None:
        """One poll and read, its frames handed out; the reader's lock held."""
        if self._poller.poll(int(wait * 1000) if wait > 0 else 0):
            try:
                data = self._sock.recv(262144)
            except OSError as e:
                self._fail_all(HiveConnectionLost(f"the connection is lost: {e}"))
                return
            if not data:
                self._fail_all(HiveConnectionLost("the node closed the connection"))
                return
            try:
                frames = [decode_body(body) for body in self._reader.feed(data)]
            except Exception as e:  # a frame msgpack cannot read
                self._fail_all(HiveConnectionLost(f"the connection is unusable: {e!r}"))
                return
            for frame in frames:
                self._dispatch(frame)
        now = time.monotonic()
        if now >= self._next_scan:
            self._expire(now)
            self._next_scan = now + _SCAN_EVERY

    def _start_driver(self) -> None:
        if self._driver is None:
            with self._lock:
                if self._driver is None:
                    self._driver = threading.Thread(target=self._drive, name="hive_client-reader", daemon=True)
                    self._driver.start()

    def _drive(self) -> None:
        """The reader for futures nobody waits on, until the connection ends."""
        self._pump(lambda: self._closing, None)

    def _fail_all(self, error: HiveError) -> None:
        with self._lock:
            if self._lost is None:
                self._lost = error
            pending, self._pending = self._pending, {}
        for future, _ in pending.values():
            if not future.done():
                future.set_exception(self._lost)
        self._messages.put(_CLOSED)
        with self._cond:
            self._cond.notify_all()


def _connect(address: str, timeout: float) -> socket.socket:
    where = parse_address(address)
    try:
        if where[0] == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(where[1])
        else:
            sock = socket.create_connection((where[1], where[2]), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as e:
        raise HiveConnectionLost(f"cannot connect to {address}: {e}") from e
    return sock
