"""call_progressing: a call was answered. Start transcribe and speaking, greet the caller.

Then warm up the function that will answer the caller's first words.
"""

from voipbin_ai.bus import request_warm_up
from voipbin_ai.config import bus_settings
from voipbin_ai.eventbridge import voipbin_event_handler
from voipbin_ai.logic.calls import answer_call
from voipbin_ai.logic.services import Services
from voipbin_ai.models.events import CallEvent
from voipbin_ai.models.session import call_conversation_id
from voipbin_ai.observability import Metric, emit_metric, logger, mask_phone


@voipbin_event_handler(CallEvent)
def lambda_handler(event: CallEvent) -> None:
    """Answer the call; phone numbers only masked in the logs."""
    call = event.data
    logger.append_keys(call_id=call.id)
    logger.info("Call answered", direction=call.direction, caller=mask_phone(call.source.target))
    if answer_call(call, Services.default()):
        emit_metric(Metric.CALLS_ANSWERED)
        request_warm_up(bus_settings().event_bus_name, call_conversation_id(call.id))
