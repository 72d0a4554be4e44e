"""EventBridge publisher: the ingress hands every VoIPBin event to the bus, one entry per webhook.

The backend's own events (source OWN_SOURCE) travel the same bus: a warm-up asks for a container of the
function that answers callers when a call is answered, so the caller's first words seldom wait for a cold
start; a finished conversation's summary (models/summary.py) is there for the business's own rules.
template.yaml routes each type; the receiving handler does nothing with a warm-up but start.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from voipbin_ai.container import holds_connections
from voipbin_ai.exceptions import PublishError
from voipbin_ai.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

# The `source` of every VoIPBin event; each rule in template.yaml matches on it.
EVENT_SOURCE = "voipbin"
# The `source` and `detail-type` of the backend's own warm-up event (template.yaml: TranscriptCreatedFunction).
OWN_SOURCE = "voipbin-ai"
WARM_UP = "warm_up"


@holds_connections
@lru_cache(maxsize=1)
def _events_client() -> "EventBridgeClient":
    """One client per container, made on first use (AWS_ENDPOINT_URL_EVENTBRIDGE points it elsewhere)."""
    import boto3

    from voipbin_ai import aws

    return boto3.client("events", config=aws.EVENTBRIDGE)


def publish(bus_name: str, event_type: str, detail: str, *, source: str = EVENT_SOURCE) -> None:
    """Put one VoIPBin event on the bus: DetailType is its type, Detail the envelope JSON as received.

    Raises:
        PublishError: the call failed, or EventBridge answered 200 with the entry failed.

    """
    from botocore.exceptions import BotoCoreError, ClientError

    entry = {"Source": source, "DetailType": event_type, "Detail": detail, "EventBusName": bus_name}
    try:
        response = _events_client().put_events(Entries=[entry])  # type: ignore[list-item]
    except (BotoCoreError, ClientError) as error:
        raise PublishError(f"PutEvents failed: {error}") from error
    if response.get("FailedEntryCount"):
        failed = response["Entries"][0]
        raise PublishError(f"PutEvents rejected the entry: {failed.get('ErrorCode')}: {failed.get('ErrorMessage')}")


class Publisher(Protocol):
    """Where the logic publishes the backend's own events for the business's systems (summaries)."""

    def publish(self, detail_type: str, detail: str) -> None:
        """Put one event of ours (source OWN_SOURCE) on the bus.

        Raises:
            PublishError: it could not be put.

        """
        ...


@dataclass(frozen=True)
class BusPublisher:
    """The stack's bus (EVENT_BUS_NAME)."""

    bus_name: str

    def publish(self, detail_type: str, detail: str) -> None:
        """Publisher.publish, as one PutEvents entry."""
        publish(self.bus_name, detail_type, detail, source=OWN_SOURCE)


def is_warm_up(event: Mapping[str, Any]) -> bool:
    """Whether an EventBridge delivery is the backend's own warm-up."""
    return event.get("source") == OWN_SOURCE and event.get("detail-type") == WARM_UP


def request_warm_up(bus_name: str, conversation_id: str) -> None:
    """Ask for a warm container of the reply function; a failure costs only the warm start, so it is logged.

    The conversation's id goes along for the warm-up's one log line (every line of a conversation has it).
    """
    try:
        publish(bus_name, WARM_UP, json.dumps({"conversation_id": conversation_id}), source=OWN_SOURCE)
    except PublishError as error:
        logger.warning("Warm-up not requested", error=str(error))
