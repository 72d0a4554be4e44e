"""What every loopback fake server shares: a background thread, connection tracking, a clean stop.

The fakes (VoIPBin simulator, fake OpenAI server) subclass LoopbackServer and give it their request
handler, a TrackedHandler whose `self.server.owner` is the fake.
"""

import contextlib
import signal
import socket
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar, Self

from local.processes import LoopbackHTTPServer


class TrackingServer(LoopbackHTTPServer):
    """Tracks open connections so that stop() can cut idle keep-alive ones and streams in progress."""

    def __init__(self, address: tuple[str, int], handler: type["TrackedHandler"], owner: Any) -> None:
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        """Note a connection opened or closed, so that close_connections can end the open ones."""
        with self._connections_lock:
            (self._connections.add if open_ else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """End every open connection (a server that stops must not leave clients waiting)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, closed pool, hung up mid-answer) is expected, not a test failure."""


class TrackedHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, as production clients' pools expect, with its connection tracked."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, the body waits for the client's delayed ACK
    # (40 ms a request on Linux loopback).
    disable_nagle_algorithm = True
    server: TrackingServer

    def setup(self) -> None:
        """Track the connection while it is open."""
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        """Forget the connection once it is done."""
        self.server.track(self.connection, open_=False)
        super().finish()


class LoopbackServer:
    """Serve `handler_class` in a background thread; a context manager that starts and stops it."""

    handler_class: ClassVar[type[TrackedHandler]]
    name: ClassVar[str] = "the fake server"

    def __init__(self) -> None:
        # Set while stopping: delayed answers wait on it, so they wake up instead of holding stop() back.
        self._stopping = threading.Event()
        self._server: TrackingServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Serve in a background thread."""
        self._stopping.clear()
        self._server = TrackingServer((host, port), self.handler_class, self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and wake delayed answers."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def serve_until_signalled(self, host: str, port: int, url: str) -> None:
        """Run as a process (the local demo's fakes): serve until SIGINT or SIGTERM, announcing `url`."""
        stopped = threading.Event()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signal_number, lambda *_: stopped.set())
        with self.start(host, port):
            print(f"{self.name} serving {url.format(root=self.root_url)}", flush=True)
            stopped.wait()

    def __enter__(self) -> Self:
        return self if self._server else self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        """http://127.0.0.1:<port>."""
        if self._server is None:
            raise RuntimeError(f"{self.name} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"
