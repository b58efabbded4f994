"""The client for asyncio programs: the calls of ``Client`` as coroutines.

    from hive_client.aio import AsyncClient

    async with await AsyncClient.connect("127.0.0.1:7070", token="secret") as hive:
        print(await hive.call("primes", [0, 100_000]))

One task reads the connection and resolves each call's future by its id;
calls from any number of tasks share the connection.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any, AsyncIterator, Dict, Optional

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

_log = logging.getLogger("hive_client")


class AsyncClient:
    """A connection to a hive node's gateway, for asyncio.

    Make one with ``await AsyncClient.connect(address, token=None,
    timeout=5.0)``; use it with ``async with``, or ``await close()``.
    """

    def __init__(self) -> None:  # use connect()
        self.timeout = 5.0
        self.max_messages = 100_000
        self.dropped_messages = 0
        self._reader_stream: Optional[asyncio.StreamReader] = None
        self._writer: Optional[asyncio.StreamWriter] = None
        self._frames = FrameReader()
        self._pending: Dict[int, "asyncio.Future[Any]"] = {}
        self._ids = itertools.count(1)
        self._messages: "asyncio.Queue[Any]" = asyncio.Queue()
        self._lost: Optional[HiveError] = None
        self._task: Optional["asyncio.Task[None]"] = None
        self.node = ""
        self.node_id = 0
        self.max_frame = 1 << 20
        self.self_pid = Pid(0)

    @classmethod
    async def connect(
        cls,
        address: str,
        token: Optional[str] = None,
        timeout: float = 5.0,
        client_name: str = "hive_client.aio",
        max_messages: int = 100_000,
    ) -> "AsyncClient":
        self = cls()
        self.timeout = timeout
        self.max_messages = max_messages
        where = parse_address(address)
        try:
            if where[0] == "unix":
                opening = asyncio.open_unix_connection(where[1])
            else:
                opening = asyncio.open_connection(where[1], where[2])
            self._reader_stream, self._writer = await asyncio.wait_for(opening, timeout)
        except (OSError, asyncio.TimeoutError) as e:
            raise HiveConnectionLost(f"cannot connect to {address}: {e!r}") from e
        try:
            await asyncio.wait_for(self._hello(token, client_name), timeout)
        except asyncio.TimeoutError:
            self._writer.close()
            raise HiveTimeout("no welcome from the node", kind="timeout") from None
        except BaseException:
            self._writer.close()
            raise
        self._task = asyncio.get_running_loop().create_task(self._read_loop())
        return self

    # ---- the calls ----------------------------------------------------------

    async def send(self, to: Target, data: Any = None, tag: int = TAG_USER) -> None:
        """Sends data to an actor; no answer."""
        await self._write({"op": "send", "to": encode_target(to), "tag": check_tag(tag), "data": data})

    async def call(self, to: Target, data: Any = None, tag: int = TAG_USER, timeout: Optional[float] = None) -> Any:
        """Sends data as a request; the actor's reply, decoded."""
        timeout = self.timeout if timeout is None else timeout
        fields = {
            "op": "call",
            "to": encode_target(to),
            "tag": check_tag(tag),
            "data": data,
            "timeout_ms": max(0, int(timeout * 1000)),
        }
        return await self._request(fields, timeout)

    async def whereis(self, name: str) -> Optional[Pid]:
        """The pid registered under name, or None."""
        if not isinstance(name, str):
            raise TypeError("a name is a str")
        pid = await self._request({"op": "whereis", "name": name}, self.timeout)
        return Pid(pid) if pid else None

    async def stats(self, to: Target) -> Dict[str, Any]:
        """An actor's statistics: the fields of ``hivectl --json stats``."""
        return await self._request({"op": "stats", "to": encode_target(to)}, self.timeout)

    async def receive(self, timeout: Optional[float] = None) -> Message:
        """The next message an actor pushed to this client."""
        try:
            item = self._messages.get_nowait()  # one already here: no waiting, even at timeout 0
        except asyncio.QueueEmpty:
            try:
                item = await asyncio.wait_for(self._messages.get(), timeout)
            except asyncio.TimeoutError:
                raise HiveTimeout(f"no message in {timeout} s", kind="timeout") from None
        if item is None:
            self._messages.put_nowait(None)
            raise self._lost or HiveConnectionLost("the connection is closed")
        return item

    async def messages(self) -> AsyncIterator[Message]:
        """Pushed messages as they come, until the connection closes."""
        while True:
            try:
                yield await self.receive()
            except HiveConnectionLost:
                return

    async def close(self) -> None:
        """Closes the connection; pending calls fail with HiveConnectionLost."""
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        self._fail_all(HiveConnectionLost("the client closed the connection"))

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # ---- inside -------------------------------------------------------------

    async def _hello(self, token: Optional[str], name: str) -> None:
        hello: Dict[str, Any] = {"op": "hello", "client": name}
        if token is not None:
            hello["token"] = token
        assert self._writer is not None and self._reader_stream is not None
        self._writer.write(encode_frame(hello))
        await self._writer.drain()
        while True:
            data = await self._reader_stream.read(65536)
            if not data:
                raise HiveConnectionLost("the node closed the connection during hello")
            frames = self._frames.feed(data)
            if frames:
                frame = welcome_of(decode_body(frames[0]))
                self.node = frame.get("node", "")
                self.node_id = int(frame.get("node_id", 0))
                self.max_frame = int(frame.get("max_frame", 1 << 20))
                self.self_pid = Pid(int(frame["self"]))
                for extra in frames[1:]:
                    self._dispatch(decode_body(extra))
                return

    async def _write(self, fields: Dict[str, Any]) -> None:
        frame = frame_for(fields, self.max_frame)
        if self._lost is not None:
            raise self._lost
        assert self._writer is not None
        try:
            self._writer.write(frame)
            await self._writer.drain()
        except OSError as e:
            lost = HiveConnectionLost(f"the connection is lost: {e}")
            self._fail_all(lost)
            raise lost from e

    async def _request(self, fields: Dict[str, Any], timeout: float) -> Any:
        if self._lost is not None:
            raise self._lost
        ident = next(self._ids)
        fields["id"] = ident
        future: "asyncio.Future[Any]" = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        try:
            await self._write(fields)
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise HiveTimeout(f"no answer in {timeout} s", kind="timeout") from None
        finally:
            self._pending.pop(ident, None)

    def _dispatch(self, frame: Dict[str, Any]) -> None:
        if frame.get("op") == "message":
            if self._messages.qsize() >= self.max_messages:
                self.dropped_messages += 1
                if self.dropped_messages == 1 or self.dropped_messages % 10000 == 0:
                    _log.warning("hive_client: %d pushed messages dropped", self.dropped_messages)
                return
            self._messages.put_nowait(message_of(frame))
            return
        future = self._pending.pop(frame.get("id"), None) if "id" in frame else None
        if future is None or future.done():
            return
        try:
            future.set_result(result_of(frame))
        except HiveError as e:
            future.set_exception(e)

    async def _read_loop(self) -> None:
        assert self._reader_stream is not None
        error: HiveError = HiveConnectionLost("the node closed the connection")
        try:
            while True:
                data = await self._reader_stream.read(262144)
                if not data:
                    break
                for body in self._frames.feed(data):
                    self._dispatch(decode_body(body))
        except asyncio.CancelledError:
            error = HiveConnectionLost("the client closed the connection")
        except OSError as e:
            error = HiveConnectionLost(f"the connection is lost: {e}")
        except Exception as e:
            error = HiveConnectionLost(f"the connection is unusable: {e!r}")
        self._fail_all(error)

    def _fail_all(self, error: HiveError) -> None:
        if self._lost is None:
            self._lost = error
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(self._lost)
        self._messages.put_nowait(None)
