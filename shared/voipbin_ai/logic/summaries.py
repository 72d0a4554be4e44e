"""A finished conversation's summary, delivered: on the bus for the business's own systems, and e-mailed.

A call is summarized at its hangup (calls.end_call); a text thread (SMS, LINE, WhatsApp, the web chat
widget) once it has had no message for CONVERSATION_IDLE_HOURS, when its next message would start a fresh
context. The LLM writes the four parts VoIPBin's summaries have (Engine.summary_parts); without them (the
LLM failed, or the customer said nothing) a minimal summary still goes out: ids, times and turns.

Once per conversation: the summary is claimed in the tool ledger under the turn it ends at, before the LLM
is asked, so a hangup or idle check delivered twice publishes and e-mails it once and pays the LLM once. A
delivery that dies between the claim and the publish loses that summary rather than sending it twice.

The idle check is a delayed action (idle_summary): hours away, while SQS delays a message 15 minutes at
most, so it is queued again, 15 minutes at a time, until the thread's idle time. A newer message makes it
moot at its next hop (the thread's turn moved on) and queues its own. That costs, per idle period of 24 h,
96 short invocations of delayed_action and about 300 SQS requests: well under a cent a thread. EventBridge
Scheduler's one-time schedules would fire once, but need a schedule created and replaced per message, a
role for the scheduler and PassRole, and have no local emulation here; waiting for the next message costs
nothing, but a thread whose customer never writes again would never be summarized.
"""

from datetime import UTC, datetime
from typing import Final

from voipbin_ai.exceptions import LlmError, PublishError
from voipbin_ai.later import MAX_DELAY_SECONDS
from voipbin_ai.logic.services import Services
from voipbin_ai.models.later import DelayedAction
from voipbin_ai.models.session import (
    HistoryMessage,
    Session,
    call_of_conversation,
    voipbin_conversation_of,
)
from voipbin_ai.models.summary import ConversationSummary, SummaryParts
from voipbin_ai.models.voipbin import Address
from voipbin_ai.observability import logger, mask_phone
from voipbin_ai.voipbin.client import VoipbinError

# How many history messages a summary reads.
SUMMARY_MESSAGES: Final = 100
# The claim in the tool ledger that makes a conversation's summary go out once.
_CLAIM: Final = "summary"
# The customer's number as the business sees it: its last four digits.
_VISIBLE: Final = 4
_MAX_CALL_TYPE_IN_SUBJECT: Final = 80


def summarizes(session: Session, services: Services) -> bool:
    """Whether the agent's summaries cover this conversation's channel."""
    return session.channel in services.agent.summary.channels


def claim_summary(conversation_id: str, turn: int, services: Services) -> bool:
    """Claim the summary of a conversation ending at this turn; False when an earlier delivery did."""
    if services.store.begin_tool_call(conversation_id, turn, _CLAIM) is not None:
        logger.info("Summary already delivered by an earlier delivery", turn=turn)
        return False
    return True


def summary_parts(history: list[HistoryMessage], session: Session, services: Services) -> SummaryParts | None:
    """The LLM's summary of the messages; None when the customer said nothing or the LLM failed."""
    if not any(message.role == "user" for message in history):
        logger.info("Nothing to summarize: the customer said nothing", turns=session.turn)
        return None
    try:
        return services.engine.summary_parts(history, previous=session.summary)
    except LlmError as error:
        logger.warning("No summary from the LLM: a minimal one goes out", error=str(error))
        return None


def deliver_summary(
    session: Session,
    parts: SummaryParts | None,
    services: Services,
    *,
    turn: int,
    started_at: datetime | None,
    ended_at: datetime | None,
) -> ConversationSummary:
    """Publish the summary (claimed at `turn`) and e-mail it when an address is set; failures are logged."""
    summary = ConversationSummary(
        conversation_id=session.conversation_id,
        channel=session.channel,
        voipbin_id=_voipbin_id(session),
        our_address=session.our_address,
        customer=mask_phone(session.their_address, visible=_VISIBLE),
        started_at=started_at,
        ended_at=ended_at,
        turns=turn - session.context_turn,
        **(parts.model_dump() if parts is not None else {}),
    )
    try:
        services.events.publish(summary.detail_type, summary.model_dump_json())
        logger.info("Summary published", detail_type=summary.detail_type, from_llm=parts is not None)
    except PublishError as error:
        logger.error("Summary not published", error=str(error))
    address = services.agent.summary.email_to
    if address:
        try:
            email = services.voipbin.send_email([Address.email(address)], _subject(summary), _body(summary))
            logger.info("Summary e-mailed", email_id=email.id)
        except VoipbinError as error:
            logger.error("Summary not e-mailed", error=type(error).__name__)
    services.store.finish_tool_call(session.conversation_id, turn, _CLAIM, summary.detail_type)
    return summary


def expect_idle(conversation_id: str, turn: int, services: Services) -> None:
    """Queue the thread's idle check after an answered turn, if its channel is summarized."""
    idle_seconds = services.settings.conversation_idle_hours * 3600
    due_at_ms = round((services.clock() + idle_seconds) * 1000)
    action = DelayedAction(kind="idle_summary", conversation_id=conversation_id, turn=turn, due_at_ms=due_at_ms)
    try:
        services.later.schedule(action, after_seconds=min(idle_seconds, MAX_DELAY_SECONDS))
    except PublishError as error:  # the thread goes on; only its summary is lost
        logger.error("Idle check not queued", error=str(error))


def summarize_idle(action: DelayedAction, services: Services) -> None:
    """An idle check came due: queue it again until the thread's idle time, then deliver its summary.

    The summary is the agent's of the thread's number (the one its answers came from), found again when due.
    """
    store = services.store
    session = store.get_session(action.conversation_id)
    if session is None or session.turn != action.turn:
        logger.info("Idle check is moot: a newer message came")
        return
    wait = action.due_at_ms / 1000 - services.clock()
    if wait > 0:
        services.later.schedule(action, after_seconds=min(wait, MAX_DELAY_SECONDS))
        return
    served = services.serving_session(session)
    if served is None:
        logger.info("No agent serves this conversation any more; no summary")
        return
    services = served
    if not summarizes(session, services) or not claim_summary(session.conversation_id, action.turn, services):
        return
    history = store.history(session.conversation_id, limit=SUMMARY_MESSAGES)
    written = [message.sent_at_ms for message in history if message.sent_at_ms is not None]
    deliver_summary(
        session,
        summary_parts(history, session, services),
        services,
        turn=action.turn,
        started_at=_moment(min(written)) if written else session.created_at,
        ended_at=_moment(max(written)) if written else None,
    )


def _voipbin_id(session: Session) -> str | None:
    match session.channel:
        case "voice":
            return call_of_conversation(session.conversation_id)
        case "line" | "whatsapp" | "webchat":
            return voipbin_conversation_of(session.conversation_id)
    return None


def _moment(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def _subject(summary: ConversationSummary) -> str:
    kind = "Call" if summary.channel == "voice" else f"{summary.channel.upper()} conversation"
    about = summary.call_type[:_MAX_CALL_TYPE_IN_SUBJECT] or "no summary"
    return f"{kind} summary, {summary.customer or 'unknown'}: {about}".replace("\n", " ")


def _body(summary: ConversationSummary) -> str:
    """The summary as plain text, the four parts as lists."""
    lines = [
        f"{'Call' if summary.channel == 'voice' else summary.channel} with {summary.customer or 'unknown'}"
        f" on {summary.our_address}, {summary.turns} turn(s)",
        f"From {summary.started_at or '?'} to {summary.ended_at or '?'} ({summary.conversation_id})",
        "",
        f"Type: {summary.call_type or '-'}",
        summary.summary or "(The assistant could not summarize this conversation.)",
    ]
    for title, items in (
        ("Key points", summary.key_points),
        ("Decisions", summary.decisions),
        ("Action items", summary.action_items),
    ):
        lines += ["", f"{title}:", *(f"- {item}" for item in items or ("none",))]
    return "\n".join(lines)
