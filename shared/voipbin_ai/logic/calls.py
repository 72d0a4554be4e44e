"""Phone calls around their turns: answering, barge-in, a silent caller, hanging up, and which call a transcript is of.

Answering (call_progressing) opens the conversation, starts the transcribe and the speaking, and greets.
VoIPBin's races are part of the contract: a second speaking on a call answers 500 (the live one is found
instead), a second transcribe 409 (the transcript mapping then comes from the fallback below). A speaking
whose TTS pod is lost stays active in VoIPBin and blocks a new one until it is deleted (CONTRACT §11):
replace_speaking does both, for a turn whose /say or /flush found it gone.

Transcripts carry a transcribe id, not the call id (CONTRACT.md §6). call_progressing stores the mapping
once POST /transcribes returns, but VoIPBin starts streaming before that, so a transcript can arrive first.
The fallback asks VoIPBin (GET /transcribes/{id} -> reference_id) and stores what it learns. A warm
container remembers its mappings, so a turn reads DynamoDB only once.

The agent is the one of our number the call came in on (Agents.of_number): its greeting, its language
(the transcribe's) and its voice (the speaking's), and for every later turn and delayed action the same,
found again from the number the session keeps.

A silent caller (agent.silence): after the greeting and each reply a check is queued for reprompt_seconds
after the words end playing. It is moot once the caller took a newer turn or the call ended, and put off
while the caller was heard since (speech started, no transcript yet). Each re-prompt, and the goodbye after
the last, is claimed per turn and count, so a redelivered check says it once; it is added to the turn's
reply, so the LLM sees it in the history. The goodbye's hang-up is end_call's, once the words are heard.

Hanging up (call_hangup) ends the session first; then the call's summary is kept for memory and delivered
(logic/summaries.py: on the bus as call_summarized, and e-mailed), once however often the hangup comes.
"""

from typing import Final

from voipbin_ai.container import forget_on_reset
from voipbin_ai.exceptions import PublishError
from voipbin_ai.logic.services import Services
from voipbin_ai.logic.summaries import SUMMARY_MESSAGES, claim_summary, deliver_summary, summarizes, summary_parts
from voipbin_ai.models.later import DelayedAction
from voipbin_ai.models.session import ReplySoFar, Session, call_conversation_id, call_of_conversation
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

# The longest wait for a goodbye to finish playing before end_call hangs up (a queued message's delay).
MAX_GOODBYE_WAIT_SECONDS: Final = 15.0
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
    served = services.serving("voice", ours) if call.direction == CALL_DIRECTION_INCOMING else None
    if served is None:
        logger.info("Call not served here", direction=call.direction, callee=mask_phone(ours))
        return False
    services = served
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
        expect_caller(conversation_id, 0, until_ms=until, services=services)
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
    voice = services.agent.voice
    return services.voipbin.create_speaking(
        call_id,
        language=voice.language,
        provider=voice.provider,
        voice_id=voice.voice_id,
        direction=services.settings.speaking_direction,
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
        return services.voipbin.create_transcribe(call_id, language=services.agent.language, direction="in").id
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
    if services.playback.still_playing(session.speaking_until_ms):
        _cut_reply(session, session.speaking_id, services)
    else:
        logger.info("Nothing playing; no barge-in")
    served = services.serving_session(session)
    if served is not None and served.agent.silence.enabled:  # after the flush: the caller is not silent
        services.store.hear_caller(conversation_id, at_ms=services.playback.now_ms())


def _cut_reply(session: Session, speaking_id: str, services: Services) -> None:
    try:
        services.voipbin.flush_speaking(speaking_id)
    except SPEAKING_GONE as error:  # nothing plays there any more; the reply's next /say replaces it
        logger.info("Speaking gone", error=type(error).__name__)
    services.store.halt_reply(session.conversation_id, session.reply_turn)
    services.store.mark_interrupted(session.conversation_id, session.reply_turn)
    logger.info("Barge-in: reply flushed", turn=session.reply_turn)


def expect_caller(conversation_id: str, turn: int, *, until_ms: int, services: Services, reprompts: int = 0) -> None:
    """Queue the check for a silent caller, due once the words said so far (ending at until_ms) were heard."""
    if not services.agent.silence.enabled:
        return
    action = DelayedAction(kind="silence", conversation_id=conversation_id, turn=turn, reprompts=reprompts)
    wait = _until_silent(until_ms, services)
    try:
        services.later.schedule(action, after_seconds=wait)
    except PublishError as error:  # the call goes on; only a silent caller is left waiting
        logger.error("Silence check not queued", error=str(error))
        return
    logger.info("Silence check queued", after_seconds=round(wait, 1), reprompts=reprompts)


def _until_silent(since_ms: int, services: Services) -> float:
    """Seconds until the caller has been quiet for reprompt_seconds after since_ms (epoch ms, maybe still ahead)."""
    return services.agent.silence.reprompt_seconds - (services.playback.now_ms() - since_ms) / 1000


def check_silence(action: DelayedAction, services: Services) -> None:
    """A silence check came due: re-prompt the caller, or after the last re-prompt say goodbye and hang up."""
    store = services.store
    session = store.get_session(action.conversation_id)
    served = None if session is None else services.serving_session(session)
    if (
        session is None
        or served is None
        or not session.active
        or session.turn != action.turn
        or not session.speaking_id
    ):
        logger.info("Silence check is moot", active=bool(session and session.active))
        return
    services, silence = served, served.agent.silence
    wait = _until_silent(max(session.speaking_until_ms, session.heard_at_ms), services)
    if wait > 0:  # the caller was heard, or more was said, since it was queued
        services.later.schedule(action, after_seconds=wait)
        logger.info("Silence check put off", after_seconds=round(wait, 1))
        return
    if store.begin_tool_call(session.conversation_id, action.turn, f"silence#{action.reprompts}") is not None:
        logger.info("Silence already handled by an earlier delivery", reprompts=action.reprompts)
        return
    goodbye = action.reprompts >= silence.max_reprompts
    until = _say_more(session, silence.goodbye if goodbye else silence.reprompt, session.speaking_id, services)
    if until is None:
        logger.info("Silence check is moot: the turn was taken, barged in on or hung up")
        return
    store.finish_tool_call(session.conversation_id, action.turn, f"silence#{action.reprompts}", "said")
    logger.info("Silent caller prompted", reprompts=action.reprompts, goodbye=goodbye)
    if not goodbye:
        expect_caller(
            session.conversation_id, action.turn, until_ms=until, services=services, reprompts=action.reprompts + 1
        )
        return
    hang_up = DelayedAction(
        kind="after_reply", conversation_id=session.conversation_id, turn=action.turn, tool="end_call"
    )
    services.later.schedule(hang_up, after_seconds=min(services.playback.seconds_left(until), MAX_GOODBYE_WAIT_SECONDS))


def _say_more(session: Session, words: str, speaking_id: str, services: Services) -> int | None:
    """Say words after the turn's reply, recorded as part of it: until when they play; None if the turn is over.

    A speaking found gone is replaced, and the words said on the new one.
    """
    store, conversation_id = services.store, session.conversation_id
    said = [m.text for m in store.history(conversation_id, limit=2) if m.turn == session.turn and m.role == "assistant"]
    until = services.playback.until_ms(session.speaking_until_ms, words)
    reply = ReplySoFar(turn=session.turn, text=" ".join([*said, words]))
    if not store.record_reply(conversation_id, reply, speaking_until_ms=until):
        return None
    try:
        services.voipbin.say(speaking_id, words)
    except SPEAKING_GONE:
        replaced = replace_speaking(conversation_id, speaking_id, services)
        if replaced is None:
            return None
        services.voipbin.say(replaced, words)
    store.keep_reply(conversation_id, reply, spoken=True)
    return until


def end_call(call: Call, services: Services) -> None:
    """The call ended: nothing more is said for it, its speaking stops, its summary is kept and delivered.

    The session's end comes first and never waits on the summary; a call never answered here has none.
    """
    conversation_id = call_conversation_id(call.id)
    session = services.store.end_conversation(conversation_id, channel="voice")
    if session.speaking_id:
        _stop_speaking(services.voipbin, session.speaking_id)
    if not session.our_address:
        logger.info("Call not answered here: nothing to summarize")
        return
    served = services.serving_session(session)
    if served is None:
        logger.info("No agent serves the call's number any more; no summary", turns=session.turn)
        return
    services = served
    delivers = summarizes(session, services)
    if delivers and not claim_summary(conversation_id, session.turn, services):
        return
    history = services.store.history(conversation_id, limit=SUMMARY_MESSAGES)
    parts = summary_parts(history, session, services)
    if parts is not None and parts.summary:
        services.store.save_summary(conversation_id, parts.summary, through_turn=session.turn)
        if services.settings.cross_channel_memory and session.their_address:
            services.store.remember_contact(services.phone_ids.contact(session.their_address), parts.summary)
        logger.info("Call summarized", turns=session.turn)
    if delivers:
        started_at, ended_at = session.created_at, session.ended_at
        deliver_summary(session, parts, services, turn=session.turn, started_at=started_at, ended_at=ended_at)


def _stop_speaking(voipbin: VoipbinApi, speaking_id: str) -> None:
    try:
        voipbin.stop_speaking(speaking_id)
    except VoipbinNotFound:
        return  # stopped already
    except VoipbinError as error:
        logger.warning("Speaking not stopped", speaking_id=speaking_id, error=type(error).__name__)
