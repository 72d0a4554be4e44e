"""VoIPBin webhook bodies: the envelope {"type", "data"} as a union discriminated on type (CONTRACT.md §1.2).

Every type this backend acts on has its own model; any other type, now or added later by VoIPBin, is an
UnhandledEvent (not an error). parse_webhook is the single entry point and raises only InvalidEventError.
"""

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal, cast, get_args

from pydantic import Discriminator, Tag, TypeAdapter, ValidationError

from voipbin_ai.exceptions import InvalidEventError
from voipbin_ai.models.envelope import read_envelope
from voipbin_ai.models.voipbin import (
    Call,
    ConversationMessage,
    Message,
    SpeechEvent,
    Transcribe,
    Transcript,
    VoipbinModel,
)

CallEventType = Literal[
    "call_created",
    "call_updated",
    "call_deleted",
    "call_dialing",
    "call_ringing",
    "call_progressing",
    "call_terminating",
    "call_canceling",
    "call_hangup",
]
TranscriptEventType = Literal["transcript_created"]
TranscribeSpeechEventType = Literal["transcribe_speech_started", "transcribe_speech_interim", "transcribe_speech_ended"]
TranscribeEventType = Literal["transcribe_created", "transcribe_progressing", "transcribe_done"]
MessageEventType = Literal["message_created", "message_updated", "message_deleted"]
ConversationMessageEventType = Literal[
    "conversation_message_created", "conversation_message_updated", "conversation_message_deleted"
]


class CallEvent(VoipbinModel):
    """A call_* event: a status change (call_progressing = answered, call_hangup = ended) or an update."""

    type: CallEventType
    data: Call

    @property
    def idempotency_key(self) -> str:
        """One call_progressing and one call_hangup per call: the event type carries the status."""
        return f"{self.type}:{self.data.id}:{self.data.status}"

    @property
    def occurred_at(self) -> datetime | None:
        """When the call changed to this state, by VoIPBin's clock."""
        return self.data.tm_update or self.data.tm_create


class TranscriptCreatedEvent(VoipbinModel):
    """A final utterance of a live transcription."""

    type: TranscriptEventType
    data: Transcript

    @property
    def idempotency_key(self) -> str:
        """A transcript is created once; its id is stable."""
        return f"{self.type}:{self.data.id}"

    @property
    def occurred_at(self) -> datetime | None:
        """When VoIPBin transcribed it."""
        return self.data.tm_create


class TranscribeSpeechEvent(VoipbinModel):
    """Voice activity of a live transcription: started (barge-in cue), interim text, ended."""

    type: TranscribeSpeechEventType
    data: SpeechEvent

    @property
    def idempotency_key(self) -> str:
        """data.id is random per delivery, so the stream and the moment identify a speech event."""
        moment = self.data.tm_event.isoformat() if self.data.tm_event else self.data.id
        return f"{self.type}:{self.data.streaming_id}:{moment}"

    @property
    def occurred_at(self) -> datetime | None:
        """When the caller started or stopped speaking."""
        return self.data.tm_event or self.data.tm_create


class TranscribeEvent(VoipbinModel):
    """A transcription session was created, progressed or finished."""

    type: TranscribeEventType
    data: Transcribe

    @property
    def idempotency_key(self) -> str:
        """One event per transcribe and status."""
        return f"{self.type}:{self.data.id}:{self.data.status}"

    @property
    def occurred_at(self) -> datetime | None:
        """When the transcribe changed to this status."""
        return self.data.tm_update or self.data.tm_create


class MessageEvent(VoipbinModel):
    """An SMS was created (inbound or sent), updated (delivery status) or deleted."""

    type: MessageEventType
    data: Message

    @property
    def idempotency_key(self) -> str:
        """The message id alone: both webhooks of one inbound SMS (this and the conversation copy) share it."""
        return f"message:{self.data.id}"

    @property
    def occurred_at(self) -> datetime | None:
        """When the message was created or last changed."""
        return self.data.tm_update or self.data.tm_create


class ConversationMessageEvent(VoipbinModel):
    """A conversation message; an inbound SMS arrives both as this and as a MessageEvent."""

    type: ConversationMessageEventType
    data: ConversationMessage

    @property
    def idempotency_key(self) -> str:
        """The SMS's id, as MessageEvent's: one inbound SMS is acted on once, whichever webhook comes first."""
        return f"message:{self.data.id}"

    @property
    def occurred_at(self) -> datetime | None:
        """When the conversation message was created or last changed."""
        return self.data.tm_update or self.data.tm_create


class UnhandledEvent(VoipbinModel):
    """Any other event type: kept as raw data so it can be acknowledged and ignored."""

    type: str
    data: dict[str, Any]

    @property
    def idempotency_key(self) -> str:
        """The type and the resource id, when there is one."""
        return f"{self.type}:{self.data.get('id', '')}"

    @property
    def occurred_at(self) -> datetime | None:
        """Unknown for a type this backend does not model; nothing acts on it anyway."""
        return None


_UNHANDLED = "unhandled"
_MODELS: tuple[type[VoipbinModel], ...] = (
    CallEvent,
    TranscriptCreatedEvent,
    TranscribeSpeechEvent,
    TranscribeEvent,
    MessageEvent,
    ConversationMessageEvent,
)
# Event type -> union tag (the model's name).
_TAGS: dict[str, str] = {
    event_type: model.__name__ for model in _MODELS for event_type in get_args(model.model_fields["type"].annotation)
}


def _tag(value: Any) -> str:
    """The union member of an envelope: its model's name, or 'unhandled' for any other type."""
    event_type = value.get("type") if isinstance(value, Mapping) else getattr(value, "type", None)
    return _TAGS.get(event_type, _UNHANDLED) if isinstance(event_type, str) else _UNHANDLED


WebhookEvent = Annotated[
    Annotated[CallEvent, Tag("CallEvent")]
    | Annotated[TranscriptCreatedEvent, Tag("TranscriptCreatedEvent")]
    | Annotated[TranscribeSpeechEvent, Tag("TranscribeSpeechEvent")]
    | Annotated[TranscribeEvent, Tag("TranscribeEvent")]
    | Annotated[MessageEvent, Tag("MessageEvent")]
    | Annotated[ConversationMessageEvent, Tag("ConversationMessageEvent")]
    | Annotated[UnhandledEvent, Tag(_UNHANDLED)],
    Discriminator(_tag),
]


@cache
def _every_event() -> TypeAdapter[WebhookEvent]:
    """The union's validator, built when first needed: only the ingress takes every type."""
    return TypeAdapter(WebhookEvent)


def prepare(models: tuple[type[VoipbinModel], ...]) -> None:
    """Build the validators of these event models now (a function's init), not at its first event.

    Models build when first used (defer_build), so a function builds only the models it takes.
    """
    for model in models:
        model.model_rebuild(force=False)


def parse_webhook(
    payload: Mapping[str, Any] | bytes | str, *, accepting: tuple[type[VoipbinModel], ...] | None = None
) -> WebhookEvent:
    """The event of a webhook body (raw JSON or already decoded), of any type or of the `accepting` models'.

    Raises InvalidEventError naming the envelope type and the dotted path of the first bad field
    ('body' when the body is not a JSON object, 'type' when it is not one of the accepting models').
    """
    event_type, _, body = read_envelope(payload)
    model = None if accepting is None else next((m for m in accepting if m.__name__ == _tag(body)), None)
    if accepting is not None and model is None:
        raise InvalidEventError(event_type, "type", "this function does not handle it")
    try:
        if model is None:
            return _every_event().validate_python(dict(body))
        return cast(WebhookEvent, model.model_validate(dict(body)))
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        # In the union, loc[0] is the tag; the rest is the path inside the envelope.
        path = first["loc"] if model is not None else first["loc"][1:]
        raise InvalidEventError(event_type, ".".join(map(str, path)), first["msg"]) from error


def outside_window(event: WebhookEvent, *, now: datetime, max_age_seconds: int) -> bool:
    """Whether an event is too old to act on, or dated too far ahead to be genuine (a replay, a forgery).

    By VoIPBin's own timestamp for the event's type; max_age_seconds either way also covers clock skew.
    An event without one is outside (VoIPBin dates every event it sends); 0 turns the check off.
    """
    if not max_age_seconds:
        return False
    if event.occurred_at is None:
        return True
    return abs((now - event.occurred_at).total_seconds()) > max_age_seconds
