"""One web-chat message: the same AI core, channel chat, answered in the HTTP response.

/chat is on the internet, so a message passes a gate before the LLM sees it: its session was issued here
(a random id signed with the chat session key, handed out on the first message), the session and the
sender's address are within their per-minute limits, and the chat channel has LLM tokens left today.
Limits are counters in the table, so they hold across every container.
"""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

from voipbin_ai.ai.core import Conversation
from voipbin_ai.ai.tools import ToolContext
from voipbin_ai.config import ChatSettings
from voipbin_ai.exceptions import (
    ChatBudgetSpentError,
    ChatNotServedError,
    ChatRateLimitedError,
    ConversationBusyError,
    ConversationEndedError,
    InvalidChatSessionError,
    LlmError,
)
from voipbin_ai.logic.services import Services
from voipbin_ai.models.session import ReplySoFar, chat_conversation_id
from voipbin_ai.observability import Metric, emit_metric, logger

_MINUTE: Final = 60
_DAY: Final = 24 * 3600
_BUDGET_COUNTER: Final = "chat-tokens"


@dataclass(frozen=True)
class ChatGate:
    """What a message must pass before the LLM: the key sessions are signed with, and the limits."""

    key: bytes
    settings: ChatSettings


@dataclass(frozen=True)
class ChatAnswer:
    """The agent's answer, and the session to send with the next message."""

    text: str
    session_id: str


def issue_session(key: bytes) -> str:
    """A new session: a random id and its signature, so that only ids issued here are accepted."""
    session = secrets.token_urlsafe(16)
    return f"{session}.{_signature(key, session)}"


def verified_session(key: bytes, session_id: str) -> str:
    """The random id of a session issued here.

    Raises:
        InvalidChatSessionError: the id was not issued with this key (made up, altered, or an old key's).

    """
    session, _, signature = session_id.partition(".")
    if not session or not hmac.compare_digest(signature, _signature(key, session)):
        raise InvalidChatSessionError("unknown session; send the first message without session_id for a new one")
    return session


def _signature(key: bytes, session: str) -> str:
    digest = hmac.new(key, b"chat-session:" + session.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def reply_to_chat(
    session_id: str | None, message: str, *, source_address: str, gate: ChatGate, services: Services
) -> ChatAnswer:
    """The agent's answer to a visitor's message, in a new session when session_id is None.

    Raises:
        ChatNotServedError: no agent answers the web chat.
        InvalidChatSessionError: session_id was not issued here.
        ChatRateLimitedError: the session or the sender's address sent too many messages this minute.
        ChatBudgetSpentError: the chat's LLM tokens for today are spent.
        ConversationEndedError: the chat reached its turn limit earlier.
        ConversationBusyError: a newer message of the same session is being answered instead.

    """
    served = services.serving("chat")
    if served is None:
        raise ChatNotServedError("there is no chat here")
    services = served
    session_id = session_id or issue_session(gate.key)
    conversation_id = chat_conversation_id(verified_session(gate.key, session_id))
    logger.append_keys(conversation_id=conversation_id)
    spent_before = _admit(conversation_id, source_address, gate, services)
    store = services.store
    turn = store.take_turn(conversation_id, channel="chat", open_if_missing=True)
    if turn is None:
        raise ConversationEndedError("this chat has ended; start a new session")
    session = turn.session
    history = store.history(conversation_id, limit=services.agent.limits.history_messages)
    context = ToolContext(conversation_id=conversation_id, channel="chat", turn=turn.number)
    reply = services.engine.reply(Conversation(context=context, history=history, summary=session.summary), message)
    text = "\n\n".join(reply.pieces)
    store.add_usage(_BUDGET_COUNTER, reply.tokens, window_seconds=_DAY)
    # What ChatBudgetAlarm watches: today's share spent, as of this answer (a zero budget admits none).
    budget = gate.settings.daily_token_budget
    emit_metric(Metric.CHAT_BUDGET_USED_PERCENT, round(100 * (spent_before + reply.tokens) / budget, 1))
    answer = ReplySoFar(turn=turn.number, text=text, user_text=message)
    if not store.record_reply(conversation_id, answer):
        raise ConversationBusyError("a newer message of this session is being answered")
    store.keep_reply(conversation_id, answer, spoken=False)
    logger.info("Chat answered", turn=turn.number, fallback=reply.used_fallback, characters=len(text))
    emit_metric(Metric.CHAT_REPLIES)
    if reply.ends_conversation:
        store.end_conversation(conversation_id, channel="chat")
    try:
        services.engine.refresh_summary(session, through_turn=turn.number)
    except LlmError as error:
        logger.warning("Rolling summary not refreshed", error=str(error))
    return ChatAnswer(text=text, session_id=session_id)


def _admit(conversation_id: str, source_address: str, gate: ChatGate, services: Services) -> int:
    """Count the message against its session's and its address's limits, and check today's budget.

    Returns the tokens the chat spent today before this message.
    """
    store, settings = services.store, gate.settings
    if not store.count_use(conversation_id, window_seconds=_MINUTE, limit=settings.session_messages_per_minute):
        raise ChatRateLimitedError("too many messages in this session; wait a minute")
    # The address is personal data: the counter's name holds a keyed digest of it, never the address.
    address = "chat-address:" + hmac.new(gate.key, source_address.encode(), hashlib.sha256).hexdigest()[:32]
    if not store.count_use(address, window_seconds=_MINUTE, limit=settings.address_messages_per_minute):
        raise ChatRateLimitedError("too many messages from this address; wait a minute")
    spent = store.usage(_BUDGET_COUNTER, window_seconds=_DAY)
    if spent >= settings.daily_token_budget:
        logger.warning("Chat budget spent", budget=settings.daily_token_budget)
        raise ChatBudgetSpentError("the chat is not available for the rest of the day")
    return spent
