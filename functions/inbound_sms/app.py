"""message_created (inbound): an SMS arrived.

For now it parses the event and logs it; the reply comes with the SMS logic.
"""

from voipbin_ai.eventbridge import voipbin_event_handler
from voipbin_ai.models.events import MessageEvent
from voipbin_ai.observability import logger, mask_phone


@voipbin_event_handler(MessageEvent)
def lambda_handler(event: MessageEvent) -> None:
    """Log the SMS by its id; the sender masked, the text never."""
    message = event.data
    logger.append_keys(message_id=message.id)
    logger.info(
        "SMS received",
        direction=message.direction,
        sender=mask_phone(message.source.target),
        characters=len(message.text),
    )
