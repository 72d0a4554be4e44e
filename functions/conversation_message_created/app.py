"""conversation_message_created (incoming): a LINE, WhatsApp or web chat widget message. Reply in its conversation."""

from voipbin_ai.eventbridge import voipbin_event_handler
from voipbin_ai.logic.conversations import reply_to_conversation_message
from voipbin_ai.logic.services import Services
from voipbin_ai.models.events import ConversationMessageEvent
from voipbin_ai.models.session import voipbin_conversation_id
from voipbin_ai.observability import logger


@voipbin_event_handler(ConversationMessageEvent)
def lambda_handler(event: ConversationMessageEvent) -> None:
    """Answer the message; neither the sender nor the text is logged."""
    message = event.data
    logger.append_keys(message_id=message.id, conversation_id=voipbin_conversation_id(message.conversation_id))
    logger.info("Conversation message received", direction=message.direction, reference_type=message.reference_type)
    reply_to_conversation_message(message, event_key=event.idempotency_key, services=Services.default())
