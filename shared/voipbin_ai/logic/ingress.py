"""The webhook's decision: is this a genuine VoIPBin event, does any function need it, and which way it goes.

VoIPBin retries only on 5xx or connection errors, so every problem with the request itself is a
WebhookRejectedError (answered 4xx, never retried) and only a failed publish surfaces as a 5xx. The types a
caller waits on (QUEUED_EVENT_TYPES) go to the voice events queue, everything else to the bus.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from voipbin_ai.config import IngressSettings
from voipbin_ai.exceptions import (
    InvalidEventError,
    MalformedWebhookError,
    PayloadTooLargeError,
    SignatureMismatchError,
)
from voipbin_ai.models.envelope import read_envelope
from voipbin_ai.voipbin import signature

Publisher = Callable[[str, str, str], None]
Enqueuer = Callable[[str, str], None]


@dataclass(frozen=True)
class IngressOutcome:
    """What happened to one webhook, for the response and the logs."""

    event_type: str
    resource_id: str | None
    action: Literal["published", "dropped"]


def accept_webhook(
    raw_body: bytes,
    signature_header: str | None,
    *,
    secrets: tuple[str, ...],
    settings: IngressSettings,
    publish: Publisher,
    enqueue: Enqueuer,
) -> IngressOutcome:
    """Check one webhook request and publish it unless its type is dropped: onto its queue or the bus.

    Args:
        raw_body: the body bytes exactly as VoIPBin sent them (the signature covers these bytes).
        signature_header: the X-VoIPBIN-Signature value, if any.
        secrets: the webhook secrets, current and previous (either verifies); () skips the check, which
            config.webhook_secrets allows only for an explicitly unsigned local run.
        settings: size limit, dropped and queued types, the queue and the bus.
        publish: (bus name, event type, detail JSON) -> None; raises PublishError on failure.
        enqueue: (queue URL, body) -> None; raises PublishError on failure.

    Raises:
        PayloadTooLargeError, SignatureMismatchError, MalformedWebhookError: answered with a 4xx.
        PublishError: the bus or the queue did not take it; answered with a 5xx so that VoIPBin retries.

    """
    if len(raw_body) > settings.max_body_bytes:
        raise PayloadTooLargeError(f"body is {len(raw_body)} bytes; the limit is {settings.max_body_bytes}")
    if secrets and not any(signature.verify(secret, raw_body, signature_header) for secret in secrets):
        raise SignatureMismatchError(f"missing or invalid {signature.SIGNATURE_HEADER} header")
    event_type, resource_id = _read_envelope(raw_body)
    if event_type in settings.dropped_event_types:
        return IngressOutcome(event_type, resource_id, "dropped")
    body = raw_body.decode("utf-8")  # UTF-8: checked above
    if event_type in settings.queued_event_types:
        enqueue(settings.voice_events_queue_url, body)
    else:
        publish(settings.event_bus_name, event_type, body)
    return IngressOutcome(event_type, resource_id, "published")


def _read_envelope(raw_body: bytes) -> tuple[str, str | None]:
    """The envelope's type and data.id; the functions behind the bus validate the rest of data."""
    try:
        event_type, data, _ = read_envelope(raw_body)
    except InvalidEventError as error:
        raise MalformedWebhookError(str(error)) from error
    resource_id = data.get("id")
    return event_type, resource_id if isinstance(resource_id, str) else None
