"""call_hangup: a call ended.

For now it parses the event and logs it; ending the session, stopping the speaking and the summary
come with the call logic.
"""

from voipbin_ai.eventbridge import voipbin_event_handler
from voipbin_ai.models.events import CallEvent
from voipbin_ai.observability import logger


@voipbin_event_handler(CallEvent)
def lambda_handler(event: CallEvent) -> None:
    """Log the ended call with its id and why it ended."""
    call = event.data
    logger.append_keys(call_id=call.id)
    logger.info("Call ended", hangup_by=call.hangup_by, hangup_reason=call.hangup_reason)
