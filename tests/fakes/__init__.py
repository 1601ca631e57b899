"""Local HTTP servers that behave like the platforms, for tests, benchmarks and demos.

Each fake is a real `ThreadingHTTPServer` on 127.0.0.1 (port 0 picks a free one) in a
background thread. `FakeServer` here holds what every fake shares: start and stop, a thread-safe
log of requests, and the fault knobs:

    fail_next(status, body, headers)   answer the next request with this, touching nothing
    hold() / release()                 park answers after the post is created; `held` is set
    drop_after_create(n)               create the post, then close the socket without answering

A platform fake subclasses `FakeServer` and implements `handle(request) -> Reply`, marking the
replies that created a post (`Reply(created=True)`), which is where hold and drop act.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sys
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, TextIO
from urllib.parse import urlsplit

# A held request gives up after this long, so a forgotten release() cannot hang a test run.
HOLD_LIMIT_SECONDS = 60.0


@dataclass(frozen=True)
class Request:
    """One request as the server received it (header names lower-cased)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """What to answer; `created` marks a reply to a request that created a post."""

    status: int
    body: Any = None  # JSON-serialisable, or bytes sent as they are
    headers: Mapping[str, str] = field(default_factory=dict)
    created: bool = False

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


class FakeServer:
    """A platform-like HTTP server in a thread; subclasses implement `handle`."""

    name = "fake"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, echo: TextIO | None = None):
        self._address = (host, port)
        self._echo = echo
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._failures: deque[Reply] = deque()
        self._drops = 0
        self._holding = False
        self._released = threading.Event()
        # Set when a request is parked by hold(); cleared by release().
        self.held = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        self._httpd = _HTTPServer(self._address, _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def serve_forever(self) -> None:
        """Run in the foreground until Ctrl-C (the standalone mode); starts if not started."""
        if self._httpd is None:
            self.start()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _interrupt)  # docker stop, kill: shut down cleanly
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"the {self.name} server is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:40123 (no trailing slash)."""
        return f"http://{self._address[0]}:{self.port}"

    # -- what happened ---------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """Every request received so far, in order."""
        with self._lock:
            return list(self._requests)

    # -- fault knobs -------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests with this reply, without creating anything."""
        if body is None:
            body = {"error": _DEFAULT_ERRORS.get(status, "Simulated failure")}
        with self._lock:
            self._failures.extend(Reply(status, body, dict(headers or {})) for _ in range(times))

    def hold(self) -> None:
        """Park every answer to a creating request, after the post exists, until `release()`."""
        with self._lock:
            self._holding = True
            self._released.clear()

    def release(self) -> None:
        """Let parked answers go out; new requests are answered at once again."""
        with self._lock:
            self._holding = False
            self._released.set()
            self.held.clear()

    def drop_after_create(self, times: int = 1) -> None:
        """For the next `times` creating requests: create the post, then close the connection."""
        with self._lock:
            self._drops += times

    # -- for subclasses ----------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    def describe(self, request: Request, reply: Reply) -> str:
        """One line for the echo log; subclasses say what was posted."""
        return ""

    def shown_path(self, request: Request) -> str:
        """The path as the echo log shows it; subclasses mask a secret the path carries."""
        return request.path

    # -- request flow (called from the server's handler threads) --------------------------

    def _serve(self, request: Request) -> Reply | None:
        """The reply to send, or None to close the connection without answering."""
        with self._lock:
            self._requests.append(request)
            canned = self._failures.popleft() if self._failures else None
        reply = canned if canned is not None else self.handle(request)
        dropped = False
        if reply.created:
            with self._lock:
                if self._drops > 0:
                    self._drops -= 1
                    dropped = True
                holding = self._holding and not dropped
            if holding:
                self.held.set()
                self._released.wait(HOLD_LIMIT_SECONDS)
        self._log(request, reply, dropped)
        return None if dropped else reply

    def _log(self, request: Request, reply: Reply, dropped: bool) -> None:
        if self._echo is None:
            return
        outcome = "dropped the connection" if dropped else str(reply.status)
        detail = self.describe(request, reply)
        line = f"{request.method} {self.shown_path(request)} -> {outcome}" + (
            f"  {detail}" if detail else ""
        )
        print(line, file=self._echo, flush=True)


def names_by_token(tokens: Mapping[str, str] | Iterable[str], default: str) -> dict[str, str]:
    """Each accepted token and the account it stands for: as mapped, else `default` (numbered
    from 1 when there are several)."""
    if isinstance(tokens, Mapping):
        return dict(tokens)
    listed = list(tokens)
    return {
        token: default if len(listed) == 1 else f"{default}{n}" for n, token in enumerate(listed, 1)
    }


def token_options(values: Sequence[str] | None, default_token: str, default: str) -> dict[str, str]:
    """`--token TOKEN[=NAME]` options of a standalone fake, as `names_by_token` takes them."""
    pairs = (v.split("=", 1) if "=" in v else (v, default) for v in values or [default_token])
    return {token: name for token, name in pairs}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


_DEFAULT_ERRORS = {
    400: "Bad request",
    401: "The access token is invalid",
    403: "This action is not allowed",
    404: "Record not found",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: eight workers connecting at once would see some
    # connections dropped and retried a second later.
    request_queue_size = 64

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], fake: FakeServer
    ) -> None:
        self.fake = fake
        self._connections: set[Any] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client went away (timed out, dropped); report anything else."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Close kept-alive connections, so their handler threads end with the server."""
        with self._connections_lock:
            open_now = list(self._connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    timeout = 30  # an idle kept-alive connection ends after this

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parts.query,
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
        )
        reply = self.server.fake._serve(request)
        if reply is None:
            self.close_connection = True  # answer nothing: the client sees the socket close
            return
        payload = reply.encoded()
        self.send_response(reply.status)
        headers = {key.lower(): value for key, value in reply.headers.items()}
        if payload and "content-type" not in headers:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log; `echo` prints a better one."""
