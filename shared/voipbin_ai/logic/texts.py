"""Text threads, written once: an SMS thread or a VoIPBin conversation (LINE, WhatsApp, its web chat widget).

Each message is recorded as it arrives and queues its answer for SMS_BURST_SECONDS later (later.py: no
function sleeps); then only the latest turn goes on to the LLM, with the burst's messages in the order they
were written (VoIPBin's tm_create, not the order they were processed in). The reply is sent only if its
turn is still the latest when it is recorded, and the send is claimed like a tool call, so a redelivery
never sends twice. A thread with no message for CONVERSATION_IDLE_HOURS starts a fresh context, as VoIPBin's
managed AI does: no history, summary or turn count from before; each answer queues the check that delivers
the thread's summary once it has gone that long idle (logic/summaries.py). logic/sms.py and logic/conversations.py
decide which messages are a customer's and which agent's; this module answers them, each turn with the
agent of the number the session keeps.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from voipbin_ai.ai.core import Conversation
from voipbin_ai.ai.tools import ToolContext
from voipbin_ai.exceptions import LlmError
from voipbin_ai.logic.services import Services
from voipbin_ai.logic.summaries import expect_idle, summarizes
from voipbin_ai.models.later import DelayedAction
from voipbin_ai.models.session import (
    HistoryMessage,
    ReplySoFar,
    Session,
    TextChannel,
    epoch_ms,
    voipbin_conversation_of,
)
from voipbin_ai.models.voipbin import Address
from voipbin_ai.observability import Metric, emit_metric, logger

# The claim that makes the reply's send happen once per turn.
_SEND_KEY: Final = "text_reply"


@dataclass(frozen=True)
class TextThread:
    """Where a customer's message belongs: our conversation, its channel, and both ends' addresses.

    The addresses (phone numbers, a LINE or WhatsApp user) are kept in the session and never logged.
    """

    conversation_id: str
    channel: TextChannel
    ours: str
    theirs: str


def receive_text(
    thread: TextThread, text: str, *, written_at: datetime | None, event_key: str, services: Services
) -> None:
    """Record a customer's message and answer it after the burst window, unless a newer one takes over."""
    store, settings = services.store, services.settings
    logger.append_keys(conversation_id=thread.conversation_id, channel=thread.channel)
    turn = store.take_turn(
        thread.conversation_id,
        channel=thread.channel,
        open_if_missing=True,
        our_address=thread.ours,
        their_address=thread.theirs,
        event_key=event_key,
        fresh_after_seconds=round(settings.conversation_idle_hours * 3600),
    )
    if turn is None:
        logger.info("Conversation has ended; not answered")
        return
    logger.append_keys(turn=turn.number)
    if turn.session.context_turn == turn.number - 1 and turn.number > 1:
        logger.info("Idle conversation starts a fresh context", idle_hours=settings.conversation_idle_hours)
    store.record_user_message(thread.conversation_id, turn.number, text, sent_at_ms=epoch_ms(written_at))
    if settings.sms_burst_seconds:
        action = DelayedAction(kind="answer_text", conversation_id=thread.conversation_id, turn=turn.number)
        services.later.schedule(action, after_seconds=settings.sms_burst_seconds)
        logger.info("Answer queued for after the burst window", after_seconds=settings.sms_burst_seconds)
        return
    answer_text_turn(thread.conversation_id, turn.number, services)


def answer_text_turn(conversation_id: str, turn: int, services: Services) -> None:
    """Answer a thread's turn with the messages received so far, unless a newer message took the thread's turn."""
    store, settings = services.store, services.settings
    logger.append_keys(conversation_id=conversation_id)
    session = store.get_session(conversation_id)
    if session is None or not session.active or session.turn != turn:
        logger.info("A newer message takes over")
        return
    served = services.serving_session(session)
    if served is None:
        logger.info("No agent serves this conversation any more; not answered")
        return
    services, channel = served, _text_channel(session)
    # The burst's messages in the order they were written: the last of them is the one the reply answers.
    *history, newest = store.history(conversation_id, limit=services.agent.limits.history_messages)
    asked = newest.text
    contact = services.phone_ids.contact(_contact_address(session)) if settings.cross_channel_memory else ""
    memory = store.contact_memory(contact) if contact else ""
    context = ToolContext(
        conversation_id=conversation_id,
        channel=channel,
        turn=turn,
        our_address=session.our_address,
        their_address=session.their_address,
    )
    conversation = Conversation(
        context=context, history=history, summary=session.summary, memory=memory, context_turn=session.context_turn
    )
    reply = services.engine.reply(conversation, asked)
    text = "\n".join(reply.pieces)
    answer = ReplySoFar(turn=turn, text=text)
    if not store.record_reply(conversation_id, answer):
        logger.info("A newer message took over while replying")
        return
    store.keep_reply(conversation_id, answer, spoken=False)
    if store.begin_tool_call(conversation_id, turn, _SEND_KEY) is not None:
        logger.info("Reply already sent by an earlier delivery")
        return
    sent_id = _send(session, text, services)
    store.finish_tool_call(conversation_id, turn, _SEND_KEY, sent_id)
    logger.info("Message answered", reply_id=sent_id, fallback=reply.used_fallback, characters=len(text))
    emit_metric(Metric.SMS_REPLIES if channel == "sms" else Metric.CONVERSATION_REPLIES)
    if reply.ends_conversation:
        store.end_conversation(conversation_id, channel=channel)
    if summarizes(session, services):
        expect_idle(conversation_id, turn, services)
    if contact:
        _remember(history, asked, text, session=session, contact=contact, services=services)
    try:
        services.engine.refresh_summary(session, through_turn=turn)
    except LlmError as error:
        logger.warning("Rolling summary not refreshed", error=str(error))


def _text_channel(session: Session) -> TextChannel:
    match session.channel:
        case "sms" | "line" | "whatsapp" | "webchat":
            return session.channel
    raise ValueError(f"{session.conversation_id} is not a text thread")


def _send(session: Session, text: str, services: Services) -> str:
    """Send the reply through the thread's channel: the id VoIPBin gave the message."""
    if session.channel == "sms":
        ours, theirs = Address.tel(session.our_address), Address.tel(session.their_address)
        return services.voipbin.send_message(ours, [theirs], text).id
    return services.voipbin.send_conversation_message(voipbin_conversation_of(session.conversation_id), text).id


def _contact_address(session: Session) -> str:
    """Who the thread is with, as cross-channel memory knows them: a WhatsApp user by their phone number."""
    theirs = session.their_address
    if session.channel == "sms":
        return theirs
    if session.channel == "whatsapp" and theirs.isdigit():
        return f"+{theirs}"  # WhatsApp's ids are numbers without the plus: one memory with their calls and texts
    return f"{session.channel}:{theirs}"


def _remember(
    history: list[HistoryMessage], asked: str, answered: str, *, session: Session, contact: str, services: Services
) -> None:
    """Keep what this thread is about as the contact's memory, for a later call or message."""
    turn = history[-1].turn + 1 if history else 1
    exchange = [
        *history,
        HistoryMessage(turn=turn, role="user", text=asked),
        HistoryMessage(turn=turn, role="assistant", text=answered),
    ]
    try:
        summary = services.engine.summarize(exchange, previous=session.summary)
    except LlmError as error:
        logger.warning("Contact memory not updated", error=str(error))
        return
    services.store.remember_contact(contact, summary)
