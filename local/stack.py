"""The whole backend on one machine: the HTTP API, the bus's rules and the queues emulated from template.yaml.

Routes (HttpApi events), rules (EventBridgeRule events) and queue consumers (SQS events, with their filters)
are read from the template, never copied; a queued message waits out its DelaySeconds (local/queue.py). Each
function runs in this process, warm, as a Lambda container runs after its first request: an HTTP request
becomes an HTTP API v2 event for its route's function; what the ingress queues (the voice events) reaches
the queue's consumer, and what it publishes the bus's rules' functions, asynchronously, with Lambda's two
retries of a failed asynchronous invocation (the queue's receives for a queued one); what still fails is
kept in `dead_letters`, as the template's dead-letter queue keeps it.

DynamoDB (Local), VoIPBin (the simulator or a real account) and the LLM (any OpenAI-compatible endpoint)
are whatever the environment given to the stack points at.
"""

import base64
import contextlib
import importlib
import json
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Final

from local.bus import LocalBus, rules_from_template
from local.lambda_bootstrap import LocalContext
from local.lambda_events import http_api_event
from local.processes import LoopbackHTTPServer
from local.queue import LocalQueues, consumers_from_template
from local.template import REPO_ROOT, TEMPLATE, parsed_template, template_resources
from voipbin_ai.config import DEFAULT_WEBHOOK_PATH_TOKEN
from voipbin_ai.knowledge.index import build as build_knowledge_index

# Lambda's asynchronous invocations (EventBridge targets) are retried twice (EventInvokeConfig).
ASYNC_ATTEMPTS: Final = 3
_FUNCTIONS_PACKAGE: Final = "functions"
# template.yaml's Handler of every function (Globals): shared/voipbin_ai/entry.py.
ENTRY_HANDLER: Final = "voipbin_ai.entry.lambda_handler"

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class Route:
    """One HttpApi event of a function in the template."""

    method: str
    path: str  # as the template writes it: /webhooks/{token}
    function: str

    def parameters(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters when a request is this route's, as API Gateway matches it; else None."""
        pattern = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        match = re.fullmatch(pattern, path)
        return match.groupdict() if method == self.method and match else None


@dataclass
class DeadLetter:
    """An event a function failed on every attempt."""

    function: str
    event: dict[str, Any]
    error: str


def template_functions(template: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    """The template's functions by logical id."""
    return template_resources("AWS::Serverless::Function", template)


def function_limits(template: Path = TEMPLATE) -> dict[str, tuple[int, int]]:
    """(memory MB, timeout s) of each function: its own, else the template's Globals, else Lambda's defaults."""
    globals_ = parsed_template(template).get("Globals", {}).get("Function", {})
    return {
        name: (
            int(function["Properties"].get("MemorySize", globals_.get("MemorySize", 128))),
            int(function["Properties"].get("Timeout", globals_.get("Timeout", 3))),
        )
        for name, function in template_functions(template).items()
    }


def routes_from_template(template: Path = TEMPLATE) -> list[Route]:
    """Every HttpApi route of every function in the template."""
    return [
        Route(event["Properties"]["Method"].upper(), event["Properties"]["Path"], name)
        for name, resource in template_functions(template).items()
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi"
    ]


def load_handler(function: str, template: Path = TEMPLATE) -> Handler:
    """A function's handler, imported in this process from its CodeUri (functions/<name>/)."""
    properties = template_functions(template)[function]["Properties"]
    package = Path(properties["CodeUri"]).name
    name = properties.get("Handler") or parsed_template(template)["Globals"]["Function"]["Handler"]
    # The layer's entry imports the container's one module named app; in one process each function has its own.
    module_name, attribute = ("app", "lambda_handler") if name == ENTRY_HANDLER else name.rsplit(".", 1)
    module = importlib.import_module(f"{_FUNCTIONS_PACKAGE}.{package}.{module_name}")
    handler: Handler = getattr(module, attribute)
    return handler


def cold_start() -> None:
    """Forget every per-container cache (settings, clients, mappings), as a new Lambda container would."""
    from voipbin_ai import container

    container.reset()


@dataclass
class LocalStack:
    """The HTTP API and the bus on loopback, with the template's functions behind them.

    `environment` (the local services' addresses and secrets) is applied to this process over the
    template's own environment while the stack runs, and restored afterwards. `workers` bounds how many
    bus deliveries run at once, like Lambda's concurrency.
    """

    environment: Mapping[str, str]
    workers: int = 16
    port: int = 0  # 0: any free port
    template: Path = TEMPLATE
    dead_letters: list[DeadLetter] = field(default_factory=list)
    invocations: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: dict[str, Handler] = {}
        self.routes = routes_from_template(self.template)
        self._contexts = function_limits(self.template)
        self.bus = LocalBus(rules_from_template(self.template), self._deliver, workers=self.workers)
        self.queues = LocalQueues(consumers_from_template(self.template), self.invoke, self._dead_letter)
        self._server = LoopbackHTTPServer(("127.0.0.1", self.port), _api_handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The HTTP API's base URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def route_url(self, function: str, method: str = "POST", **parameters: str) -> str:
        """The URL of a function's route (the webhook, the chat, the chat page), its path parameters filled in."""
        path = next(route.path for route in self.routes if (route.function, route.method) == (function, method))
        return self.url + path.format(**parameters)

    @property
    def webhook_url(self) -> str:
        """The URL VoIPBin posts to: the ingress's route with this stack's path token."""
        shell = {**os.environ, **self.environment}
        token = shell.get("WEBHOOK_PATH_TOKEN") or DEFAULT_WEBHOOK_PATH_TOKEN
        return self.route_url("IngressFunction", token=token)

    def function_environment(self) -> dict[str, str]:
        """What the functions see.

        Each one's environment as SAM resolves it from the template and the shell, merged (they share the
        Globals), then the stack's own settings and its bus.
        """
        from local.invoke import function_environment

        shell = {**os.environ, **self.environment}
        merged: dict[str, str] = {}
        for name in template_functions(self.template):
            merged |= function_environment(name, template=self.template, shell_env=shell)
        # SAM resolves a queue's !Ref to its logical id; in AWS it is the queue's URL.
        merged = {
            name: self.queues.queue_url(value) if value in self.queues.names else value
            for name, value in merged.items()
        }
        environment = {
            **merged,
            **self.environment,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": self.bus.url,
            "AWS_ENDPOINT_URL_SQS": self.queues.url,
        }
        # The generated secrets of the template: a run given none makes its own.
        for generated in ("CHAT_SESSION_SECRET", "PHONE_ID_PEPPER"):
            environment[generated] = environment.get(generated) or secrets.token_urlsafe(32)
        return environment

    @contextlib.contextmanager
    def running(self) -> Iterator["LocalStack"]:
        """Serve until the block ends; the environment is set for the functions meanwhile.

        The functions run from source here, not from the built layer: knowledge/ is indexed for them as
        `sam build` indexes it into the layer, unless KNOWLEDGE_INDEX_FILE names an index.
        """
        environment = self.function_environment()
        knowledge = None if environment.get("KNOWLEDGE_INDEX_FILE") else tempfile.TemporaryDirectory()
        if knowledge is not None:
            index = Path(knowledge.name) / "index.sqlite3"
            build_knowledge_index(REPO_ROOT / "knowledge", index)
            environment["KNOWLEDGE_INDEX_FILE"] = str(index)
        saved = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)
        cold_start()
        _apply_observability_settings()
        self.bus.start()
        self.queues.start()
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            self.queues.stop()
            self.bus.stop()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            cold_start()
            if knowledge is not None:
                knowledge.cleanup()

    def wait_idle(self, timeout: float = 120) -> None:
        """Block until every event published and every message queued so far has been handled (delays too)."""
        while True:
            self.bus.wait_idle(timeout)
            if self.queues.wait_idle(timeout) and self.bus.idle:
                return

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Invoke a function once in this process, as Lambda would, and return what it returned."""
        handler = self._handler(function)
        with self._lock:
            self.invocations[function] = self.invocations.get(function, 0) + 1
        return handler(event, LocalContext(function, *self._contexts[function]))

    def _handler(self, function: str) -> Handler:
        with self._lock:
            if function not in self._handlers:
                self._handlers[function] = load_handler(function, self.template)
            return self._handlers[function]

    def _deliver(self, function: str, event: dict[str, Any]) -> None:
        """An asynchronous invocation: retried twice on failure, then dead-lettered."""
        error: Exception | None = None
        for _ in range(ASYNC_ATTEMPTS):
            try:
                self.invoke(function, event)
                return
            except Exception as failure:  # Lambda retries whatever the function raised
                error = failure
        self._dead_letter(function, event, f"{type(error).__name__}: {error}")

    def _dead_letter(self, function: str, event: dict[str, Any], error: str) -> None:
        with self._lock:
            self.dead_letters.append(DeadLetter(function, event, error))

    def answer(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """An HTTP request through the route's function: status, headers and body."""
        matched = [(r, parameters) for r in self.routes if (parameters := r.parameters(method, path)) is not None]
        if not matched:
            return 404, {"Content-Type": "application/json"}, b'{"message":"Not Found"}'
        ((route, parameters),) = matched
        # A body that is not UTF-8 cannot travel as the event's JSON string: it arrives base64-encoded, as
        # API Gateway sends binary bodies.
        event = http_api_event(
            body,
            path=path,
            route=route.path,
            path_parameters=parameters,
            method=method,
            headers=dict(headers),
            base64_encoded=not _is_utf8(body),
        )
        response = self.invoke(route.function, event)
        payload = str(response.get("body") or "")
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        return int(response.get("statusCode", 200)), dict(response.get("headers") or {}), data


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _apply_observability_settings() -> None:
    """The stack's log level, metric namespace and service, for the shared logger and metrics.

    They were made when this process imported them, maybe before the stack's environment was set (a Lambda
    container has its environment before any import, so this is the local stack's concern alone).
    """
    from voipbin_ai.observability import logger, metrics

    logger.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"))
    metrics.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE")
    metrics.service = os.environ.get("POWERTOOLS_SERVICE_NAME")


def _api_handler_for(stack: LocalStack) -> type[BaseHTTPRequestHandler]:
    class ApiHandler(BaseHTTPRequestHandler):
        """API Gateway's HTTP API, for the template's routes."""

        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def _answer(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                status, headers, data = stack.answer(method, self.path.split("?")[0], dict(self.headers), body)
            except Exception as error:  # API Gateway answers 500 when the function fails
                status, headers, data = 500, {}, json.dumps({"message": f"Internal Server Error: {error}"}).encode()
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in {"content-length", "connection"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the caller prints what matters."""

    return ApiHandler
