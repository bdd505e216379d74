"""POSTs each state update as JSON to a URL, from a background thread.

The actor's loop only appends to a bounded queue; when the server is slow or down the
oldest updates are dropped (and counted) rather than delaying the loop.  Each update is
tried ``1 + retries`` times with exponential backoff; 4xx answers other than 429 are not
retried (the request itself is wrong).
"""

from __future__ import annotations

import collections
import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, ClassVar

from kairos import _log
from kairos.actors.adapters import AdapterContext, OutputAdapter, OutputState
from kairos.actors.outputs._common import state_record


class HttpOutput(OutputAdapter):
    """JSON POSTs of {t_ns, source, coherence, phase, re, im, active}; never blocks."""

    name = "http"
    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {
            "url": {
                "type": "string",
                "pattern": "^https?://",
                "description": "endpoint to POST to (http:// or https://)",
            },
            "timeout_s": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "timeout of one request in seconds (default 2)",
            },
            "retries": {
                "type": "integer",
                "minimum": 0,
                "maximum": 10,
                "description": "retries after a failed request (default 2)",
            },
            "backoff_s": {
                "type": "number",
                "minimum": 0,
                "description": "wait before the first retry, doubled for each next (default 0.2)",
            },
            "queue_size": {
                "type": "integer",
                "minimum": 1,
                "description": "updates waiting to be sent before the oldest is dropped "
                "(default 100)",
            },
            "headers": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "extra request headers, e.g. Authorization (default none)",
            },
        },
    }

    def __init__(self, params: Mapping[str, Any], context: AdapterContext):
        super().__init__(params, context)
        self.url = str(params["url"])
        self.timeout_s = float(params.get("timeout_s", 2.0))
        self.retries = int(params.get("retries", 2))
        self.backoff_s = float(params.get("backoff_s", 0.2))
        self.queue_size = int(params.get("queue_size", 100))
        self._headers = {"Content-Type": "application/json", **params.get("headers", {})}
        #: updates delivered (2xx), given up after every retry, and dropped unsent
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._queue: collections.deque[bytes] = collections.deque()
        self._wake = threading.Condition()
        self._closing = False
        self._stop = threading.Event()
        self._failing = False
        self._log = _log.get("output", actor=context.actor, adapter=self.name, url=self.url)
        self._thread = threading.Thread(
            target=self._run, name=f"kairos-http-{context.actor}", daemon=True
        )
        self._thread.start()

    @property
    def pending(self) -> int:
        """Updates queued and not yet attempted."""
        return len(self._queue)

    def write(self, state: OutputState) -> None:
        body = json.dumps(state_record(state), separators=(",", ":")).encode()
        with self._wake:
            if self._closing:
                self.dropped += 1
                return
            if len(self._queue) >= self.queue_size:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(body)
            self._wake.notify()

    def close(self) -> None:
        """Send what is queued within about one request timeout, then drop the rest."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join(timeout=2 * self.timeout_s + 1.0)
        self._stop.set()  # cut a backoff wait short if the drain overran
        self._thread.join(timeout=self.timeout_s + 1.0)
        with self._wake:
            self.dropped += len(self._queue)
            self._queue.clear()

    def _run(self) -> None:
        deadline: float | None = None
        while True:
            with self._wake:
                while not self._queue and not self._closing:
                    self._wake.wait()
                if self._closing:
                    deadline = deadline or time.monotonic() + self.timeout_s
                    if not self._queue or time.monotonic() > deadline or self._stop.is_set():
                        return
                body = self._queue.popleft()
            # while closing, one attempt per update: close() must not wait for backoffs
            self._deliver(body, 0 if self._closing else self.retries)

    def _deliver(self, body: bytes, retries: int) -> None:
        error = ""
        for attempt in range(retries + 1):
            if attempt and self._stop.wait(self.backoff_s * 2 ** (attempt - 1)):
                break
            retry, error = self._post(body)
            if not error:
                self.sent += 1
                if self._failing:
                    self._failing = False
                    self._log.info("http output delivering again")
                return
            if not retry:
                break
        self.failed += 1
        if not self._failing:  # log the transition, not every failed update
            self._failing = True
            self._log.warning("http output failing", error=error)

    def _post(self, body: bytes) -> tuple[bool, str]:
        """(False, "") on success, else (worth retrying, why it failed)."""
        request = urllib.request.Request(self.url, data=body, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code >= 500 or exc.code == 429, f"HTTP {exc.code}"
        except (OSError, http.client.HTTPException) as exc:
            return True, f"{type(exc).__name__}: {exc}"
        return False, ""
