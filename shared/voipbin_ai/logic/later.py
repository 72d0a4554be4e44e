"""A delayed action's time has come (functions/delayed_action): run it, or nothing if it has become moot.

Each kind checks that its turn is still the conversation's latest and claims what it does per turn, so a
message delivered twice (SQS delivers at least once) or after a newer turn does no harm.
"""

from voipbin_ai.logic.calls import check_silence
from voipbin_ai.logic.services import Services
from voipbin_ai.logic.summaries import summarize_idle
from voipbin_ai.logic.texts import answer_text_turn
from voipbin_ai.logic.voice import run_after_reply
from voipbin_ai.models.later import DelayedAction
from voipbin_ai.observability import logger


def run_delayed(action: DelayedAction, services: Services) -> None:
    """Run one delayed action."""
    logger.append_keys(conversation_id=action.conversation_id, turn=action.turn, delayed_kind=action.kind)
    match action.kind:
        case "answer_text":
            answer_text_turn(action.conversation_id, action.turn, services)
        case "after_reply":
            run_after_reply(action, services)
        case "silence":
            check_silence(action, services)
        case "idle_summary":
            summarize_idle(action, services)
