"""transcript_created (+ transcribe_speech_started): the caller said something, or started to.

A final transcript takes a turn and is answered sentence by sentence, and claims its event itself, beside
taking the turn (logic/voice.py); speech starting cuts what is playing at once (early barge-in) without
taking a turn. Both come from the voice events queue (template.yaml: VoiceEventsQueue), one record an
invocation; the warm-up comes from the bus.
"""

import time

from voipbin_ai.eventbridge import voipbin_event_handler
from voipbin_ai.logic.calls import barge_in
from voipbin_ai.logic.services import Services
from voipbin_ai.logic.voice import reply_to_transcript
from voipbin_ai.models.events import TranscribeSpeechEvent, TranscriptCreatedEvent
from voipbin_ai.observability import logger


@voipbin_event_handler(
    TranscriptCreatedEvent, TranscribeSpeechEvent, claimed_by_process=(TranscriptCreatedEvent,), queued=True
)
def lambda_handler(event: TranscriptCreatedEvent | TranscribeSpeechEvent) -> None:
    """Route by type; the words themselves are never logged."""
    started_at = time.monotonic()
    logger.append_keys(transcribe_id=event.data.transcribe_id)
    if isinstance(event, TranscribeSpeechEvent):
        if event.type == "transcribe_speech_started":
            barge_in(event.data, Services.default())
        return
    logger.info("Caller speech received", direction=event.data.direction, characters=len(event.data.message))
    reply_to_transcript(event.data, event_key=event.idempotency_key, started_at=started_at, services=Services.default())
