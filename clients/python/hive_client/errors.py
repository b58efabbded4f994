"""Exceptions of the hive client: HiveError and the kinds under it."""

from __future__ import annotations

from typing import Optional


class HiveError(Exception):
    """Anything that went wrong talking to a hive node.

    ``kind`` is the protocol's error kind ("timeout", "noproc", ...) when the
    node answered with an error, else None; ``detail`` its explanation.
    """

    def __init__(self, message: str, *, kind: Optional[str] = None, detail: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.detail = detail


class HiveTimeout(HiveError):
    """No answer within the call's timeout (the node's, or this client's)."""


class HiveNoProc(HiveError):
    """No such actor, or it ended before it replied."""


class HiveBusy(HiveError):
    """Too many calls in flight on this connection (the node's gateway_max_inflight)."""


class HiveUnauthorized(HiveError):
    """The node refused the token."""


class HiveConnectionLost(HiveError):
    """The connection closed; every call pending on it fails with this."""


class HiveRemoteError(HiveError):
    """Any other error the node answered with: badarg, full, shutdown, internal, ..."""
