"""One message of a VoIPBin conversation: LINE, WhatsApp or VoIPBin's web chat widget, answered like a text.

VoIPBin sends conversation_message_created for every message of a conversation, ours included: only an
incoming one on a channel the agent has rules for is answered (our replies come back as outgoing), and an
SMS's copy (reference_type message) never, since its message_created is answered instead (logic/sms.py).
The reply goes back through POST /conversations/{id}/messages, in the channel's own rules. The agent is
the one of our number for WhatsApp (its business number, the destination), the same as that number's calls
and texts; LINE and the web chat widget name no number of ours and get the default agent (Agents).
"""

from typing import cast

from voipbin_ai.logic.services import Services
from voipbin_ai.logic.texts import TextThread, receive_text
from voipbin_ai.models.session import ConversationChannel, voipbin_conversation_id
from voipbin_ai.models.voipbin import (
    CONVERSATION_MESSAGE_DIRECTION_INCOMING,
    CONVERSATION_REFERENCE_TYPES_ANSWERED,
    ConversationMessage,
)
from voipbin_ai.observability import logger


def reply_to_conversation_message(message: ConversationMessage, *, event_key: str, services: Services) -> None:
    """Answer one incoming message of a conversation, unless a newer one of the same conversation takes over."""
    conversation_id = voipbin_conversation_id(message.conversation_id)
    logger.append_keys(conversation_id=conversation_id)
    if message.direction != CONVERSATION_MESSAGE_DIRECTION_INCOMING or not message.text.strip():
        logger.info("Not an incoming text; not answered", direction=message.direction)
        return
    if message.reference_type not in CONVERSATION_REFERENCE_TYPES_ANSWERED:
        logger.info("Not a channel answered here", reference_type=message.reference_type)
        return
    channel = cast(ConversationChannel, message.reference_type)
    # Incoming: the source is the customer, the destination our account (CONTRACT §2.8).
    ours = message.destination.target
    served = services.serving(channel, ours)
    if served is None or not served.agent.channels.serves(channel):
        logger.info("No agent has rules for this channel here; not answered", reference_type=channel)
        return
    services = served
    thread = TextThread(conversation_id, channel, ours=ours, theirs=message.source.target)
    receive_text(thread, message.text, written_at=message.tm_create, event_key=event_key, services=services)
