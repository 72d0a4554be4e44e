"""message_created (inbound): an SMS arrived. Reply with POST /messages; never answer our own texts."""

from voipbin_ai.eventbridge import voipbin_event_handler
from voipbin_ai.logic.services import Services
from voipbin_ai.logic.sms import reply_to_sms
from voipbin_ai.models.events import MessageEvent
from voipbin_ai.observability import logger, mask_phone


@voipbin_event_handler(MessageEvent)
def lambda_handler(event: MessageEvent) -> None:
    """Answer the text; the sender masked and the text never logged."""
    message = event.data
    logger.append_keys(message_id=message.id)
    logger.info("SMS received", direction=message.direction, sender=mask_phone(message.source.target))
    reply_to_sms(message, event_key=event.idempotency_key, services=Services.default())
