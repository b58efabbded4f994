"""jobd_client: hive-jobd's operations (docs/jobd.md) over hive_client.

    from jobd_client import Jobd
    with Jobd("127.0.0.1:7070", token="...") as jobd:
        job = jobd.submit("primes", [0, 100_000])
        print(jobd.result(job, wait=10))       # {"id": .., "state": "done", "result": 9592, ..}

Every call is a hive_client call to the registered name "jobd"; an answer
{"error": KIND, "detail": ...} raises JobdError. The Client underneath is
shared by threads, as hive_client's is.
"""
from typing import Any, Dict, List, Optional

from hive_client import Client

TAG_ENDED = 164  # the tag of the message a watched job's end is pushed with (HIVE_TAG_USER + 100)
FINAL_STATES = ("done", "failed", "cancelled", "crashed", "timeout")


class JobdError(Exception):
    """jobd refused an operation: kind is badarg, notfound, full, storage, busy, unknownop,
    shutdown or internal; detail says why."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class Jobd:
    def __init__(self, address: str, token: Optional[str] = None, timeout: float = 30.0,
                 client: Optional[Client] = None):
        self.client = client if client is not None else Client(address, token=token, timeout=timeout)
        self.timeout = timeout

    def _op(self, fields: Dict[str, Any], timeout: Optional[float] = None) -> Any:
        answer = self.client.call("jobd", fields, timeout=self.timeout if timeout is None else timeout)
        if isinstance(answer, dict) and "error" in answer and "id" not in answer:
            raise JobdError(answer["error"], answer.get("detail", ""))
        return answer

    def submit(self, kind: str, args: Optional[List[Any]] = None, isolate: Optional[bool] = None,
               timeout_ms: int = 0, retries: int = 0) -> int:
        """Queues a job; returns its id once jobd has stored it durably."""
        fields: Dict[str, Any] = {"op": "submit", "kind": kind, "args": list(args or []),
                                  "timeout_ms": timeout_ms, "retries": retries}
        if isolate is not None:
            fields["isolate"] = isolate
        return self._op(fields)["id"]

    def status(self, job: int) -> Dict[str, Any]:
        return self._op({"op": "status", "id": job})

    def result(self, job: int, wait: float = 0.0) -> Dict[str, Any]:
        """The job's status with "result" (done) or "error"; waits up to `wait` s for its end."""
        wait_ms = int(wait * 1000)
        return self._op({"op": "result", "id": job, "wait_ms": wait_ms}, timeout=self.timeout + wait)

    def cancel(self, job: int) -> Dict[str, Any]:
        """Kills the job's actor (or drops it from the queue); answers once it has ended."""
        return self._op({"op": "cancel", "id": job})

    def list(self, state: Optional[str] = None, limit: int = 100) -> List[Dict[str, Any]]:
        fields: Dict[str, Any] = {"op": "list", "limit": limit}
        if state is not None:
            fields["state"] = state
        return self._op(fields)

    def counts(self) -> Dict[str, int]:
        """How many jobs are in each state."""
        return self._op({"op": "counts"})

    def watch(self, job: int) -> None:
        """Asks for the job's end to be pushed: read it with client.receive()."""
        self._op({"op": "watch", "id": job})

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "Jobd":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
