"""call_progressing: a call was answered.

For now it parses the event and logs it; starting transcribe and speaking and greeting come with the
call logic.
"""

from voipbin_ai.eventbridge import voipbin_event_handler
from voipbin_ai.models.events import CallEvent
from voipbin_ai.observability import logger, mask_phone


@voipbin_event_handler(CallEvent)
def lambda_handler(event: CallEvent) -> None:
    """Log the answered call with its id; phone numbers only masked."""
    call = event.data
    logger.append_keys(call_id=call.id)
    logger.info(
        "Call answered",
        status=call.status,
        direction=call.direction,
        caller=mask_phone(call.source.target),
        callee=mask_phone(call.destination.target),
    )
