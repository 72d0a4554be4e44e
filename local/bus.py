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
from pathlib import Path
from typing import Any

from local.aws_json import AwsJsonEndpoint
from local.lambda_events import eventbridge_event
from local.template import TEMPLATE, template_resources

Deliver = Callable[[str, dict[str, Any]], None]
# EventBridge's JSON protocol version.
_CONTENT_TYPE = "application/x-amz-json-1.1"


@dataclass(frozen=True)
class BusRule:
    """One EventBridgeRule event of a function in the template."""

    function: str
    event_name: str
    pattern: dict[str, Any]

    def matches(self, event: dict[str, Any]) -> bool:
        """Whether EventBridge would route this event (an EventBridge event dict) to the function."""
        return pattern_matches(self.pattern, event)


def pattern_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether an EventBridge pattern matches a JSON object (SQS event source filters have the same syntax)."""
    from moto.events.models import EventPattern

    return bool(EventPattern.load(json.dumps(pattern)).matches_event(event))  # type: ignore[arg-type]


def rules_from_template(template: Path = TEMPLATE) -> list[BusRule]:
    """Every EventBridgeRule of every function in the template."""
    return [
        BusRule(logical_id, event_name, event["Properties"]["Pattern"])
        for logical_id, resource in template_resources("AWS::Serverless::Function", template).items()
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
        self._endpoint = AwsJsonEndpoint({"AWSEvents.PutEvents": self._put_events}, content_type=_CONTENT_TYPE)
        self.published: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        """The endpoint for AWS_ENDPOINT_URL_EVENTBRIDGE."""
        return self._endpoint.url

    def start(self) -> "LocalBus":
        """Start answering PutEvents."""
        self._endpoint.start()
        return self

    def stop(self) -> None:
        """Stop answering, after the deliveries under way."""
        self._endpoint.stop()
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

    def _put_events(self, request: dict[str, Any]) -> dict[str, Any]:
        results = [{"EventId": self.put(entry)} for entry in request.get("Entries", [])]
        return {"FailedEntryCount": 0, "Entries": results}

    @property
    def idle(self) -> bool:
        """Whether no delivery is under way."""
        with self._lock:
            return all(future.done() for future in self._pending)

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
