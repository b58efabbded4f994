"""hive_client: call hive actors from Python.

    from hive_client import Client

    with Client("127.0.0.1:7070", token="secret") as hive:
        print(hive.call("primes", [0, 100_000]))

``Client`` is for threads (one client may be shared by all of them);
``hive_client.aio.AsyncClient`` has the same calls as coroutines.
docs/python.md in the hive repository is the guide.
"""

from ._protocol import TAG_USER, Message, Pid
from .client import Client
from .errors import (
    HiveBusy,
    HiveConnectionLost,
    HiveError,
    HiveNoProc,
    HiveRemoteError,
    HiveTimeout,
    HiveUnauthorized,
)

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Pid",
    "Message",
    "TAG_USER",
    "HiveError",
    "HiveTimeout",
    "HiveNoProc",
    "HiveBusy",
    "HiveUnauthorized",
    "HiveConnectionLost",
    "HiveRemoteError",
]
