"""One inbound SMS: which texts are a customer's, answered in their thread (logic/texts.py) from our number.

Only inbound messages are answered, by the agent of our number they were sent to (the agent of that
number's calls too): our own replies come back as message_created too (direction outbound) and must never
be answered, nor a text from one of our own numbers (the agent configuration's numbers; a text to itself is
recognized also without them). The SMS's conversation copy (conversation_message_created, reference_type
message) is the same text again: no rule routes it.
"""

from voipbin_ai.logic.services import Services
from voipbin_ai.logic.texts import TextThread, receive_text
from voipbin_ai.models.voipbin import MESSAGE_DIRECTION_INBOUND, Message
from voipbin_ai.observability import logger, mask_phone


def reply_to_sms(message: Message, *, event_key: str, services: Services) -> None:
    """Answer one inbound text, unless a newer one of the same thread takes over."""
    theirs = message.source.target
    ours = message.targets[0].destination.target if message.targets else ""
    if message.direction != MESSAGE_DIRECTION_INBOUND or not theirs or not ours:
        logger.info("Not an inbound SMS; not answered", direction=message.direction)
        return
    served = services.serving("sms", ours)
    if served is None or theirs == ours or services.agents.is_ours(theirs):
        logger.info("SMS not served here", to=mask_phone(ours), sender=mask_phone(theirs))
        return
    services = served
    thread = TextThread(services.phone_ids.sms_conversation(ours, theirs), "sms", ours=ours, theirs=theirs)
    receive_text(thread, message.text, written_at=message.tm_create, event_key=event_key, services=services)
