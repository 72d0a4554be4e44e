"""An EventBridge bus on loopback, routed by template.yaml's own rules.

It answers boto3's PutEvents (set AWS_ENDPOINT_URL_EVENTBRIDGE to its URL), matches each entry against
every EventBridgeRule event of the template with moto's implementation of EventBridge patterns, and
delivers the event to the rule's function asynchronously, as EventBridge does. The routing is read from
the template, never copied.
"""

import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from local.lambda_events import eventbridge_event
from local.processes import LoopbackHTTPServer

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"

Deliver = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class BusRule:
    """One EventBridgeRule event of a function in the template."""

    function: str
    event_name: str
    pattern: dict[str, Any]

    def matches(self, event: dict[str, Any]) -> bool:
        """Whether EventBridge would route this event (an EventBridge event dict) to the function."""
        from moto.events.models import EventPattern

        return bool(EventPattern.load(json.dumps(self.pattern)).matches_event(event))  # type: ignore[arg-type]


def rules_from_template(template: Path = TEMPLATE) -> list[BusRule]:
    """Every EventBridgeRule of every function in the template."""
    from samcli.yamlhelper import yaml_parse

    resources = yaml_parse(template.read_text(encoding="utf-8"))["Resources"]
    return [
        BusRule(logical_id, event_name, event["Properties"]["Pattern"])
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        for event_name, event in resource["Properties"].get("Events", {}).items()
        if event["Type"] == "EventBridgeRule"
    ]


class LocalBus:
    """The bus: a PutEvents endpoint whose entries are delivered to the matching functions."""

    def __init__(self, rules: list[BusRule], deliver: Deliver, *, workers: int = 8) -> None:
        self.rules = rules
        self._deliver = deliver
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bus")
        self._pending: list[Future[None]] = []
        self._lock = threading.Lock()
        self._server = LoopbackHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.published: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        """The endpoint for AWS_ENDPOINT_URL_EVENTBRIDGE."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> "LocalBus":
        """Start answering PutEvents."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering, after the deliveries under way."""
        self._server.shutdown()
        self._server.server_close()
        self._executor.shutdown(wait=True)

    def wait_idle(self, timeout: float = 120) -> None:
        """Block until every delivery so far has finished; re-raise the first delivery failure."""
        while True:
            with self._lock:
                pending = [future for future in self._pending if not future.done()]
                finished = [future for future in self._pending if future.done()]
                self._pending = pending
            for future in finished:
                future.result()
            if not pending:
                return
            pending[0].result(timeout=timeout)

    def put(self, entry: dict[str, Any]) -> str:
        """Accept one PutEvents entry and schedule its deliveries; returns the event id."""
        event = eventbridge_event(entry["DetailType"], json.loads(entry["Detail"]), source=entry["Source"])
        event["id"] = str(uuid.uuid4())
        with self._lock:
            self.published.append(event)
            for rule in self.rules:
                if rule.matches(event):
                    self._pending.append(self._executor.submit(self._deliver, rule.function, event))
        return str(event["id"])


def _handler_for(bus: LocalBus) -> type[BaseHTTPRequestHandler]:
    class PutEventsHandler(BaseHTTPRequestHandler):
        """EventBridge's JSON 1.1 protocol, PutEvents only."""

        def do_POST(self) -> None:
            target = self.headers.get("X-Amz-Target", "")
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if target != "AWSEvents.PutEvents":
                self._answer(400, {"__type": "UnknownOperationException", "message": target})
                return
            results = [{"EventId": bus.put(entry)} for entry in body.get("Entries", [])]
            self._answer(200, {"FailedEntryCount": 0, "Entries": results})

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the demo prints what matters."""

    return PutEventsHandler
