"""transcript_created (+ transcribe_speech_started): the caller said something, or started to.

For now it parses the event and logs it; the streamed reply and barge-in come with the call logic.
"""

from voipbin_ai.eventbridge import voipbin_event_handler
from voipbin_ai.models.events import TranscribeSpeechEvent, TranscriptCreatedEvent
from voipbin_ai.observability import logger


@voipbin_event_handler(TranscriptCreatedEvent, TranscribeSpeechEvent)
def lambda_handler(event: TranscriptCreatedEvent | TranscribeSpeechEvent) -> None:
    """Log the utterance by its transcribe id (the call id is not in the event); never its words."""
    logger.append_keys(transcribe_id=event.data.transcribe_id)
    logger.info(
        "Caller speech received",
        direction=event.data.direction,
        characters=len(event.data.message),
    )
