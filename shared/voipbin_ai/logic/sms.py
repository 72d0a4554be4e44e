"""One inbound SMS: the AI core's reply, sent with POST /messages from the number that received it.

Only inbound messages are answered: our own replies come back as message_created too (direction
outbound) and must never be answered, nor a text from one of our own numbers (ANSWER_NUMBERS lists
them; without it only a text to itself is recognized). A burst of texts is answered once: each text is
recorded as it arrives and queues its answer for SMS_BURST_SECONDS later (later.py: no function sleeps);
then only the latest turn goes on to the LLM, with the burst's texts in the order they were written
(VoIPBin's tm_create, not the order they were processed in). The reply is sent only if its turn is still
the latest when it is recorded, and the send is claimed like a tool call, so a redelivery never texts twice.
"""

from typing import Final

from voipbin_ai.ai.core import Conversation
from voipbin_ai.ai.tools import ToolContext
from voipbin_ai.exceptions import LlmError
from voipbin_ai.logic.services import Services
from voipbin_ai.models.later import DelayedAction
from voipbin_ai.models.session import HistoryMessage, ReplySoFar, epoch_ms
from voipbin_ai.models.voipbin import MESSAGE_DIRECTION_INBOUND, Address, Message
from voipbin_ai.observability import Metric, emit_metric, logger, mask_phone

# The claim that makes the reply's send happen once per turn.
_SEND_KEY: Final = "sms_reply"


def reply_to_sms(message: Message, *, event_key: str, services: Services) -> None:
    """Answer one inbound text, unless a newer one of the same thread takes over."""
    theirs = message.source.target
    ours = message.targets[0].destination.target if message.targets else ""
    settings, store = services.settings, services.store
    if message.direction != MESSAGE_DIRECTION_INBOUND or not theirs or not ours:
        logger.info("Not an inbound SMS; not answered", direction=message.direction)
        return
    if not settings.answers(ours) or theirs == ours or theirs in settings.answer_numbers:
        logger.info("SMS not served here", to=mask_phone(ours), sender=mask_phone(theirs))
        return
    conversation_id = services.phone_ids.sms_conversation(ours, theirs)
    logger.append_keys(conversation_id=conversation_id)
    turn = store.take_turn(
        conversation_id,
        channel="sms",
        open_if_missing=True,
        our_address=ours,
        their_address=theirs,
        event_key=event_key,
    )
    if turn is None:
        logger.info("SMS conversation has ended; not answered")
        return
    logger.append_keys(turn=turn.number)
    store.record_user_message(conversation_id, turn.number, message.text, sent_at_ms=epoch_ms(message.tm_create))
    if settings.sms_burst_seconds:
        action = DelayedAction(kind="answer_sms", conversation_id=conversation_id, turn=turn.number)
        services.later.schedule(action, after_seconds=settings.sms_burst_seconds)
        logger.info("SMS answer queued for after the burst window", after_seconds=settings.sms_burst_seconds)
        return
    answer_sms_turn(conversation_id, turn.number, services)


def answer_sms_turn(conversation_id: str, turn: int, services: Services) -> None:
    """Answer a thread's turn with the texts received so far, unless a newer text took the thread's turn."""
    store, settings = services.store, services.settings
    session = store.get_session(conversation_id)
    if session is None or not session.active or session.turn != turn:
        logger.info("A newer SMS takes over")
        return
    ours, theirs = session.our_address, session.their_address
    # The burst's texts in the order they were written: the last of them is the one the reply answers.
    *history, newest = store.history(conversation_id, limit=services.agent.limits.history_messages)
    asked = newest.text
    memory = store.contact_memory(services.phone_ids.contact(theirs)) if settings.cross_channel_memory else ""
    context = ToolContext(
        conversation_id=conversation_id,
        channel="sms",
        turn=turn,
        our_address=ours,
        their_address=theirs,
    )
    conversation = Conversation(context=context, history=history, summary=session.summary, memory=memory)
    reply = services.engine.reply(conversation, asked)
    text = "\n".join(reply.pieces)
    answer = ReplySoFar(turn=turn, text=text)
    if not store.record_reply(conversation_id, answer):
        logger.info("A newer SMS took over while replying")
        return
    store.keep_reply(conversation_id, answer, spoken=False)
    if store.begin_tool_call(conversation_id, turn, _SEND_KEY) is not None:
        logger.info("Reply already sent by an earlier delivery")
        return
    sent = services.voipbin.send_message(Address.tel(ours), [Address.tel(theirs)], text)
    store.finish_tool_call(conversation_id, turn, _SEND_KEY, sent.id)
    logger.info("SMS answered", reply_id=sent.id, fallback=reply.used_fallback, characters=len(text))
    emit_metric(Metric.SMS_REPLIES)
    if reply.ends_conversation:
        store.end_conversation(conversation_id, channel="sms")
    _remember(history, asked, text, session_summary=session.summary, theirs=theirs, services=services)
    try:
        services.engine.refresh_summary(session, through_turn=turn)
    except LlmError as error:
        logger.warning("Rolling summary not refreshed", error=str(error))


def _remember(
    history: list[HistoryMessage], asked: str, answered: str, *, session_summary: str, theirs: str, services: Services
) -> None:
    """Keep what this thread is about as the contact's memory, for a later call."""
    if not services.settings.cross_channel_memory:
        return
    turn = history[-1].turn + 1 if history else 1
    exchange = [
        *history,
        HistoryMessage(turn=turn, role="user", text=asked),
        HistoryMessage(turn=turn, role="assistant", text=answered),
    ]
    try:
        summary = services.engine.summarize(exchange, previous=session_summary)
    except LlmError as error:
        logger.warning("Contact memory not updated", error=str(error))
        return
    services.store.remember_contact(services.phone_ids.contact(theirs), summary)
