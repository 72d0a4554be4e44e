"""An OpenAI-compatible Chat Completions server on loopback that answers from a queue of scripted replies.

It imitates what the AI core relies on of https://api.openai.com/v1, shaped after the models of the
installed openai package (ChatCompletion, ChatCompletionChunk): POST /v1/chat/completions with and without
stream=true (SSE ``data: {chat.completion.chunk}`` events, tool_calls deltas streamed as index + id + name
then argument fragments, stream_options.include_usage, ``data: [DONE]``), OpenAI's error body
``{"error": {"message", "type", "param", "code"}}`` and GET /v1/models. A real HTTP server rather than a
mock transport, so that the SDK's own HTTP stack, its retries, timeouts and dropped connections are
exercised as in production (the SDK's transport changes between majors).

In tests use the ``fake_openai`` fixture (tests/fakes/openai_fixtures.py): queue Scripts with enqueue(),
point ``openai.OpenAI(base_url=fake.base_url, ...)`` at it, assert on requests(). As a process, answering
every request with the default reply::

    python -m local.fake_openai --port 8901 [--ttft 0.3 --token-delay 0.02] [--reply TEXT]

Not imitated: n > 1, logprobs, audio, the Responses API, error events inside a stream, real token counts
(usage counts words and punctuation marks).
"""

import argparse
import contextlib
import json
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from local.loopback import LoopbackServer, TrackedHandler

API_PREFIX = "/v1"
CHAT_PATH = API_PREFIX + "/chat/completions"
MODELS_PATH = API_PREFIX + "/models"
DEFAULT_REPLY = "Hello from the fake OpenAI server. How can I help?"
# A word with the whitespace before it, or one punctuation mark: roughly how a tokenizer cuts text.
_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])|\s+")
# type, code and message of OpenAI's answer per status.
_ERRORS: Mapping[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again in 1s."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def tokenize(text: str) -> tuple[str, ...]:
    """Text as the deltas the server streams it in ("Hi, you." -> "Hi", ",", " you", "."); joined: the text."""
    return tuple(_TOKEN.findall(text))


@dataclass(frozen=True)
class ToolCall:
    """A function call the model makes; arguments is its JSON text, streamed in fragments."""

    name: str
    arguments: str = "{}"
    id: str = field(default_factory=lambda: "call_" + secrets.token_hex(12))


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error with OpenAI's error body; type, code and message default to OpenAI's for the status."""

    status: int
    message: str | None = None
    type: str | None = None
    code: str | None = None
    retry_after: float | None = None

    def body(self) -> dict[str, Any]:
        """{"error": {"message", "type", "param", "code"}}."""
        default_type, default_code, default_message = _ERRORS.get(
            self.status, ("server_error" if self.status >= 500 else "invalid_request_error", None, "Injected error.")
        )
        error = {
            "message": self.message or default_message,
            "type": self.type or default_type,
            "param": None,
            "code": self.code or default_code,
        }
        return {"error": error}


@dataclass(frozen=True)
class Script:
    """One scripted reply: text tokens then tool calls, or an error.

    drop_after cuts the connection after that many streamed tokens (a non-streaming request gets no
    answer at all). hold_after pauses the stream after that many tokens until `release` is set (a reply
    still being written while the test makes something happen, whatever the machine's speed). ttft and
    token_delay override the server's for this reply; finish_reason defaults to "tool_calls" when there
    are tool calls, else "stop".
    """

    tokens: tuple[str, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    error: ErrorReply | None = None
    drop_after: int | None = None
    hold_after: int | None = None
    release: threading.Event = field(default_factory=threading.Event)
    ttft: float | None = None
    token_delay: float | None = None
    finish_reason: str | None = None

    @classmethod
    def text(cls, text: str, **options: Any) -> Self:
        """A text reply, streamed word by word (see tokenize)."""
        return cls(tokens=tokenize(text), **options)

    @classmethod
    def tools(cls, *calls: ToolCall, text: str = "", **options: Any) -> Self:
        """Tool calls, after optional text; arguments stream in token-sized fragments."""
        return cls(tokens=tokenize(text), tool_calls=calls, **options)

    @classmethod
    def failure(cls, status: int, **error: Any) -> Self:
        """An HTTP error instead of a reply (ErrorReply's fields: message, type, code, retry_after)."""
        return cls(error=ErrorReply(status, **error))

    @classmethod
    def dropped(cls, text: str = DEFAULT_REPLY, *, after: int = 1) -> Self:
        """The reply's first `after` tokens, then the connection closes mid-stream."""
        return cls(tokens=tokenize(text), drop_after=after)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received, before authentication."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON; None when empty or not JSON
    received_at: float  # time.monotonic()

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name."""
        return self.headers.get(name.lower())

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages sent, [] if none."""
        messages = self.body.get("messages") if isinstance(self.body, dict) else None
        return messages if isinstance(messages, list) else []


Responder = Callable[[RecordedRequest], Script]
DEFAULT_SCRIPT = Script.text(DEFAULT_REPLY)


@dataclass
class _Answer:
    """What the handler writes: a JSON body, an SSE stream of (delay, event) pairs, or nothing (drop)."""

    status: int = 200
    body: Any = None
    events: list[tuple[float, str]] | None = None
    drop: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    # (the index of the event to wait before, what releases it)
    hold: tuple[int, threading.Event] | None = None


class _Handler(TrackedHandler):
    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = self.server.owner.answer(self.command, self.path.partition("?")[0], headers, raw_body)
        if answer.events is None and answer.drop:
            self.close_connection = True
            return
        self.send_response(answer.status)
        self.send_header("x-request-id", "req_" + secrets.token_hex(16))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.events is None:
            payload = json.dumps(answer.body, ensure_ascii=False).encode()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._stream(answer.events, complete=not answer.drop, hold=answer.hold)

    def _stream(
        self, events: list[tuple[float, str]], *, complete: bool, hold: tuple[int, threading.Event] | None
    ) -> None:
        """Write events as HTTP chunks after their delays; without the last chunk the client sees a cut.

        Each event is due at its delays' sum from the start (or from a hold's release): a late wake-up
        shortens the next wait instead of delaying every event after it, so the stream keeps its script's time.
        """
        due = time.monotonic()
        try:
            for index, (delay, event) in enumerate(events):
                if hold is not None and index == hold[0]:
                    if not self.server.owner.wait_for(hold[1]):
                        break
                    due = time.monotonic()
                due += delay
                if not self.server.owner.wait(due - time.monotonic()):
                    break
                data = event.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            else:
                if complete:
                    self.wfile.write(b"0\r\n\r\n")
                    return
        except OSError:  # the client went away
            pass
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_POST = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests assert on recorded requests, not on access logs."""


class FakeOpenAI(LoopbackServer):
    """The server: start() binds 127.0.0.1 (port 0 = ephemeral); use as a context manager.

    Replies come from the queue (enqueue), then from `default`: a Script, or a responder called with
    the recorded request. ttft and token_delay (seconds) may be changed between requests.
    """

    name = "the fake OpenAI server"
    handler_class = _Handler

    def __init__(
        self,
        *,
        default: Script | Responder = DEFAULT_SCRIPT,
        ttft: float = 0.0,
        token_delay: float = 0.0,
        api_key: str | None = None,
        models: Sequence[str] = ("gpt-4o-mini",),
    ) -> None:
        super().__init__()
        self.default = default
        self.ttft = ttft
        self.token_delay = token_delay
        self.api_key = api_key  # None accepts any key
        self.models = tuple(models)
        self._lock = threading.Lock()
        self._scripts: deque[Script] = deque()
        self._recorded: list[RecordedRequest] = []

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port>/v1, what openai.OpenAI(base_url=...) and OPENAI_BASE_URL take."""
        return self.root_url + API_PREFIX

    def enqueue(self, *scripts: Script) -> None:
        """Queue replies, one per chat completion request, in order."""
        with self._lock:
            self._scripts.extend(scripts)

    def requests(self, path: str | None = None) -> list[RecordedRequest]:
        """Recorded requests in arrival order, all or those to one path ("/v1/chat/completions")."""
        with self._lock:
            return [recorded for recorded in self._recorded if path is None or recorded.path == path]

    def reset(self) -> None:
        """Forget queued scripts and recorded requests."""
        with self._lock:
            self._scripts.clear()
            self._recorded.clear()

    # --- request handling (called by the server threads) -----------------------------------------

    def answer(self, method: str, path: str, headers: Mapping[str, str], raw_body: bytes) -> _Answer:
        """The answer to one request: recorded, then scripted (or the default reply)."""
        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except ValueError:
            body = None
        recorded = RecordedRequest(method, path, dict(headers), body, time.monotonic())
        with self._lock:
            self._recorded.append(recorded)
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if self.api_key is not None and (scheme.lower() != "bearer" or key.strip() != self.api_key):
            return _error(ErrorReply(401))
        if (method, path) == ("GET", MODELS_PATH):
            data = [{"id": model, "object": "model", "created": 0, "owned_by": "fake-openai"} for model in self.models]
            return _Answer(body={"object": "list", "data": data})
        if (method, path) != ("POST", CHAT_PATH):
            return _error(ErrorReply(404, message=f"Invalid URL ({method} {path})", code="unknown_url"))
        if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not recorded.messages:
            return _error(ErrorReply(400, message="'model' and a non-empty 'messages' array are required."))
        return self._complete(self._next_script(recorded), body, recorded)

    def wait(self, seconds: float) -> bool:
        """Sleep unless the server stops first; False when it did."""
        return not self._stopping.wait(max(seconds, 0.0))

    def wait_for(self, release: threading.Event) -> bool:
        """Block until `release` is set, unless the server stops first; False when it did."""
        while not release.wait(0.01):
            if self._stopping.is_set():
                return False
        return True

    def _next_script(self, recorded: RecordedRequest) -> Script:
        with self._lock:
            if self._scripts:
                return self._scripts.popleft()
        return self.default if isinstance(self.default, Script) else self.default(recorded)

    def _complete(self, script: Script, body: dict[str, Any], recorded: RecordedRequest) -> _Answer:
        if script.error is not None:
            return _error(script.error)
        ttft = self.ttft if script.ttft is None else script.ttft
        token_delay = self.token_delay if script.token_delay is None else script.token_delay
        deltas = _deltas(script)
        finish_reason = script.finish_reason or ("tool_calls" if script.tool_calls else "stop")
        usage = _usage(recorded.messages, len(deltas))
        envelope = {
            "id": "chatcmpl-" + secrets.token_hex(12),
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_fake",
        }
        if body.get("stream") is not True:
            if script.drop_after is not None or not self.wait(ttft + token_delay * max(len(deltas) - 1, 0)):
                return _Answer(drop=True)
            message = _message(script)
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
            return _Answer(body={**envelope, "object": "chat.completion", "choices": [choice], "usage": usage})
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        role = {"role": "assistant", "content": "" if script.tokens else None, "refusal": None}
        timed = [(ttft, role), *((0.0 if index == 0 else token_delay, delta) for index, delta in enumerate(deltas))]
        if script.drop_after is not None:
            return _Answer(events=_sse(envelope, timed[: script.drop_after + 1], include_usage), drop=True)
        events = _sse(envelope, [*timed, (0.0, {})], include_usage, finish_reason=finish_reason)
        if include_usage:
            events.append((0.0, _data({**envelope, "object": "chat.completion.chunk", "choices": [], "usage": usage})))
        # Event 0 is the role; token n is event n.
        hold = None if script.hold_after is None else (script.hold_after + 1, script.release)
        return _Answer(events=[*events, (0.0, "data: [DONE]\n\n")], hold=hold)


def _error(error: ErrorReply) -> _Answer:
    headers = {"retry-after": str(error.retry_after)} if error.retry_after is not None else {}
    return _Answer(status=error.status, body=error.body(), headers=headers)


def _deltas(script: Script) -> list[dict[str, Any]]:
    """The streamed deltas after the role: content tokens, then per tool call its header and argument fragments."""
    deltas: list[dict[str, Any]] = [{"content": token} for token in script.tokens]
    for index, call in enumerate(script.tool_calls):
        header = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        deltas.append({"tool_calls": [header]})
        deltas += [
            {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
            for fragment in tokenize(call.arguments)
        ]
    return deltas


def _message(script: Script) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "".join(script.tokens) or None, "refusal": None}
    if script.tool_calls:
        message["tool_calls"] = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in script.tool_calls
        ]
    return message


def _usage(messages: list[dict[str, Any]], completion_tokens: int) -> dict[str, int]:
    """Rough counts: tokenize() pieces of the messages' text (string content or text parts)."""
    prompt_tokens = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else [{"text": content}]:
            text = part.get("text") if isinstance(part, dict) else None
            prompt_tokens += len(tokenize(text)) if isinstance(text, str) else 0
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _sse(
    envelope: dict[str, Any],
    timed_deltas: list[tuple[float, dict[str, Any]]],
    include_usage: bool,
    *,
    finish_reason: str | None = None,
) -> list[tuple[float, str]]:
    """chat.completion.chunk events; the last delta carries finish_reason (when given)."""
    events = []
    for position, (delay, delta) in enumerate(timed_deltas):
        last = position == len(timed_deltas) - 1
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason if last else None}
        chunk = {**envelope, "object": "chat.completion.chunk", "choices": [choice]}
        if include_usage:
            chunk["usage"] = None
        events.append((delay, _data(chunk)))
    return events


def _data(payload: Any) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until SIGINT/SIGTERM, answering every chat completion with the default reply."""
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible Chat Completions server on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft", type=float, default=0.0, help="seconds before the first token")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between tokens")
    parser.add_argument("--reply", default=DEFAULT_REPLY)
    parser.add_argument("--api-key", default=None, help="the only key accepted (default: any)")
    args = parser.parse_args(argv)
    fake = FakeOpenAI(
        default=Script.text(args.reply), ttft=args.ttft, token_delay=args.token_delay, api_key=args.api_key
    )
    fake.serve_until_signalled(args.host, args.port, "{root}" + API_PREFIX)


if __name__ == "__main__":
    main()
