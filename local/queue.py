"""The template's SQS queues on loopback: SendMessage with its DelaySeconds, delivered to the consumer function.

It answers boto3's SendMessage (AWS_ENDPOINT_URL_SQS), holds each message for its delay, then invokes the
function whose SQS event reads that queue, one message per invocation, as BatchSize 1 does (the only batch
size of the template's consumers). A message its event's FilterCriteria reject is dropped, as the event source
mapping deletes it. A message the function fails on (an exception, or its id among batchItemFailures) is
received again after a pause, up to the queue's maxReceiveCount, then dead-lettered. Queues, consumers and
their filters are read from the template.
"""

import hashlib
import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.aws_json import AwsJsonEndpoint
from local.bus import pattern_matches
from local.lambda_events import LOCAL_ACCOUNT, sqs_event
from local.template import TEMPLATE, template_resources

Invoke = Callable[[str, dict[str, Any]], Any]
DeadLetter = Callable[[str, dict[str, Any], str], None]
# How long a failed message stays invisible before it is received again (the queue's VisibilityTimeout in AWS).
RECEIVE_AGAIN_SECONDS = 0.5


@dataclass(frozen=True)
class QueueConsumer:
    """A queue of the template and the function its SQS event invokes."""

    queue: str  # logical id
    function: str
    max_receives: int
    filters: tuple[dict[str, Any], ...] = ()  # FilterCriteria's patterns: a message matching any is delivered

    def accepts(self, body: str) -> bool:
        """Whether the event source mapping delivers this body: no filter, or one matching {"body": <its JSON>}."""
        if not self.filters:
            return True
        try:
            message = {"body": json.loads(body)}
        except json.JSONDecodeError:  # a filter on body fields matches JSON bodies only
            return False
        return any(pattern_matches(pattern, message) for pattern in self.filters)


def consumers_from_template(template: Path = TEMPLATE) -> list[QueueConsumer]:
    """Every SQS event of every function in the template, with its queue's redrive limit and its filters."""
    queues = template_resources("AWS::SQS::Queue", template)
    consumers = []
    for name, resource in template_resources("AWS::Serverless::Function", template).items():
        for event_name, event in resource["Properties"].get("Events", {}).items():
            if event["Type"] != "SQS":
                continue
            properties = event["Properties"]
            if properties.get("BatchSize", 10) != 1:
                raise ValueError(f"{name}.{event_name}: the local queues deliver one message an invocation only")
            queue = properties["Queue"]["Fn::GetAtt"][0]
            redrive = queues[queue]["Properties"].get("RedrivePolicy", {})
            filters = properties.get("FilterCriteria", {}).get("Filters", [])
            consumers.append(
                QueueConsumer(
                    queue,
                    name,
                    int(redrive.get("maxReceiveCount", 1)),
                    tuple(json.loads(entry["Pattern"]) for entry in filters),
                )
            )
    return consumers


class LocalQueues:
    """The queues: SendMessage accepted at once, each message delivered after its delay."""

    def __init__(self, consumers: list[QueueConsumer], invoke: Invoke, dead_letter: DeadLetter) -> None:
        self._consumers = {consumer.queue: consumer for consumer in consumers}
        self._invoke = invoke
        self._dead_letter = dead_letter
        self._executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="queue")
        self._pending: list[Future[None]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._endpoint = AwsJsonEndpoint(
            {"AmazonSQS.SendMessage": self._send_message}, content_type="application/x-amz-json-1.0"
        )
        self.sent: list[dict[str, Any]] = []

    @property
    def names(self) -> frozenset[str]:
        """The queues' logical ids."""
        return frozenset(self._consumers)

    @property
    def url(self) -> str:
        """The endpoint for AWS_ENDPOINT_URL_SQS."""
        return self._endpoint.url

    def sent_to(self, queue: str) -> list[dict[str, Any]]:
        """What was sent to one queue so far (its logical id), in order: body and delay_seconds."""
        with self._lock:
            return [message for message in self.sent if message["queue"] == queue]

    def queue_url(self, queue: str) -> str:
        """A queue's URL, as the template's !Ref of it gives in AWS."""
        return f"{self.url}/{LOCAL_ACCOUNT}/{queue}"

    def start(self) -> "LocalQueues":
        """Start answering SendMessage."""
        self._endpoint.start()
        return self

    def stop(self) -> None:
        """Stop answering; messages still waiting out their delay are dropped, as a deleted queue's are."""
        self._stopping.set()
        self._endpoint.stop()
        self._executor.shutdown(wait=True)

    def wait_idle(self, timeout: float = 120) -> bool:
        """Block until every message sent so far was delivered; False when a delivery sent more meanwhile."""
        waited = False
        while True:
            with self._lock:
                pending = [future for future in self._pending if not future.done()]
                self._pending = pending
            if not pending:
                return not waited
            waited = True
            pending[0].result(timeout=timeout)

    def _send_message(self, request: dict[str, Any]) -> dict[str, Any]:
        queue = str(request["QueueUrl"]).rsplit("/", 1)[-1]
        body = str(request["MessageBody"])
        message_id = str(uuid.uuid4())
        consumer = self._consumers[queue]
        delay = float(request.get("DelaySeconds", 0))
        with self._lock:
            self.sent.append({"queue": queue, "body": body, "delay_seconds": delay})
            if consumer.accepts(body):
                self._pending.append(self._executor.submit(self._deliver, consumer, message_id, body, delay))
        return {"MessageId": message_id, "MD5OfMessageBody": hashlib.md5(body.encode()).hexdigest()}

    def _deliver(self, consumer: QueueConsumer, message_id: str, body: str, delay: float) -> None:
        if self._stopping.wait(delay):
            return
        error = ""
        for receive in range(1, consumer.max_receives + 1):
            event = sqs_event(body, message_id=message_id, queue=consumer.queue, receive_count=receive)
            try:
                response = self._invoke(consumer.function, event) or {}
                failures = response.get("batchItemFailures", [])
            except Exception as failure:  # the whole batch failed
                failures, error = [{"itemIdentifier": message_id}], f"{type(failure).__name__}: {failure}"
            if not failures:
                return
            error = error or "the function reported the message failed"
            if self._stopping.wait(RECEIVE_AGAIN_SECONDS):
                return
        self._dead_letter(consumer.function, event, error)
