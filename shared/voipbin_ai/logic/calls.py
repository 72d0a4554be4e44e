"""Phone calls around their turns: answering, barge-in, hanging up, and which call a transcript is of.

Answering (call_progressing) opens the conversation, starts the transcribe and the speaking, and greets.
VoIPBin's races are part of the contract: a second speaking on a call answers 500 (the live one is found
instead), a second transcribe 409 (the transcript mapping then comes from the fallback below). A speaking
whose TTS pod is lost stays active in VoIPBin and blocks a new one until it is deleted (CONTRACT §11):
replace_speaking does both, for a turn whose /say or /flush found it gone.

Transcripts carry a transcribe id, not the call id (CONTRACT.md §6). call_progressing stores the mapping
once POST /transcribes returns, but VoIPBin starts streaming before that, so a transcript can arrive first.
The fallback asks VoIPBin (GET /transcribes/{id} -> reference_id) and stores what it learns. A warm
container remembers its mappings, so a turn reads DynamoDB only once.
"""

from typing import Final

from voipbin_ai.container import forget_on_reset
from voipbin_ai.exceptions import LlmError
from voipbin_ai.logic.services import Services
from voipbin_ai.models.session import ReplySoFar, call_conversation_id, call_of_conversation
from voipbin_ai.models.voipbin import (
    CALL_DIRECTION_INCOMING,
    REFERENCE_TYPE_CALL,
    SPEAKING_STATUS_ACTIVE,
    Call,
    Speaking,
    SpeechEvent,
)
from voipbin_ai.observability import logger, mask_phone
from voipbin_ai.store.base import ConversationStore
from voipbin_ai.voipbin.api import VoipbinApi
from voipbin_ai.voipbin.client import (
    SPEAKING_GONE,
    VoipbinConflict,
    VoipbinError,
    VoipbinNotFound,
    VoipbinServerError,
)

# How many history messages a call's summary reads.
_SUMMARY_MESSAGES: Final = 100
# A warm container serves many calls over hours: it remembers the most recent ones, oldest forgotten first.
_KNOWN_MAX: Final = 4096
# transcribe id -> call conversation id; a transcribe never moves to another call.
_known: dict[str, str] = {}
forget_on_reset(_known.clear)


def call_conversation_of(transcribe_id: str, *, store: ConversationStore, voipbin: VoipbinApi) -> str | None:
    """The conversation id of the call a transcribe belongs to; None when it is not a call's transcribe."""
    if transcribe_id in _known:
        return _known[transcribe_id]
    conversation_id = store.conversation_of_transcribe(transcribe_id)
    if conversation_id is None:
        conversation_id = _ask_voipbin(transcribe_id, store=store, voipbin=voipbin)
    if conversation_id is not None:
        if len(_known) >= _KNOWN_MAX:
            del _known[next(iter(_known))]
        _known[transcribe_id] = conversation_id
    return conversation_id


def _ask_voipbin(transcribe_id: str, *, store: ConversationStore, voipbin: VoipbinApi) -> str | None:
    try:
        transcribe = voipbin.get_transcribe(transcribe_id)
    except VoipbinNotFound:
        logger.warning("Transcribe unknown to VoIPBin", transcribe_id=transcribe_id)
        return None
    if transcribe.reference_type != REFERENCE_TYPE_CALL or transcribe.reference_id is None:
        logger.info("Transcribe is not a call's", transcribe_id=transcribe_id, reference_type=transcribe.reference_type)
        return None
    conversation_id = call_conversation_id(transcribe.reference_id)
    store.map_transcribe(transcribe_id, conversation_id)
    logger.info("Transcribe mapped through VoIPBin", transcribe_id=transcribe_id, conversation_id=conversation_id)
    return conversation_id


def answer_call(call: Call, services: Services) -> bool:
    """A call was answered: open its conversation, start listening and speaking, and greet the caller.

    True when this delivery answered it (not a call for another number, a duplicate or one already over).
    """
    caller, ours = call.source.target, call.destination.target
    if call.direction != CALL_DIRECTION_INCOMING or not services.settings.answers(ours):
        logger.info("Call not served here", direction=call.direction, callee=mask_phone(ours))
        return False
    store, voipbin, conversation_id = services.store, services.voipbin, call_conversation_id(call.id)
    memory = ""
    if services.settings.cross_channel_memory and caller:
        memory = store.contact_memory(services.phone_ids.contact(caller))
    if not store.start_call(conversation_id, caller=caller, callee=ours, memory=memory):
        session = store.get_session(conversation_id)
        if session is None or not session.active or session.speaking_id:
            logger.info("Call already answered or ended", active=bool(session and session.active))
            return False
    speaking = live_speaking(call.id, services)
    transcribe_id = _start_transcribe(call.id, services)
    if not store.attach_call_media(conversation_id, transcribe_id=transcribe_id, speaking_id=speaking.id):
        logger.info("Call ended while it was being answered")
        _stop_speaking(voipbin, speaking.id)
        return False
    greeting = services.agent.greeting
    until = services.playback.until_ms(0, greeting)
    reply = ReplySoFar(turn=0, text=greeting)
    if store.record_reply(conversation_id, reply, speaking_until_ms=until):
        voipbin.say(speaking.id, greeting)
        store.keep_reply(conversation_id, reply, spoken=True)
        logger.info("Caller greeted", speaking_id=speaking.id, transcribe_id=transcribe_id or None)
    return True


def live_speaking(call_id: str, services: Services, *, stale: str = "") -> Speaking:
    """A speaking session on the call: a new one, or the live one VoIPBin has (never the stale one).

    A failed create is reconciled through the list before it is tried again, once: a 500 means the call
    has a live one already, and a 503 REQUEST_TIMEOUT or a lost answer may have created it all the same.
    """
    tried_again = False
    while True:
        try:
            return _new_speaking(call_id, services)
        except VoipbinServerError as error:
            for speaking in services.voipbin.list_speakings(page_size=100).result:
                if (
                    speaking.reference_id == call_id
                    and speaking.status == SPEAKING_STATUS_ACTIVE
                    and speaking.id != stale
                ):
                    logger.info("Live speaking found", speaking_id=speaking.id, error=type(error).__name__)
                    return speaking
            if tried_again:
                raise
            tried_again = True


def _new_speaking(call_id: str, services: Services) -> Speaking:
    settings = services.settings
    return services.voipbin.create_speaking(
        call_id,
        language=settings.speaking_language or settings.transcribe_language,
        provider=settings.speaking_provider,
        voice_id=settings.speaking_voice_id,
        direction=settings.speaking_direction,
    )


def replace_speaking(conversation_id: str, stale: str, services: Services) -> str | None:
    """The call's new speaking, recorded in its session, for one that is gone; None when the call has ended.

    The gone one is deleted first: if its TTS pod is lost it still counts as the call's live speaking.
    """
    try:
        services.voipbin.delete_speaking(stale)
    except VoipbinError as error:
        logger.warning("Stale speaking not deleted", speaking_id=stale, error=type(error).__name__)
    speaking = live_speaking(call_of_conversation(conversation_id), services, stale=stale)
    if not services.store.set_speaking(conversation_id, speaking.id):
        logger.info("Call ended while its speaking was replaced")
        _stop_speaking(services.voipbin, speaking.id)
        return None
    logger.info("Speaking replaced", speaking_id=speaking.id, stale_speaking_id=stale)
    return speaking.id


def _start_transcribe(call_id: str, services: Services) -> str:
    """The new transcribe's id; "" when one is already progressing (409): transcripts map by the fallback."""
    try:
        return services.voipbin.create_transcribe(
            call_id, language=services.settings.transcribe_language, direction="in"
        ).id
    except VoipbinConflict:
        logger.info("Transcribe already progressing")
        return ""


def barge_in(speech: SpeechEvent, services: Services) -> None:
    """The caller started speaking: cut what is playing at once and stop the reply, without taking a turn."""
    conversation_id = call_conversation_of(speech.transcribe_id, store=services.store, voipbin=services.voipbin)
    if conversation_id is None:
        return
    logger.append_keys(conversation_id=conversation_id)
    session = services.store.get_session(conversation_id)
    if session is None or not session.active or not session.speaking_id:
        return
    if not services.playback.still_playing(session.speaking_until_ms):
        logger.info("Nothing playing; no barge-in")
        return
    try:
        services.voipbin.flush_speaking(session.speaking_id)
    except SPEAKING_GONE as error:  # nothing plays there any more; the reply's next /say replaces it
        logger.info("Speaking gone", error=type(error).__name__)
    services.store.halt_reply(conversation_id, session.reply_turn)
    services.store.mark_interrupted(conversation_id, session.reply_turn)
    logger.info("Barge-in: reply flushed", turn=session.reply_turn)


def end_call(call: Call, services: Services) -> None:
    """The call ended: nothing more is said for it, its speaking stops, and its summary is kept."""
    conversation_id = call_conversation_id(call.id)
    session = services.store.end_conversation(conversation_id, channel="voice")
    if session.speaking_id:
        _stop_speaking(services.voipbin, session.speaking_id)
    history = services.store.history(conversation_id, limit=_SUMMARY_MESSAGES)
    if not any(message.role == "user" for message in history):
        logger.info("Call ended without a word from the caller", turns=session.turn)
        return
    try:
        summary = services.engine.summarize(history, previous=session.summary)
    except LlmError as error:
        logger.warning("No summary of the call", error=str(error))
        return
    services.store.save_summary(conversation_id, summary, through_turn=session.turn)
    if services.settings.cross_channel_memory and session.their_address:
        services.store.remember_contact(services.phone_ids.contact(session.their_address), summary)
    logger.info("Call summarized", turns=session.turn)


def _stop_speaking(voipbin: VoipbinApi, speaking_id: str) -> None:
    try:
        voipbin.stop_speaking(speaking_id)
    except VoipbinNotFound:
        return  # stopped already
    except VoipbinError as error:
        logger.warning("Speaking not stopped", speaking_id=speaking_id, error=type(error).__name__)
