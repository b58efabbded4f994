"""The gateway's wire protocol (docs/gateway.md): frames, pids, errors.

A frame is a 4-byte big-endian length N and N bytes holding one msgpack
map with string keys. Both clients (threads and asyncio) share this module.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any, Dict, Optional, Union

import msgpack

from .errors import (
    HiveBusy,
    HiveError,
    HiveNoProc,
    HiveRemoteError,
    HiveTimeout,
    HiveUnauthorized,
)

TAG_USER = 64
"""The first tag free for applications (smaller ones are the node's)."""

PROTOCOL_VERSION = 1
_PREFIX = struct.Struct(">I")
_PID_TEXT = re.compile(r"^<?(\d+)\.(\d+)\.(\d+)>?$")


@dataclass(frozen=True, order=True)
class Pid:
    """An actor's pid: node, slot and generation in one 64-bit value.

    Prints Erlang-style, ``<0.42.3>``; ``Pid.parse("<0.42.3>")`` reads it back.
    """

    value: int

    @property
    def node(self) -> int:
        return self.value >> 56

    @property
    def slot(self) -> int:
        return (self.value >> 32) & 0xFFFFFF

    @property
    def gen(self) -> int:
        return self.value & 0xFFFFFFFF

    @classmethod
    def parse(cls, text: str) -> "Pid":
        m = _PID_TEXT.match(text.strip())
        if m is None:
            raise ValueError(f"not a pid: {text!r}")
        node, slot, gen = (int(g) for g in m.groups())
        if node > 255 or slot > 0xFFFFFF or gen > 0xFFFFFFFF:
            raise ValueError(f"pid out of range: {text!r}")
        return cls((node << 56) | (slot << 32) | gen)

    def __int__(self) -> int:
        return self.value

    def __str__(self) -> str:
        return f"<{self.node}.{self.slot}.{self.gen}>"

    def __repr__(self) -> str:
        return f"Pid({self})"


Target = Union[str, Pid, int]
"""Who a message goes to: a registered name, or a pid."""


@dataclass(frozen=True)
class Message:
    """A message an actor pushed to this client (it sent to the client's pid)."""

    sender: Optional[Pid]
    tag: int
    data: Any


def encode_target(to: Target) -> Union[str, int]:
    if isinstance(to, Pid):
        to = to.value
    if isinstance(to, bool) or not isinstance(to, (str, int)):
        raise TypeError(f"to must be a name (str) or a Pid, not {type(to).__name__}")
    if isinstance(to, str) and not to:
        raise ValueError("an actor's name is not empty")
    if isinstance(to, int) and not 0 < to < 1 << 64:
        raise ValueError(f"not a pid: {to}")
    return to


def check_tag(tag: int) -> int:
    if isinstance(tag, bool) or not isinstance(tag, int) or not TAG_USER <= tag <= 0xFFFFFFFF:
        raise ValueError(f"tag must be an integer from {TAG_USER} to 4294967295, not {tag!r}")
    return tag


def encode_frame(fields: Dict[str, Any]) -> bytes:
    body = msgpack.packb(fields, use_bin_type=True)
    return _PREFIX.pack(len(body)) + body


def frame_for(fields: Dict[str, Any], max_frame: int) -> bytes:
    """A request's frame; ValueError if the node would refuse its size."""
    frame = encode_frame(fields)
    if len(frame) - 4 > max_frame:
        raise ValueError(f"a frame of {len(frame) - 4} bytes is over the node's limit of {max_frame}")
    return frame


def welcome_of(frame: Dict[str, Any]) -> Dict[str, Any]:
    """The node's answer to hello, checked: the welcome, or the error raised."""
    if frame.get("op") != "welcome":
        raise error_from(frame)
    if int(frame.get("version", 0)) != PROTOCOL_VERSION:
        raise HiveError(f"the node speaks protocol {frame.get('version')}, not {PROTOCOL_VERSION}")
    return frame


def decode_body(body: bytes) -> Dict[str, Any]:
    frame = msgpack.unpackb(body, raw=False, strict_map_key=False)
    if not isinstance(frame, dict):
        raise HiveError("the node sent a frame that is not a map")
    return frame


class FrameReader:
    """Splits a byte stream into frame bodies."""

    def __init__(self, max_frame: int = 1 << 26) -> None:
        self._buf = bytearray()
        self._max = max_frame

    def feed(self, data: bytes) -> list:
        self._buf += data
        frames = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= 4:
            (n,) = _PREFIX.unpack_from(buf, pos)
            if n > self._max:
                raise HiveError(f"the node sent a frame of {n} bytes")
            if len(buf) - pos - 4 < n:
                break
            frames.append(bytes(buf[pos + 4 : pos + 4 + n]))
            pos += 4 + n
        if pos:
            del buf[:pos]
        return frames


_ERRORS = {
    "timeout": HiveTimeout,
    "noproc": HiveNoProc,
    "busy": HiveBusy,
    "unauthorized": HiveUnauthorized,
}


def error_from(frame: Dict[str, Any]) -> HiveError:
    """The exception an error frame stands for."""
    kind = str(frame.get("error", "internal"))
    detail = str(frame.get("detail", ""))
    cls = _ERRORS.get(kind, HiveRemoteError)
    return cls(f"{kind}: {detail}" if detail else kind, kind=kind, detail=detail)


def result_of(frame: Dict[str, Any]) -> Any:
    """A call's answer: its data, or the error raised."""
    if frame.get("ok"):
        return frame.get("data")
    raise error_from(frame)


def message_of(frame: Dict[str, Any]) -> Message:
    sender = frame.get("from") or 0
    return Message(Pid(sender) if sender else None, int(frame.get("tag", 0)), frame.get("data"))


def parse_address(address: str):
    """("tcp", host, port) for "host:port" or ":port"; ("unix", path) for a path."""
    if "/" in address or ":" not in address:
        return ("unix", address)
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit():
        raise ValueError(f"not host:port or a socket path: {address!r}")
    return ("tcp", host, int(port))
