"""One web-chat message: the same AI core, channel chat, answered in the HTTP response."""

from voipbin_ai.ai.core import Conversation
from voipbin_ai.ai.tools import ToolContext
from voipbin_ai.exceptions import ConversationBusyError, ConversationEndedError, LlmError
from voipbin_ai.logic.services import Services
from voipbin_ai.models.session import ReplySoFar, chat_conversation_id
from voipbin_ai.observability import logger


def reply_to_chat(session_id: str, message: str, services: Services) -> str:
    """The agent's answer to a visitor's message.

    Raises:
        ConversationEndedError: the chat reached its turn limit earlier.
        ConversationBusyError: a newer message of the same session is being answered instead.

    """
    store = services.store
    conversation_id = chat_conversation_id(session_id)
    logger.append_keys(conversation_id=conversation_id)
    turn = store.take_turn(conversation_id, channel="chat", open_if_missing=True)
    if turn is None:
        raise ConversationEndedError("this chat has ended; start a new session")
    session = turn.session
    history = store.history(conversation_id, limit=services.agent.limits.history_messages)
    context = ToolContext(
        conversation_id=conversation_id, channel="chat", turn=turn.number, tool_uses=session.tool_uses
    )
    reply = services.engine.reply(Conversation(context=context, history=history, summary=session.summary), message)
    text = "\n\n".join(reply.pieces)
    answer = ReplySoFar(turn=turn.number, text=text, user_text=message)
    if not store.record_reply(conversation_id, answer):
        raise ConversationBusyError("a newer message of this session is being answered")
    store.keep_reply(conversation_id, answer, spoken=False)
    logger.info("Chat answered", turn=turn.number, fallback=reply.used_fallback, characters=len(text))
    if reply.ends_conversation:
        store.end_conversation(conversation_id, channel="chat")
    try:
        services.engine.refresh_summary(session, through_turn=turn.number)
    except LlmError as error:
        logger.warning("Rolling summary not refreshed", error=str(error))
    return text
