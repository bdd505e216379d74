"""The http output against real HTTP servers on 127.0.0.1: healthy, failing and hanging."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kairos.actors.adapters import output_adapter


class Server:
    """A local HTTP server: answers POSTs with ``statuses`` in turn (then 200), or hangs."""

    def __init__(self, statuses: list[int] | None = None, hang: bool = False):
        self.received: list[dict] = []
        self.attempts = 0
        self.statuses = list(statuses or [])
        self.hang = hang
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.attempts += 1
                if server.hang:
                    server.release.wait(10)
                    return
                status = server.statuses.pop(0) if server.statuses else 200
                if status == 200:
                    assert self.headers["Content-Type"] == "application/json"
                    server.received.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass  # keep test output clean

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/state"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def serve() -> Iterator:
    servers: list[Server] = []

    def start(**kwargs) -> Server:
        servers.append(Server(**kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_posts_every_update_as_json(serve, context, make_state):
    server = serve()
    adapter = output_adapter("http")({"url": server.url}, context)
    states = [make_state(k, 0.1 * k, 0.2 * k, active=k == 3) for k in range(5)]
    for state in states:
        adapter.write(state)
    assert wait_for(lambda: adapter.sent == 5)
    adapter.close()
    assert [r["t_ns"] for r in server.received] == [0, 1, 2, 3, 4]
    first = server.received[3]
    assert first["source"] == "mesh" and first["active"] is True
    assert first["coherence"] == pytest.approx(0.3)
    assert (first["re"], first["im"]) == (states[3].phasor.real, states[3].phasor.imag)
    assert (adapter.failed, adapter.dropped) == (0, 0)


def test_server_errors_are_retried_with_a_bound(serve, context, make_state):
    server = serve(statuses=[500, 503])  # two failures, then success
    adapter = output_adapter("http")({"url": server.url, "backoff_s": 0.01}, context)
    adapter.write(make_state(1))
    assert wait_for(lambda: adapter.sent == 1)
    assert server.attempts == 3
    server.statuses = [500, 500, 500]  # retries=2: three attempts, then give up
    adapter.write(make_state(2))
    assert wait_for(lambda: adapter.failed == 1)
    adapter.close()
    assert server.attempts == 6
    assert [r["t_ns"] for r in server.received] == [1]


def test_client_errors_are_not_retried(serve, context, make_state):
    server = serve(statuses=[400])
    adapter = output_adapter("http")({"url": server.url, "backoff_s": 0.01}, context)
    adapter.write(make_state(1))
    assert wait_for(lambda: adapter.failed == 1)
    adapter.close()
    assert server.attempts == 1


def test_unreachable_server_fails_after_retries(context, make_state):
    from support import free_port

    url = f"http://127.0.0.1:{free_port()}/"
    adapter = output_adapter("http")({"url": url, "retries": 1, "backoff_s": 0.01}, context)
    adapter.write(make_state(1))
    assert wait_for(lambda: adapter.failed == 1)
    adapter.close()
    assert adapter.sent == 0


def test_a_hanging_server_never_blocks_the_caller(serve, context, make_state):
    server = serve(hang=True)
    params = {"url": server.url, "timeout_s": 0.3, "retries": 0, "queue_size": 3}
    adapter = output_adapter("http")(params, context)
    for k in range(50):
        adapter.write(make_state(k))
    # one request in flight at most; the queue keeps the 3 newest; the rest were dropped
    assert adapter.dropped >= 46
    assert adapter.pending <= 3
    assert wait_for(lambda: adapter.failed >= 1)
    adapter.close()
    # every update is accounted for exactly once
    assert adapter.sent + adapter.failed + adapter.dropped == 50
    assert adapter.sent == 0
    assert server.attempts >= 1


def test_drops_the_oldest_when_full(serve, context, make_state):
    server = serve(hang=True)
    params = {"url": server.url, "timeout_s": 5.0, "retries": 0, "queue_size": 2}
    adapter = output_adapter("http")(params, context)
    adapter.write(make_state(0))
    assert wait_for(lambda: server.attempts == 1)  # update 0 is in flight
    for k in range(1, 6):
        adapter.write(make_state(k))
    queued = [json.loads(body)["t_ns"] for body in adapter._queue]
    assert queued == [4, 5]
    assert adapter.dropped == 3
    server.hang = False
    server.release.set()  # the in-flight request is cut off; the queued ones get through
    assert wait_for(lambda: adapter.sent == 2)
    adapter.close()
    assert (adapter.failed, adapter.dropped) == (1, 3)
    assert sorted(r["t_ns"] for r in server.received) == [4, 5]
