"""EventBridge publisher: the ingress hands every VoIPBin event to the bus, one entry per webhook."""

from functools import lru_cache
from typing import TYPE_CHECKING

from voipbin_ai.container import holds_connections
from voipbin_ai.exceptions import PublishError

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

# The `source` of every entry; each rule in template.yaml matches on it.
EVENT_SOURCE = "voipbin"


@holds_connections
@lru_cache(maxsize=1)
def _events_client() -> "EventBridgeClient":
    """One client per container, made on first use (AWS_ENDPOINT_URL_EVENTBRIDGE points it elsewhere)."""
    import boto3

    from voipbin_ai import aws

    return boto3.client("events", config=aws.EVENTBRIDGE)


def publish(bus_name: str, event_type: str, detail: str) -> None:
    """Put one VoIPBin event on the bus: DetailType is its type, Detail the envelope JSON as received.

    Raises:
        PublishError: the call failed, or EventBridge answered 200 with the entry failed.

    """
    from botocore.exceptions import BotoCoreError, ClientError

    entry = {"Source": EVENT_SOURCE, "DetailType": event_type, "Detail": detail, "EventBusName": bus_name}
    try:
        response = _events_client().put_events(Entries=[entry])  # type: ignore[list-item]
    except (BotoCoreError, ClientError) as error:
        raise PublishError(f"PutEvents failed: {error}") from error
    if response.get("FailedEntryCount"):
        failed = response["Entries"][0]
        raise PublishError(f"PutEvents rejected the entry: {failed.get('ErrorCode')}: {failed.get('ErrorMessage')}")
