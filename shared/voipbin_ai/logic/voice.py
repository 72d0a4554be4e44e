"""One caller turn: the transcript in, the AI core's reply out through /say, sentence by sentence.

The turn is taken first (the latest turn wins: an older reply stops at its next sentence), beside the
history's read and the event's idempotency record: one round trip before the LLM is asked. What may still
be playing of an earlier reply is flushed, in the background while the LLM thinks, before the first new
sentence. Each sentence is recorded before it is said, so a superseded or hung-up turn says nothing more;
a reply cut short that way is marked interrupted. A speaking that /say or the flush finds gone (404, or
503 REQUEST_TIMEOUT: the TTS pod that held it is lost) is replaced once per turn, and the sentence said
on the new one; the session records it for later turns and barge-ins. Once anything was said the turn
never fails, so a redelivery cannot say it twice.

Each turn emits its latency stages as metrics: received (VoIPBin's transcript time to this function),
LLM first token and first /say (both from this function's start).
"""

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from voipbin_ai.ai.core import Conversation, Reply
from voipbin_ai.ai.llm import ToolCallRequest
from voipbin_ai.ai.tools import ToolContext
from voipbin_ai.exceptions import LlmError, PublishError, StoreError
from voipbin_ai.logic.calls import (
    MAX_GOODBYE_WAIT_SECONDS,
    call_conversation_of,
    expect_caller,
    live_speaking,
    replace_speaking,
)
from voipbin_ai.logic.services import Services
from voipbin_ai.models.later import DelayedAction
from voipbin_ai.models.session import HistoryMessage, ReplySoFar, Session, Turn, call_of_conversation, epoch_ms
from voipbin_ai.models.voipbin import Transcript
from voipbin_ai.observability import Metric, emit_metric, logger
from voipbin_ai.voipbin.client import SPEAKING_GONE, VoipbinError

# Taking the turn and reading the history beside the idempotency record, and the flush beside the LLM
# request; each awaited in its turn.
# A Lambda container runs one turn at a time; the local stack runs up to 8 side by side.
_background = ThreadPoolExecutor(max_workers=8, thread_name_prefix="voice")


@dataclass
class _Speech:
    """What this turn has said so far, and where."""

    speaking_id: str
    until_ms: int
    said: list[str] = field(default_factory=list)
    gone: bool = False  # the flush found the speaking gone: replace it before the first /say
    replaced: bool = False
    first_say_at: float | None = None


def reply_to_transcript(transcript: Transcript, *, event_key: str, started_at: float, services: Services) -> None:
    """Answer one final utterance of the caller, once however often it is delivered.

    The turn is taken and the history read while the event's record is claimed, and nothing is acted on
    before the claim is this delivery's. Taking the turn is harmless to a duplicate: the same event gets
    its own turn back, and words older than the latest turn's take none (ConversationStore.take_turn).
    """
    if transcript.direction != "in":
        return  # our own voice, transcribed
    store = services.store
    conversation_id = call_conversation_of(transcript.transcribe_id, store=store, voipbin=services.voipbin)
    if conversation_id is None:
        return
    logger.append_keys(conversation_id=conversation_id)
    said_at_ms = epoch_ms(transcript.tm_create)
    take = partial(
        store.take_turn,
        conversation_id,
        channel="voice",
        open_if_missing=False,
        event_key=event_key,
        said_at_ms=said_at_ms,
    )
    # Undated words (the replay window off) could take a turn from a newer reply: their turn waits for the claim.
    taking = _background.submit(take) if said_at_ms is not None else None
    # As much history as any agent reads: the call's agent is known once the turn brings the session.
    reading = _background.submit(store.history, conversation_id, limit=services.agents.most_history_messages)
    try:
        turn = taking.result if taking is not None else take
        services.claim(event_key, lambda: _answer(transcript, turn(), reading, started_at, services))
    finally:  # a duplicate's reads end here too: a frozen container would leave them half done
        for future in (taking, reading):
            if future is not None:
                future.exception()


def _answer(
    transcript: Transcript,
    turn: Turn | None,
    reading: "Future[list[HistoryMessage]]",
    started_at: float,
    services: Services,
) -> None:
    """The claimed turn: the LLM's reply said sentence by sentence while the turn is the latest."""
    if turn is None:
        logger.info("Call not active, or the words are older than its latest turn; transcript ignored")
        return
    conversation_id = turn.session.conversation_id
    session = turn.session
    served = services.serving_session(session)
    if served is None:
        logger.info("No agent serves the call's number any more; transcript ignored")
        return
    services = served
    # A redelivery of this event (turn.replayed) redoes the turn: the earlier delivery failed before
    # anything was said (once something is said the turn never fails), though it may have recorded a piece;
    # or a duplicate took the turn and then lost the claim to this delivery.
    logger.append_keys(turn=turn.number, replayed=turn.replayed)
    call_id = call_of_conversation(conversation_id)
    speaking_id = session.speaking_id or _speaking_of_new_call(call_id, conversation_id, services)
    if speaking_id is None:
        return
    flushing = _flush_if_playing(session, services)
    # An earlier delivery of this turn may have recorded part of it: the LLM sees the turns before it.
    earlier = [message for message in reading.result() if message.turn < turn.number]
    history = earlier[-services.agent.limits.history_messages :]
    context = ToolContext(
        conversation_id=conversation_id,
        channel="voice",
        turn=turn.number,
        our_address=session.our_address,
        their_address=session.their_address,
        call_id=call_id,
    )
    conversation = Conversation(context=context, history=history, summary=session.summary, memory=session.memory)
    reply = services.engine.reply(conversation, transcript.message)
    speech = _Speech(speaking_id=speaking_id, until_ms=session.speaking_until_ms)
    _deliver(reply.pieces, turn, transcript, speech, flushing=flushing, services=services)
    _report(transcript, reply, speech, started_at, fallback=reply.used_fallback)
    if speech.said:
        _after_reply(reply, speech, turn.session, services)


def _speaking_of_new_call(call_id: str, conversation_id: str, services: Services) -> str | None:
    """The speaking of a call whose answering has not recorded it yet (the caller spoke that early)."""
    speaking = live_speaking(call_id, services)
    if not services.store.set_speaking(conversation_id, speaking.id):
        logger.info("Call ended meanwhile; transcript ignored")
        return None
    return speaking.id


def _flush_if_playing(session: Session, services: Services) -> "Future[bool] | None":
    """Cut an earlier reply that may still be playing, in the background; mark it interrupted.

    The future tells whether the speaking was found gone.
    """
    if not services.playback.still_playing(session.speaking_until_ms) or not session.speaking_id:
        return None
    speaking_id, conversation_id, turn = session.speaking_id, session.conversation_id, session.reply_turn

    def flush() -> bool:
        gone = False
        try:
            services.voipbin.flush_speaking(speaking_id)
        except VoipbinError as error:
            gone = isinstance(error, SPEAKING_GONE)
            logger.info("Flush failed", error=type(error).__name__)
        services.store.mark_interrupted(conversation_id, turn)
        return gone

    return _background.submit(flush)


def _deliver(
    pieces: Iterator[str],
    turn: Turn,
    transcript: Transcript,
    speech: _Speech,
    *,
    flushing: "Future[bool] | None",
    services: Services,
) -> None:
    """Record, then say, each piece while the turn is the latest; stop quietly when it no longer is.

    Recording is the one write before a piece is said; its copy into the history runs once it is on its way.
    """
    conversation_id = turn.session.conversation_id
    keeping: Future[None] | None = None
    try:
        for piece in pieces:
            if flushing is not None:
                speech.gone = flushing.result()  # the old reply is cut before the new one starts
                flushing = None
            until = services.playback.until_ms(speech.until_ms, piece)
            reply = ReplySoFar(
                turn=turn.number,
                text=" ".join([*speech.said, piece]),
                user_text=transcript.message,
                user_sent_at_ms=epoch_ms(transcript.tm_create),
            )
            recorded = partial(services.store.record_reply, conversation_id, reply, speaking_until_ms=until)
            if not recorded() or not _say(piece, speech, conversation_id, still_latest=recorded, services=services):
                _superseded(turn, transcript, speech, services)
                return
            if keeping is not None:
                keeping.result()  # the pieces' copies land in their order
            # After the /say, so that its write does not hold the interpreter while the words are sent.
            keeping = _background.submit(services.store.keep_reply, conversation_id, reply, spoken=True)
            speech.said.append(piece)
            speech.until_ms = until
    except (VoipbinError, StoreError, LlmError) as error:
        if not speech.said:
            raise  # nothing said yet: the event fails and is retried as the same turn
        logger.error("Reply cut short by a failure", error=type(error).__name__, pieces_said=len(speech.said))
        emit_metric(Metric.REPLIES_CUT_SHORT)
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
        if keeping is not None:
            _await_history(keeping, speech)


def _await_history(keeping: "Future[None]", speech: _Speech) -> None:
    """The last history copy is written before the turn ends (a frozen container would not finish it).

    Should it fail, the session's pending reply still holds the words until the next reply is recorded.
    """
    try:
        keeping.result()
    except StoreError as error:
        if not speech.said:
            raise
        logger.error("Reply not copied into the history", error=type(error).__name__)
        emit_metric(Metric.HISTORY_NOT_KEPT)


def _superseded(turn: Turn, transcript: Transcript, speech: _Speech, services: Services) -> None:
    """A newer turn (or the hangup) took over: what was said is marked cut short, the words are kept."""
    conversation_id = turn.session.conversation_id
    if speech.said:
        services.store.mark_interrupted(conversation_id, turn.number)
    else:
        sent_at_ms = epoch_ms(transcript.tm_create)
        services.store.record_user_message(conversation_id, turn.number, transcript.message, sent_at_ms=sent_at_ms)
    logger.info("Turn superseded", pieces_said=len(speech.said))


def _say(
    piece: str, speech: _Speech, conversation_id: str, *, still_latest: Callable[[], bool], services: Services
) -> bool:
    """/say one piece; a gone speaking is replaced, once per turn, and the piece said on the new one.

    False when the call ended or a newer turn took over while the speaking was replaced: nothing is said.
    A piece a lost pod timed out on was not spoken (that pod no longer plays), and deleting the speaking
    stops it should the pod answer after all, so it is said once.
    """
    if not speech.gone:
        try:
            services.voipbin.say(speech.speaking_id, piece)
        except SPEAKING_GONE:
            if speech.replaced:
                raise
            speech.gone = True
    if speech.gone:
        speech.replaced = True
        speaking_id = replace_speaking(conversation_id, speech.speaking_id, services)
        if speaking_id is None or not still_latest():
            return False
        speech.speaking_id, speech.gone = speaking_id, False
        services.voipbin.say(speaking_id, piece)
    if speech.first_say_at is None:
        speech.first_say_at = time.monotonic()
    return True


def _after_reply(reply: Reply, speech: _Speech, session: Session, services: Services) -> None:
    """Queue the tool calls that wait for the words (hang up after the goodbye), or else the silence check.

    Then the rolling summary.
    """
    wait = min(services.playback.seconds_left(speech.until_ms), MAX_GOODBYE_WAIT_SECONDS)
    if not reply.after_reply:
        expect_caller(session.conversation_id, session.turn, until_ms=speech.until_ms, services=services)
    try:
        for request in reply.after_reply:
            action = DelayedAction(
                kind="after_reply",
                conversation_id=session.conversation_id,
                turn=session.turn,
                tool=request.name,
                arguments=request.arguments,
                even_if_superseded=reply.ends_conversation,
            )
            services.later.schedule(action, after_seconds=wait)
            logger.info("Tool call queued for after the reply", tool=request.name, after_seconds=round(wait, 1))
        services.engine.refresh_summary(session, through_turn=session.turn)
    except (PublishError, StoreError, LlmError) as error:
        logger.error("After-reply work failed", error=type(error).__name__)


def run_after_reply(action: DelayedAction, services: Services) -> None:
    """A queued tool call, now that the words before it were heard, unless a newer turn or the hangup came."""
    session = services.store.get_session(action.conversation_id)
    superseded = session is not None and session.turn != action.turn and not action.even_if_superseded
    served = None if session is None else services.serving_session(session)
    if session is None or served is None or not session.active or superseded:
        logger.info("Tool call after the reply is moot", tool=action.tool, active=bool(session and session.active))
        return
    services = served
    context = ToolContext(
        conversation_id=session.conversation_id,
        channel="voice",
        turn=action.turn,
        our_address=session.our_address,
        their_address=session.their_address,
        call_id=call_of_conversation(session.conversation_id),
    )
    request = ToolCallRequest(id=f"after_reply_{action.turn}", name=action.tool, arguments=action.arguments)
    result = services.engine.run_after_reply(request, context)
    logger.info("Tool call after the reply ran", tool=action.tool, result=result)


def _report(transcript: Transcript, reply: Reply, speech: _Speech, started_at: float, *, fallback: bool) -> None:
    """The turn's latency stages as metrics and one log line."""
    stages: dict[Metric, float] = {}
    if transcript.tm_create is not None:
        stages[Metric.TURN_RECEIVED_MS] = max((time.time() - transcript.tm_create.timestamp()) * 1000, 0.0)
    if reply.first_token_at is not None:
        stages[Metric.LLM_FIRST_TOKEN_MS] = (reply.first_token_at - started_at) * 1000
    if speech.first_say_at is not None:
        stages[Metric.FIRST_SAY_MS] = (speech.first_say_at - started_at) * 1000
    for metric, value in stages.items():
        emit_metric(metric, round(value, 1))
    emit_metric(Metric.VOICE_TURNS)
    if fallback:
        emit_metric(Metric.FALLBACK_REPLIES)
    rounded = {metric.value: round(value) for metric, value in stages.items()}
    logger.info("Voice turn", extra={"pieces_said": len(speech.said), "fallback": fallback, **rounded})
