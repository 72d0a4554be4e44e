"""Conversations as this backend keeps them: one per call, SMS thread, VoIPBin conversation or web chat.

An SMS thread is between our number and theirs; a VoIPBin conversation carries LINE, WhatsApp or VoIPBin's
web chat widget; a web chat is a session of POST /chat.

These are the domain shapes the logic works with; how they sit in DynamoDB is store/dynamodb.py's business.
A conversation id never holds a phone number, because ids go into every log line.
"""

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

Channel = Literal["voice", "sms", "chat", "line", "whatsapp", "webchat"]
# The channels VoIPBin's conversations carry besides SMS, named as its reference_type names them.
ConversationChannel = Literal["line", "whatsapp", "webchat"]
# Channels of text threads: each message is recorded, the burst's latest answered, the reply sent back.
TextChannel = Literal["sms", "line", "whatsapp", "webchat"]
ConversationStatus = Literal["active", "ended"]
Role = Literal["user", "assistant"]

STATUS_ACTIVE: Final = "active"
STATUS_ENDED: Final = "ended"


@dataclass(frozen=True)
class _IdSpace:
    """Our conversation ids of one kind: a prefix before the other system's id, and the way back."""

    prefix: str
    kind: str

    def ours(self, theirs: str) -> str:
        return f"{self.prefix}{theirs}"

    def theirs(self, conversation_id: str) -> str:
        if not conversation_id.startswith(self.prefix):
            raise ValueError(f"not {self.kind}: {conversation_id}")
        return conversation_id.removeprefix(self.prefix)


_CALLS: Final = _IdSpace("call:", "a call's conversation")
_VOIPBIN_CONVERSATIONS: Final = _IdSpace("conversation:", "a VoIPBin conversation")


def call_conversation_id(call_id: str) -> str:
    """The conversation of a phone call."""
    return _CALLS.ours(call_id)


def call_of_conversation(conversation_id: str) -> str:
    """The call id of a call's conversation (call_conversation_id, read back)."""
    return _CALLS.theirs(conversation_id)


def voipbin_conversation_id(conversation_id: str) -> str:
    """The conversation of a VoIPBin conversation (its id is a UUID of VoIPBin's, not personal data)."""
    return _VOIPBIN_CONVERSATIONS.ours(conversation_id)


def voipbin_conversation_of(conversation_id: str) -> str:
    """VoIPBin's conversation id of one of ours (voipbin_conversation_id, read back)."""
    return _VOIPBIN_CONVERSATIONS.theirs(conversation_id)


def chat_conversation_id(session_id: str) -> str:
    """The web-chat conversation of a session the server issued (its random part, not its signature)."""
    return f"chat:{session_id}"


@dataclass(frozen=True)
class PhoneIds:
    """Ids derived from phone numbers, as keyed digests: without the pepper they cannot be reversed.

    A phone number has few enough possible values that a plain hash of one is reversed by trying them all;
    an HMAC under a secret pepper (PhoneIdPepper in the template) is not. Changing the pepper starts every
    SMS thread and contact memory afresh.
    """

    pepper: bytes

    def sms_conversation(self, our_number: str, their_number: str) -> str:
        """The SMS thread between one of our numbers and a phone."""
        return "sms:" + self._digest(f"{our_number}|{their_number}")

    def contact(self, number: str) -> str:
        """A person across channels, by phone number (cross-channel memory keys on it)."""
        return "contact:" + self._digest(number)

    def _digest(self, value: str) -> str:
        return hmac.new(self.pepper, value.encode(), hashlib.sha256).hexdigest()[:32]


class _Model(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True)


class Session(_Model):
    """The state of one conversation: whose turn it is, the media of a call, what was said before."""

    conversation_id: str
    channel: Channel
    status: ConversationStatus
    turn: int = 0
    # The last turn whose reply was (at least partly) spoken or sent: a new turn flushes it first.
    reply_turn: int = 0
    # Until when (epoch milliseconds) what was said may still be playing: a new turn flushes it first.
    speaking_until_ms: int = 0
    # When the caller was last heard starting to speak (epoch milliseconds): a silence re-prompt waits from then too.
    heard_at_ms: int = 0
    speaking_id: str | None = None
    transcribe_id: str | None = None
    our_address: str = ""
    their_address: str = ""
    # The rolling summary of the turns before summary_turn + 1, which the LLM no longer sees verbatim.
    summary: str = ""
    summary_turn: int = 0
    # The last turn before the current context: a text thread idle long enough starts afresh after it
    # (take_turn's fresh_after_seconds), with no history, summary or turns counted from before.
    context_turn: int = 0
    # What this contact said on other channels before (cross-channel memory), copied in when the call began.
    memory: str = ""
    # How often each tool with a per-conversation limit has run (send_sms).
    tool_uses: dict[str, int] = {}
    created_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def active(self) -> bool:
        """Whether anything may still be said in this conversation."""
        return self.status == STATUS_ACTIVE


class Turn(_Model):
    """A user utterance or message that took the conversation's next turn number."""

    number: int
    session: Session
    # The same event took this turn before (a redelivery after a failure): its tool calls are not re-run.
    replayed: bool = False


class HistoryMessage(_Model):
    """One message of a conversation's history, oldest first when listed."""

    turn: int
    role: Role
    text: str
    interrupted: bool = False
    # When the person wrote or said it, by VoIPBin's clock (tm_create, epoch milliseconds); None for replies.
    sent_at_ms: int | None = None


@dataclass(frozen=True)
class Playback:
    """When spoken words end playing, at the TTS voice's pace: the one home of that arithmetic.

    The voice's pace is SPEECH_CHARS_PER_SECOND; `clock` is epoch seconds (injected in tests).
    """

    chars_per_second: float
    clock: Callable[[], float] = time.time

    def now_ms(self) -> int:
        """The clock, in epoch milliseconds."""
        return int(self.clock() * 1000)

    def until_ms(self, previous_until_ms: int, text: str) -> int:
        """When text queued now ends playing (epoch ms): after what still plays, at the voice's pace."""
        return max(previous_until_ms, self.now_ms()) + int(1000 * len(text) / self.chars_per_second)

    def still_playing(self, until_ms: int) -> bool:
        """Whether words that end playing at until_ms may still be heard."""
        return until_ms > self.now_ms()

    def seconds_left(self, until_ms: int) -> float:
        """How long until words that end at until_ms have been heard (0 when they have)."""
        return max(until_ms - self.now_ms(), 0) / 1000


class ReplySoFar(_Model):
    """A turn's reply as far as it has been spoken or sent, with the user's words it answers when kept with it."""

    turn: int
    text: str
    # None when the user's words are recorded on their own (an SMS, on arrival) or there are none (a greeting).
    user_text: str | None = None
    user_sent_at_ms: int | None = None


def epoch_ms(moment: datetime | None) -> int | None:
    """A VoIPBin timestamp as epoch milliseconds, how history messages keep it."""
    return None if moment is None else round(moment.timestamp() * 1000)


def in_the_order_written(messages: Iterable[HistoryMessage]) -> list[HistoryMessage]:
    """Messages in turn order, except that the user's messages between two replies follow their own timestamps.

    Turns are numbered in the order functions happened to process the events, which VoIPBin does not keep
    for a burst of texts or utterances; the reply that answered them stays where it was.
    """
    ordered: list[HistoryMessage] = []
    run: list[HistoryMessage] = []
    for message in sorted(messages, key=lambda message: (message.turn, message.role != "user")):
        if message.role == "user":
            run.append(message)
            continue
        ordered += _by_time(run)
        run = []
        ordered.append(message)
    return ordered + _by_time(run)


def _by_time(run: list[HistoryMessage]) -> list[HistoryMessage]:
    """A run of user messages by when they were sent (a stable sort: those without a time keep turn order)."""
    return sorted(run, key=lambda message: message.sent_at_ms or 0)


class ToolRecord(_Model):
    """A tool call's side effect as an earlier delivery of the same turn left it."""

    done: bool
    result: str = ""
