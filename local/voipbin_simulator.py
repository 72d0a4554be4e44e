r"""A VoIPBin stand-in on loopback: the REST API of CONTRACT.md §3/§10/§11, fault injection, signed webhooks.

A real HTTP server rather than a mock transport, so that connection pools, timeouts, dropped
connections and webhook receivers are exercised as in production, and so that the local demo can drive
the same simulator from another process through the control API below.

In tests use the ``voipbin_simulator`` fixture (tests/fakes/fixtures.py). As a process::

    PYTHONPATH=shared python -m local.voipbin_simulator --port 8900 --token T --webhook-secret S \
        [--access-key K] [--webhook-url http://127.0.0.1:3000/voipbin/webhook]

serves http://127.0.0.1:8900/v1.0 until interrupted. With a webhook URL, the events VoIPBin would send
after an API call (call_terminating/call_hangup, transcribe_created/done, message_created, email_created,
and conversation_message_created/updated for our own conversation messages) are sent to it.

Control API (no auth, not recorded), JSON in and out:
  GET  /_sim/requests[?method=&path_prefix=]  the recorded /v1.0 requests
  GET  /_sim/said[?speaking_id=]              texts accepted by /say, in order
  POST /_sim/faults       {"method", "path": "/speakings/{id}/say", "faults": [Fault fields]}
  POST /_sim/calls        {"source", "destination", "direction"?, "status"?}  -> the call
  POST /_sim/transcripts  {"transcribe_id", "message", "direction"?}  -> the transcript
  POST /_sim/conversations          {"channel": "line"|"whatsapp"|"webchat", "peer", "peer_name"?, "conversation_id"?}
  POST /_sim/conversation_messages  {"conversation_id", "text"}  -> the incoming message
  POST /_sim/webhooks     {"type", "data", "url"?}  -> {"status": final HTTP status or null}
  POST /_sim/reset        forget resources, recordings and faults

Not simulated: cookies, pagination of more than one page per call site, DELETE but of speakings,
permissions (403).
"""

import argparse
import base64
import functools
import json
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import httpx2

from local.loopback import LoopbackServer, TrackedHandler
from local.voipbin_state import ApiError, Reply, VoipbinState
from voipbin_ai.voipbin.signature import SIGNATURE_HEADER, sign

API_PREFIX = "/v1.0"
CONTROL_PREFIX = "/_sim/"
WEBHOOK_ATTEMPTS = 3
# Go's http.Header.Set canonicalises VoIPBin's "X-VoIPBIN-Signature" to this on the wire (CONTRACT §1.3).
WIRE_SIGNATURE_HEADER = SIGNATURE_HEADER.title()
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "PAYMENT_REQUIRED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_DEFAULT_REASONS = {429: "RATE_LIMIT_EXCEEDED", 503: "SERVICE_UNAVAILABLE", 404: "RESOURCE_NOT_FOUND"}


@dataclass(frozen=True)
class Fault:
    """What the next matching request gets instead of (or before) its normal answer.

    delay alone postpones the normal answer; with drop the connection is then closed unanswered;
    with status an error envelope is answered instead (retry_after adds a Retry-After header), and with
    after_running too the request is carried out first: its effects stay, only its answer is lost.
    """

    status: int | None = None
    reason: str | None = None
    message: str = "Injected by the VoIPBin simulator."
    delay: float = 0.0
    drop: bool = False
    retry_after: int | None = None
    after_running: bool = False

    @classmethod
    def error(cls, status: int, reason: str | None = None) -> Self:
        """An error envelope with this HTTP status (reason defaults to the status's usual one)."""
        return cls(status=status, reason=reason)

    @classmethod
    def request_timeout(cls, *, after_running: bool = False) -> Self:
        """503 REQUEST_TIMEOUT: an internal RPC timed out, which after_running it did with the work done.

        POST /speakings waits 3 s for tts-manager, which may create the speaking all the same (§11).
        """
        return cls(status=503, reason="REQUEST_TIMEOUT", message="The request timed out.", after_running=after_running)

    @classmethod
    def rate_limited(cls, retry_after: int = 1) -> Self:
        """429 RESOURCE_EXHAUSTED/RATE_LIMIT_EXCEEDED with Retry-After, as the rate limiter answers."""
        return cls(status=429, retry_after=retry_after)

    @classmethod
    def dropped(cls) -> Self:
        """The connection closed without a response (the client sees a protocol error)."""
        return cls(drop=True)

    @classmethod
    def delayed(cls, seconds: float) -> Self:
        """The normal answer, seconds late."""
        return cls(delay=seconds)


@dataclass(frozen=True)
class RecordedRequest:
    """One request to /v1.0 as received, before authentication or faults, and the id it was answered with."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON; None when empty or not JSON
    received_at: float  # time.monotonic()
    request_id: str  # the X-Request-Id answered (also in an error envelope), so tests can match errors to requests

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name."""
        return self.headers.get(name.lower())


def error_envelope(http_status: int, reason: str | None, message: str, request_id: str) -> dict[str, Any]:
    """VoIPBin's error body (CONTRACT §3.3)."""
    status = _STATUS_NAMES.get(http_status, "INTERNAL" if http_status >= 500 else "INVALID_ARGUMENT")
    reason = reason or _DEFAULT_REASONS.get(http_status, status)
    error: dict[str, Any] = {"status": status, "reason": reason, "message": message, "request_id": request_id}
    if http_status == 429:
        error["details"] = [{"limited_by": "customer"}]
    return {"error": error}


def new_request_id() -> str:
    """'req_' and 26 base32 characters, like VoIPBin's request ids."""
    return "req_" + base64.b32encode(os.urandom(16)).decode()[:26]


def go_json(value: Any) -> bytes:
    """Compact UTF-8 JSON escaped like Go's json.Marshal (<, >, &, U+2028/9), the bytes VoIPBin signs."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def _path_regex(pattern: str) -> re.Pattern[str]:
    """'/speakings/{id}/say' -> a regex matching that path with any id, with or without /v1.0."""
    relative = pattern.removeprefix(API_PREFIX)
    parts = [
        r"[^/]+" if part.startswith("{") and part.endswith("}") else re.escape(part) for part in relative.split("/")
    ]
    return re.compile(re.escape(API_PREFIX) + "/".join(parts))


class _Handler(TrackedHandler):
    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.owner.handle(self.command, self.path, headers, raw_body)
        if reply is None:
            self.close_connection = True
            return
        payload = _payload(reply)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests assert on recorded requests, not on access logs."""


class VoipbinSimulator(LoopbackServer):
    """The simulator: start() binds 127.0.0.1 (port 0 = ephemeral); use as a context manager."""

    def __init__(
        self,
        *,
        token: str = "test-token",
        access_key: str = "test-access-key",
        webhook_secret: str = "test-webhook-secret",
        webhook_url: str | None = None,
        webhook_retry_pause: float = 1.0,
    ) -> None:
        super().__init__()
        self.token = token
        self.access_key = access_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.webhook_retry_pause = webhook_retry_pause
        self._lock = threading.Lock()
        self._state = VoipbinState(emit=self._emit)
        self._recorded: list[RecordedRequest] = []
        self._faults: dict[tuple[str, str], deque[Fault]] = {}

    name = "the simulator"
    handler_class = _Handler

    @property
    def base_url(self) -> str:
        """The REST API root, what VOIPBIN_API_URL points at."""
        return self.root_url + API_PREFIX

    # --- test-side API ---------------------------------------------------------------------------

    def requests(self, method: str | None = None, path_prefix: str | None = None) -> list[RecordedRequest]:
        """Recorded /v1.0 requests in arrival order; path_prefix may omit '/v1.0'."""
        prefix = path_prefix if path_prefix is None or path_prefix.startswith(API_PREFIX) else API_PREFIX + path_prefix
        with self._lock:
            return [
                recorded
                for recorded in self._recorded
                if (method is None or recorded.method == method.upper())
                and (prefix is None or recorded.path.startswith(prefix))
            ]

    def said_texts(self, speaking_id: str | None = None) -> list[str]:
        """Texts that /say accepted, in order, of one speaking or of all."""
        with self._lock:
            return self._state.said_texts(speaking_id)

    def inject(self, method: str, path: str, *faults: Fault) -> None:
        """Queue faults for requests matching method and path ('/speakings/{id}/say'), one per request."""
        with self._lock:
            self._faults.setdefault((method.upper(), path.removeprefix(API_PREFIX)), deque()).extend(faults)

    def lose_tts_pod(self, speaking_id: str) -> None:
        """The TTS pod that holds a speaking dies (CONTRACT §11).

        /say, /flush and /stop on it answer 503 REQUEST_TIMEOUT, it stays active, and a new speaking on its
        call answers 500 until it is deleted.
        """
        with self._lock:
            self._state.lose_tts_pod(speaking_id)

    def add_call(
        self,
        source: str = "+15551234567",
        destination: str = "+15559876543",
        *,
        direction: str = "incoming",
        status: str = "progressing",
    ) -> dict[str, Any]:
        """Register a call between two tel numbers so GET /calls/{id} and hangup work; returns it."""
        with self._lock:
            return self._state.add_call(source, destination, direction=direction, status=status)

    def add_transcript(self, transcribe_id: str, message: str, *, direction: str = "in") -> dict[str, Any]:
        """A final utterance of a transcribe, listed by GET /transcripts; returns it."""
        with self._lock:
            return self._state.add_transcript(transcribe_id, message, direction=direction)

    def add_conversation(
        self, channel: str, peer: str, *, peer_name: str = "", conversation_id: str | None = None
    ) -> dict[str, Any]:
        """A LINE, WhatsApp or web chat widget conversation with a customer (peer: their user or session id).

        conversation_id gives it a sample's id; by default it gets a new one.
        """
        with self._lock:
            return self._state.add_conversation(channel, peer, peer_name=peer_name, conversation_id=conversation_id)

    def add_conversation_message(self, conversation_id: str, text: str) -> dict[str, Any]:
        """The customer writes in a conversation: the data of its conversation_message_created (incoming)."""
        with self._lock:
            return self._state.add_conversation_message(conversation_id, text)

    def speech_started(self, transcribe_id: str) -> dict[str, Any]:
        """The data of a transcribe_speech_started event of that transcribe (sent by the caller of this)."""
        with self._lock:
            return self._state.speech_event(transcribe_id)

    def inbound_sms(self, source: str, destination: str, text: str) -> dict[str, Any]:
        """The data of a message_created event: a customer texted our number (sent by the caller of this)."""
        with self._lock:
            return self._state.inbound_sms(source, destination, text)

    def call(self, call_id: str) -> dict[str, Any]:
        """The current state of a call."""
        with self._lock:
            return self._state.resource("calls", call_id)

    def speaking(self, speaking_id: str) -> dict[str, Any]:
        """The current state of a speaking."""
        with self._lock:
            return self._state.resource("speakings", speaking_id)

    def resources(self, kind: str) -> list[dict[str, Any]]:
        """Every resource of a kind ("calls", "speakings", "transcribes", ...), as it is now."""
        with self._lock:
            return self._state.all_resources(kind)

    def sent_messages(self) -> list[dict[str, Any]]:
        """Messages sent through POST /messages, in order."""
        with self._lock:
            return self._state.all_resources("messages")

    def sent_emails(self) -> list[dict[str, Any]]:
        """E-mails sent through POST /emails, in order."""
        with self._lock:
            return self._state.all_resources("emails")

    def transport(self) -> httpx2.MockTransport:
        """The simulator in this process, with no socket: VoipbinClient(transport=...) for fast unit tests."""

        def answer(request: httpx2.Request) -> httpx2.Response:
            reply = self.handle(request.method, request.url.raw_path.decode(), dict(request.headers), request.read())
            if reply is None:
                raise httpx2.RemoteProtocolError("the simulator dropped the connection", request=request)
            headers = {**reply.headers, "Content-Type": "application/json; charset=utf-8"}
            return httpx2.Response(reply.status, content=_payload(reply), headers=headers)

        return httpx2.MockTransport(answer)

    def reset(self) -> None:
        """Forget resources, recordings and pending faults."""
        with self._lock:
            self._state = VoipbinState(emit=self._emit)
            self._recorded.clear()
            self._faults.clear()

    def send_webhook(
        self, url: str, event_type: str, data: Mapping[str, Any], *, attempts: int = WEBHOOK_ATTEMPTS
    ) -> int | None:
        """POST a signed {"type","data"} like bin-webhook-manager; the final status, None if never answered.

        VoIPBin makes 3 attempts, webhook_retry_pause apart, retried only on transport errors and statuses
        >= 500 (the benchmarks make one). The connections are pooled, as a Go http.Client's are.
        """
        body = go_json({"type": event_type, "data": data})
        headers = {"Content-Type": "application/json", "User-Agent": "Go-http-client/1.1"}
        if self.webhook_secret:
            headers[WIRE_SIGNATURE_HEADER] = sign(self.webhook_secret, body)
        status: int | None = None
        for attempt in range(attempts):
            if attempt:
                self._stopping.wait(self.webhook_retry_pause)
            try:
                status = self._webhook_client.post(url, content=body, headers=headers).status_code
            except httpx2.TransportError:
                status = None
                continue
            if status < 500:
                break
        return status

    def stop(self) -> None:
        """Stop serving, and close the webhooks' connections."""
        super().stop()
        client = self.__dict__.pop("_webhook_client", None)
        if client is not None:
            client.close()

    @functools.cached_property
    def _webhook_client(self) -> httpx2.Client:
        return httpx2.Client(timeout=httpx2.Timeout(60.0, connect=10.0), limits=httpx2.Limits(max_connections=None))

    # --- request handling (called by the server threads) -----------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], raw_body: bytes) -> Reply | None:
        """The reply to one HTTP request; None means: close the connection without answering."""
        url = urlsplit(target)
        query = parse_qs(url.query, keep_blank_values=True)
        if url.path.startswith(CONTROL_PREFIX):
            return self._control(method, url.path, query, raw_body)
        supplied_id = headers.get("x-request-id", "")
        request_id = supplied_id if _CLIENT_REQUEST_ID.fullmatch(supplied_id) else new_request_id()
        body, body_is_json = _parse_json(raw_body)
        recorded = RecordedRequest(method, url.path, query, dict(headers), body, time.monotonic(), request_id)
        with self._lock:
            self._recorded.append(recorded)
            fault = self._next_fault(method, url.path)
        injected: ApiError | None = None
        try:
            if fault is not None:
                self._stopping.wait(fault.delay)
                if fault.drop:
                    return None
                if fault.status is not None:
                    extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                    injected = ApiError(fault.status, fault.reason, fault.message, extra)
                    if not fault.after_running:
                        raise injected
            self._authenticate(query, headers)
            if not body_is_json:
                raise ApiError(400, "INVALID_JSON_BODY", "The request body is not valid JSON.")
            with self._lock:
                reply = self._state.route(method, url.path.removeprefix(API_PREFIX), query, body)
            if injected is not None:
                raise injected
        except ApiError as error:
            reply = Reply(
                error.http_status,
                error_envelope(error.http_status, error.reason, error.message, request_id),
                error.headers,
            )
        reply.headers["X-Request-Id"] = request_id
        return reply

    def _next_fault(self, method: str, path: str) -> Fault | None:
        for (fault_method, pattern), queue in self._faults.items():
            if queue and fault_method == method and _path_regex(pattern).fullmatch(path):
                return queue.popleft()
        return None

    def _authenticate(self, query: Mapping[str, list[str]], headers: Mapping[str, str]) -> None:
        """CONTRACT §3.1 lookup order (cookies aside): ?token=, Bearer header, ?accesskey=."""
        scheme, _, bearer = headers.get("authorization", "").partition(" ")
        token = _first(query, "token") or (bearer.strip() if scheme.lower() == "bearer" else "")
        if token:
            if token != self.token:
                raise ApiError(401, "INVALID_CREDENTIALS", "The provided credentials are invalid.")
            return
        access_key = _first(query, "accesskey")
        if access_key:
            if access_key != self.access_key:
                raise ApiError(401, "INVALID_CREDENTIALS", "The provided credentials are invalid.")
            return
        raise ApiError(401, "AUTHENTICATION_REQUIRED", "Authentication is required.")

    def _emit(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Send the webhooks a state change causes, in order, after the API reply (webhook_url only)."""
        url = self.webhook_url
        if url and events:
            threading.Thread(target=lambda: [self.send_webhook(url, *event) for event in events], daemon=True).start()

    def _control(self, method: str, path: str, query: Mapping[str, list[str]], raw_body: bytes) -> Reply:
        body, body_is_json = _parse_json(raw_body)
        payload: dict[str, Any] = body if isinstance(body, dict) else {}
        route = (method, path.removeprefix(CONTROL_PREFIX).rstrip("/"))
        try:
            if not body_is_json:
                raise ValueError("the body is not JSON")
            result = self._control_routes()[route](payload, query)
        except KeyError as error:
            return Reply(404 if route not in self._control_routes() else 400, {"error": f"missing {error}"})
        except (TypeError, ValueError) as error:
            return Reply(400, {"error": str(error)})
        return Reply(200, result)

    def _control_routes(
        self,
    ) -> dict[tuple[str, str], Callable[[dict[str, Any], Mapping[str, list[str]]], Any]]:
        return {
            ("GET", "requests"): lambda _, query: {
                "result": [
                    asdict(item) for item in self.requests(_first(query, "method"), _first(query, "path_prefix"))
                ]
            },
            ("GET", "said"): lambda _, query: {"result": self.said_texts(_first(query, "speaking_id"))},
            ("POST", "faults"): lambda body, _: self.inject(
                body["method"], body["path"], *(Fault(**fault) for fault in body["faults"])
            ),
            ("POST", "calls"): lambda body, _: self.add_call(**body),
            ("POST", "transcripts"): lambda body, _: self.add_transcript(**body),
            ("POST", "conversations"): lambda body, _: self.add_conversation(**body),
            ("POST", "conversation_messages"): lambda body, _: self.add_conversation_message(**body),
            ("POST", "webhooks"): lambda body, _: {
                "status": self.send_webhook(body.get("url") or self.webhook_url or "", body["type"], body["data"])
            },
            ("POST", "reset"): lambda _, __: self.reset(),
        }


def _payload(reply: Reply) -> bytes:
    return b"" if reply.body is None else json.dumps(reply.body, ensure_ascii=False).encode()


def _first(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _parse_json(raw: bytes) -> tuple[Any, bool]:
    """(parsed body, whether it parsed); an empty body is valid and None."""
    if not raw.strip():
        return None, True
    try:
        return json.loads(raw), True
    except ValueError:
        return None, False


def main(argv: Sequence[str] | None = None) -> None:
    """Run the simulator as a process until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description="VoIPBin simulator (REST API + signed webhooks) on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--access-key", default="test-access-key")
    parser.add_argument("--webhook-secret", default="test-webhook-secret")
    parser.add_argument("--webhook-url", default=None, help="where VoIPBin-caused events are sent")
    parser.add_argument("--webhook-retry-pause", type=float, default=1.0)
    args = parser.parse_args(argv)
    simulator = VoipbinSimulator(
        token=args.token,
        access_key=args.access_key,
        webhook_secret=args.webhook_secret,
        webhook_url=args.webhook_url,
        webhook_retry_pause=args.webhook_retry_pause,
    )
    simulator.serve_until_signalled(args.host, args.port, "{root}" + API_PREFIX)


if __name__ == "__main__":
    main()
