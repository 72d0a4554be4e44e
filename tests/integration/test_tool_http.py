"""The configured tools' HTTP client against loopback endpoints that misbehave on purpose.

Refused addresses, an answer far larger than what the model reads, a trickling endpoint, a redirect and
proxy variables: what each endpoint received or sent is what is asserted.
"""

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.helpers import wait_until
from voipbin_ai.ai.tool_http import ToolHttpError, post_json
from voipbin_ai.container import reset

pytestmark = pytest.mark.integration

BIG_ANSWER_BYTES = 40 * 1024 * 1024
TRICKLE_BYTES = 400


@dataclass
class Endpoint:
    """A loopback HTTP server; `answer` writes each response, `seen` and `sent` record what happened."""

    answer: Callable[[BaseHTTPRequestHandler, "Endpoint"], None]
    seen: list[str] = field(default_factory=list)
    sent: int = 0
    hung_up: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/tool"


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler, Endpoint], None]], Endpoint]]:
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Callable[[BaseHTTPRequestHandler, Endpoint], None]) -> Endpoint:
        endpoint = Endpoint(answer)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                endpoint.seen.append(self.path)
                try:
                    endpoint.answer(self, endpoint)
                except (BrokenPipeError, ConnectionResetError):
                    endpoint.hung_up.set()

            def log_message(self, format: str, *args: Any) -> None:
                return

        endpoint.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        endpoint.server.daemon_threads = True
        threading.Thread(target=endpoint.server.serve_forever, daemon=True).start()
        servers.append(endpoint.server)
        return endpoint

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
    reset()


def _headers(handler: BaseHTTPRequestHandler, status: int = 200, **headers: str) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()


def ok(handler: BaseHTTPRequestHandler, endpoint: Endpoint) -> None:
    _headers(handler, Content_Length="2")
    handler.wfile.write(b"{}")


def post(url: str, *, allow_private: bool = True, deadline: float = 5.0) -> tuple[int, str]:
    return post_json(
        url, {"day": "Tuesday"}, headers={}, deadline_seconds=deadline, max_bytes=8000, allow_private=allow_private
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_and_private_hosts_are_refused_without_the_local_allowance(serve: Any, host: str) -> None:
    endpoint = serve(ok)

    with pytest.raises(ToolHttpError, match="not public"):
        post(endpoint.url.replace("127.0.0.1", host), allow_private=False)

    assert endpoint.seen == []
    # The allowance of local development reaches it, by name too (localhost may resolve to ::1 first).
    assert post(endpoint.url.replace("127.0.0.1", host)) == (200, "{}")


def test_a_huge_answer_is_read_only_as_far_as_the_model_reads(serve: Any) -> None:
    def flood(handler: BaseHTTPRequestHandler, endpoint: Endpoint) -> None:
        _headers(handler, Content_Length=str(BIG_ANSWER_BYTES))
        chunk = b"x" * 65536
        while endpoint.sent < BIG_ANSWER_BYTES:
            handler.wfile.write(chunk)
            endpoint.sent += len(chunk)

    endpoint = serve(flood)

    status, text = post(endpoint.url)

    assert (status, len(text)) == (200, 8000)
    assert wait_until(endpoint.hung_up.is_set)  # the client closed the connection instead of reading on
    assert endpoint.sent < BIG_ANSWER_BYTES


def test_a_trickling_endpoint_is_cut_off_at_the_deadline(serve: Any) -> None:
    def trickle(handler: BaseHTTPRequestHandler, endpoint: Endpoint) -> None:
        _headers(handler, Content_Length=str(TRICKLE_BYTES))
        pause = threading.Event()
        while endpoint.sent < TRICKLE_BYTES:  # a byte every 50 ms: each read is quick, the whole is 20 s
            handler.wfile.write(b"x")
            handler.wfile.flush()
            endpoint.sent += 1
            pause.wait(0.05)

    endpoint = serve(trickle)

    with pytest.raises(ToolHttpError, match=r"no answer within 0\.5 s"):
        post(endpoint.url, deadline=0.5)

    assert wait_until(endpoint.hung_up.is_set)
    assert endpoint.sent < TRICKLE_BYTES


def test_redirects_are_not_followed(serve: Any) -> None:
    elsewhere = serve(ok)

    def redirect(handler: BaseHTTPRequestHandler, endpoint: Endpoint) -> None:
        _headers(handler, 307, Location=elsewhere.url, Content_Length="0")

    status, _ = post(serve(redirect).url)

    assert status == 307
    assert elsewhere.seen == []


def test_proxy_variables_of_the_environment_are_ignored(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, endpoint = serve(ok), serve(ok)
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(variable, proxy.url.removesuffix("/tool"))
    reset()

    assert post(endpoint.url) == (200, "{}")
    assert (proxy.seen, endpoint.seen) == ([], ["/tool"])


def test_a_compressed_answer_is_refused(serve: Any) -> None:
    def gzipped(handler: BaseHTTPRequestHandler, endpoint: Endpoint) -> None:
        _headers(handler, Content_Encoding="gzip", Content_Length="2")
        handler.wfile.write(b"{}")

    with pytest.raises(ToolHttpError, match="compressed"):
        post(serve(gzipped).url)
