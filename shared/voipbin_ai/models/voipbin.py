"""VoIPBin resources as webhooks and REST responses carry them (CONTRACT.md §2, §3).

Field names are VoIPBin's Go json tags. The models are read-only views that follow Go's encoding rules
and stay forward compatible: unknown fields are ignored, an absent or null field takes its Go zero value
("" / [] / {} / None), and enum-like fields are plain strings (VoIPBin may add values at any time); the
known values code branches on are the constants below. Models do no I/O and import only pydantic.
"""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

ZERO_UUID: Final = "00000000-0000-0000-0000-000000000000"

# Call status (§4). A call ends with "hangup"; "terminating"/"canceling" come just before it.
CALL_STATUS_DIALING: Final = "dialing"
CALL_STATUS_RINGING: Final = "ringing"
CALL_STATUS_PROGRESSING: Final = "progressing"
CALL_STATUS_TERMINATING: Final = "terminating"
CALL_STATUS_CANCELING: Final = "canceling"
CALL_STATUS_HANGUP: Final = "hangup"
CALL_DIRECTION_INCOMING: Final = "incoming"
CALL_DIRECTION_OUTGOING: Final = "outgoing"

# Media direction of transcribes, transcripts, speech events and speakings. For transcripts "in" is
# the caller's speech, "out" what the caller hears (our own TTS included).
DIRECTION_IN: Final = "in"
DIRECTION_OUT: Final = "out"
DIRECTION_BOTH: Final = "both"

TRANSCRIBE_STATUS_PROGRESSING: Final = "progressing"
TRANSCRIBE_STATUS_DONE: Final = "done"

SPEAKING_STATUS_INITIATING: Final = "initiating"
SPEAKING_STATUS_ACTIVE: Final = "active"
SPEAKING_STATUS_STOPPED: Final = "stopped"

MESSAGE_DIRECTION_INBOUND: Final = "inbound"
MESSAGE_DIRECTION_OUTBOUND: Final = "outbound"

CONVERSATION_MESSAGE_DIRECTION_INCOMING: Final = "incoming"
CONVERSATION_MESSAGE_DIRECTION_OUTGOING: Final = "outgoing"
# A conversation message's channel: "message" is an SMS (answered from its message_created instead).
CONVERSATION_REFERENCE_TYPE_SMS: Final = "message"
CONVERSATION_REFERENCE_TYPES_ANSWERED: Final = ("line", "whatsapp", "webchat")

ADDRESS_TYPE_TEL: Final = "tel"
ADDRESS_TYPE_EMAIL: Final = "email"
# What a transcribe or speaking is attached to.
REFERENCE_TYPE_CALL: Final = "call"

_YEAR_ONE: Final = datetime(1, 1, 1, tzinfo=UTC)
_UUID_PATTERN: Final = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def _not_zero(value: str) -> str:
    if value == ZERO_UUID:
        raise ValueError("must not be the zero UUID")
    return value


def _zero_is_none(value: Any) -> Any:
    """Go's uuid.UUID is never omitted: an unset id arrives as the zero UUID."""
    return None if value == ZERO_UUID else value


def _as_utc(value: datetime) -> datetime:
    """VoIPBin writes UTC ('Z'); a value without an offset is read as UTC so every datetime is aware."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _offset_since_year_one(value: Any) -> Any:
    """tm_transcript is time.Time{}.Add(elapsed): the offset since the stream started, dated year 1."""
    if isinstance(value, str):
        return _as_utc(datetime.fromisoformat(value)) - _YEAR_ONE
    return value


# A lowercase UUID string. Ids are only keys to us, so they stay strings; any case is accepted.
_Uuid = Annotated[str, StringConstraints(to_lower=True, pattern=_UUID_PATTERN)]
# The id of a resource, or a key without which its event is useless: required, never the zero UUID.
Id = Annotated[_Uuid, AfterValidator(_not_zero)]
# Any other id: None when absent, null or the zero UUID.
OptionalId = Annotated[_Uuid | None, BeforeValidator(_zero_is_none)]
# RFC 3339 with up to nanosecond digits (pydantic truncates them to microseconds), always timezone-aware.
Timestamp = Annotated[datetime, AfterValidator(_as_utc)] | None
# An offset encoded as a year-0001 timestamp ("0001-01-01T00:00:06.482113Z" is 6.482113 s).
Offset = Annotated[timedelta | None, BeforeValidator(_offset_since_year_one)]


class VoipbinModel(BaseModel):
    """Base of every VoIPBin model: immutable, ignores unknown fields, reads null as absent."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        """Go zero values: a null field takes the field's default like an absent one."""
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class Address(VoipbinModel):
    """A party of a call or message; 'target' is E.164 ('+15551234567') when 'type' is 'tel'."""

    type: str = ""
    target: str = ""
    target_name: str = ""
    name: str = ""
    detail: str = ""

    @classmethod
    def tel(cls, number: str) -> "Address":
        """A phone number as an address."""
        return cls(type=ADDRESS_TYPE_TEL, target=number)

    @classmethod
    def email(cls, address: str) -> "Address":
        """An e-mail address as an address."""
        return cls(type=ADDRESS_TYPE_EMAIL, target=address)


class CallAction(VoipbinModel):
    """The flow action a call is executing."""

    id: OptionalId = None
    next_id: OptionalId = None
    type: str = ""
    option: dict[str, Any] = Field(default_factory=dict)
    tm_execute: Timestamp = None


class Call(VoipbinModel):
    """call.WebhookMessage: data of every call_* event and the body of GET /calls/{id}."""

    id: Id
    customer_id: OptionalId = None
    owner_type: str = ""
    owner_id: OptionalId = None
    flow_id: OptionalId = None
    activeflow_id: OptionalId = None
    type: str = ""
    master_call_id: OptionalId = None
    chained_call_ids: list[Id] = Field(default_factory=list)
    recording_id: OptionalId = None
    recording_ids: list[Id] = Field(default_factory=list)
    groupcall_id: OptionalId = None
    source: Address = Field(default_factory=Address)
    destination: Address = Field(default_factory=Address)
    status: str = ""
    action: CallAction = Field(default_factory=CallAction)
    metadata: dict[str, Any] = Field(default_factory=dict)
    direction: str = ""
    mute_direction: str = ""
    hangup_by: str = ""
    hangup_reason: str = ""
    tm_progressing: Timestamp = None
    tm_ringing: Timestamp = None
    tm_hangup: Timestamp = None
    tm_create: Timestamp = None
    tm_update: Timestamp = None
    tm_delete: Timestamp = None


class Transcribe(VoipbinModel):
    """A transcription session; reference_id is the call id when reference_type is 'call'."""

    id: Id
    customer_id: OptionalId = None
    activeflow_id: OptionalId = None
    on_end_flow_id: OptionalId = None
    reference_type: str = ""
    reference_id: OptionalId = None
    status: str = ""
    language: str = ""
    direction: str = ""
    provider: str = ""
    tm_create: Timestamp = None
    tm_update: Timestamp = None
    tm_delete: Timestamp = None


class Transcript(VoipbinModel):
    """A final utterance of one direction; carries no call id, only transcribe_id."""

    id: Id
    customer_id: OptionalId = None
    transcribe_id: Id
    direction: str = ""
    message: str = ""
    tm_transcript: Offset = None
    tm_create: Timestamp = None


class SpeechEvent(VoipbinModel):
    """streaming.WebhookMessage of transcribe_speech_*; message is set on interim events only.

    id is random per event: dedupe on (streaming_id, tm_event).
    """

    id: Id
    customer_id: OptionalId = None
    streaming_id: Id
    transcribe_id: Id
    direction: str = ""
    message: str = ""
    tm_event: Timestamp = None
    tm_create: Timestamp = None


class Speaking(VoipbinModel):
    """A TTS session on a call (REST only: speaking_* events never reach webhooks)."""

    id: Id
    customer_id: OptionalId = None
    reference_type: str = ""
    reference_id: OptionalId = None
    language: str = ""
    provider: str = ""
    voice_id: str = ""
    direction: str = ""
    status: str = ""
    tm_create: Timestamp = None
    tm_update: Timestamp = None
    tm_delete: Timestamp = None


class MessageTarget(VoipbinModel):
    """One destination of an SMS; the delivery status lives here, not on the message."""

    destination: Address = Field(default_factory=Address)
    status: str = ""
    parts: int = 0
    tm_update: Timestamp = None


class Message(VoipbinModel):
    """An SMS (message_* events, POST /messages); for inbound, source is the remote phone."""

    id: Id
    customer_id: OptionalId = None
    type: str = ""
    source: Address = Field(default_factory=Address)
    targets: list[MessageTarget] = Field(default_factory=list)
    text: str = ""
    direction: str = ""
    tm_create: Timestamp = None
    tm_update: Timestamp = None
    tm_delete: Timestamp = None


class EmailAttachment(VoipbinModel):
    """A file of VoIPBin's sent with an e-mail (a recording)."""

    reference_type: str = ""
    reference_id: OptionalId = None


class Email(VoipbinModel):
    """An e-mail (POST /emails, email_* events); the sender is VoIPBin's own (service@voipbin.net)."""

    id: Id
    customer_id: OptionalId = None
    source: Address = Field(default_factory=Address)
    destinations: list[Address] = Field(default_factory=list)
    status: str = ""
    subject: str = ""
    content: str = ""
    attachments: list[EmailAttachment] = Field(default_factory=list)
    tm_create: Timestamp = None
    tm_update: Timestamp = None
    tm_delete: Timestamp = None


class ConversationMedia(VoipbinModel):
    """A media attachment of a conversation message."""

    id: Id
    customer_id: OptionalId = None
    type: str = ""
    filename: str = ""
    tm_create: Timestamp = None
    tm_update: Timestamp = None
    tm_delete: Timestamp = None


class ConversationMessage(VoipbinModel):
    """A conversation message; an inbound SMS also arrives as one, its id and reference_id the SMS's id."""

    id: Id
    customer_id: OptionalId = None
    conversation_id: Id
    direction: str = ""
    status: str = ""
    reference_type: str = ""
    reference_id: OptionalId = None
    source: Address = Field(default_factory=Address)
    destination: Address = Field(default_factory=Address)
    text: str = ""
    medias: list[ConversationMedia] = Field(default_factory=list)
    case_id: OptionalId = None
    tm_create: Timestamp = None
    tm_update: Timestamp = None
    tm_delete: Timestamp = None


class Page[ItemT](VoipbinModel):
    """A REST list; next_page_token is passed back as page_token to get the next page."""

    result: list[ItemT] = Field(default_factory=list)
    next_page_token: str = ""


class ApiError(VoipbinModel):
    """What went wrong: status is the gRPC-like class (NOT_FOUND), reason the specific cause."""

    status: str = ""
    reason: str = ""
    message: str = ""
    request_id: str = ""
    details: list[dict[str, Any]] = Field(default_factory=list)


class ApiErrorBody(VoipbinModel):
    """The body of every REST error response."""

    error: ApiError
