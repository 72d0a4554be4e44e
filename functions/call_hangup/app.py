"""call_hangup: a call ended. End its session, stop its speaking, keep its summary."""

from voipbin_ai.eventbridge import voipbin_event_handler
from voipbin_ai.logic.calls import end_call
from voipbin_ai.logic.services import Services
from voipbin_ai.models.events import CallEvent
from voipbin_ai.observability import logger


@voipbin_event_handler(CallEvent)
def lambda_handler(event: CallEvent) -> None:
    """End the call's conversation."""
    call = event.data
    logger.append_keys(call_id=call.id)
    logger.info("Call ended", hangup_by=call.hangup_by, hangup_reason=call.hangup_reason)
    end_call(call, Services.default())
