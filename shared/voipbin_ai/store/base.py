"""What the engine and the channel logic need of the conversation store: Protocols, no database.

store/dynamodb.py is the implementation that ships; tests use an in-memory one (tests/fakes/memory_store.py)
and run the store's own tests against both. Each method's contract is written once, here; the DynamoDB
module says how it keeps it. "Latest turn wins" is two conditional writes: take_turn adds one to the
session's turn, and record_reply records a piece only while that number is still the turn, the session is
active and the caller has not barged in on it (halt_reply). A piece is said or sent only after
record_reply succeeded.
"""

from collections.abc import Callable
from typing import Protocol

from voipbin_ai.models.session import Channel, HistoryMessage, ReplySoFar, Session, ToolRecord, Turn


class EventClaim(Protocol):
    """What acts on each event once, though it may be delivered again (store/idempotency.py)."""

    def __call__(self, key: str, work: Callable[[], None]) -> bool:
        """Run work unless an event with this key ran or is running; True when it ran now.

        Raises what work raises, and then the event may run again.
        """
        ...


class ToolLedger(Protocol):
    """What makes a tool's side effect happen at most once per turn and within its per-conversation limit."""

    def begin_tool_call(self, conversation_id: str, turn: int, call_key: str) -> ToolRecord | None:
        """Claim a tool call's side effect for this turn: None when claimed now (run it), else the earlier claim.

        An earlier claim that is not done means the earlier delivery failed somewhere in the side effect: it
        is not run again, since it may have happened (at most once beats twice for an SMS).
        """
        ...

    def finish_tool_call(self, conversation_id: str, turn: int, call_key: str, result: str) -> None:
        """Record that a claimed tool call's side effect happened, and what it answered."""
        ...

    def claim_tool_use(self, conversation_id: str, tool: str, *, limit: int) -> bool:
        """Count one more use of a tool in the conversation if it has had fewer than `limit`; False when spent."""
        ...


class SummaryStore(Protocol):
    """What the engine reads and writes for the rolling summary."""

    def history(self, conversation_id: str, *, limit: int) -> list[HistoryMessage]:
        """The last `limit` messages of the current context in the order written (in_the_order_written).

        The pending reply is included; messages of turns up to Session.context_turn are not.
        """
        ...

    def save_summary(self, conversation_id: str, summary: str, *, through_turn: int) -> bool:
        """Keep the summary of the turns up to through_turn; False when one of as many turns or more is there."""
        ...


class ConversationStore(ToolLedger, SummaryStore, Protocol):
    """Conversations, their turns and history, call mappings, contacts and usage counters."""

    def start_call(self, conversation_id: str, *, caller: str, callee: str, memory: str = "") -> bool:
        """Open a call's conversation; False when it exists already (a duplicate, or a call already ended).

        `memory` is what the caller said on other channels before, kept so that no turn has to read it.
        """
        ...

    def attach_call_media(self, conversation_id: str, *, transcribe_id: str, speaking_id: str) -> bool:
        """Record a live call's transcribe and speaking, and the transcribe -> call mapping, at once.

        False when the call ended meanwhile (the caller should stop what it started).
        """
        ...

    def map_transcribe(self, transcribe_id: str, conversation_id: str) -> None:
        """Remember which call a transcribe belongs to (the fallback found it through VoIPBin's API)."""
        ...

    def conversation_of_transcribe(self, transcribe_id: str) -> str | None:
        """The call conversation a transcribe belongs to, if known yet (transcripts can come first)."""
        ...

    def set_speaking(self, conversation_id: str, speaking_id: str) -> bool:
        """Replace a call's speaking session (the old one was gone); False when the call has ended."""
        ...

    def take_turn(
        self,
        conversation_id: str,
        *,
        channel: Channel,
        open_if_missing: bool,
        our_address: str = "",
        their_address: str = "",
        event_key: str | None = None,
        fresh_after_seconds: int | None = None,
        said_at_ms: int | None = None,
    ) -> Turn | None:
        """The conversation's next turn number, taken atomically; None when it has ended or is unknown.

        A call must exist first (call_progressing opens it; a transcript may come before that). SMS and
        chat conversations open on their first message (open_if_missing). The same event_key again, while
        its turn is still the latest, gets that turn back (replayed), so a redelivered event redoes its own
        turn rather than taking a new one. With fresh_after_seconds, a conversation whose last turn is older
        than that starts a fresh context with this turn (Session.context_turn), even when it had ended.
        With said_at_ms (when the words were said, by VoIPBin's clock), words said before the latest turn's
        take no turn: a late delivery, or a redelivery of words answered before, cannot cut a newer reply.
        """
        ...

    def record_reply(self, conversation_id: str, reply: ReplySoFar, *, speaking_until_ms: int | None = None) -> bool:
        """Record a turn's reply so far, while the turn is the latest, not barged in on, and the conversation active.

        Only when this returns True may the new piece be spoken or sent. For a call it also records until
        when the reply may be playing. keep_reply copies the reply into the history afterwards.
        """
        ...

    def keep_reply(self, conversation_id: str, reply: ReplySoFar, *, spoken: bool) -> None:
        """Write a recorded reply (and the user's words with it) into the history, once it is on its way.

        A spoken reply whose turn was superseded, barged in on or hung up meanwhile is kept marked
        interrupted. Call it for the pieces of one reply in their order, each after the last.
        """
        ...

    def record_user_message(self, conversation_id: str, turn: int, text: str, *, sent_at_ms: int | None) -> None:
        """Record what the user said in a turn that has no reply (yet): later turns see it in the history."""
        ...

    def halt_reply(self, conversation_id: str, turn: int) -> None:
        """Stop a turn's reply at its next piece without taking a new turn (the caller barged in)."""
        ...

    def hear_caller(self, conversation_id: str, *, at_ms: int) -> None:
        """Record when a live call's caller started to speak (Session.heard_at_ms), though no turn is taken yet."""
        ...

    def mark_interrupted(self, conversation_id: str, turn: int) -> None:
        """Flag a turn's recorded reply as cut short by a newer turn or the hangup."""
        ...

    def end_conversation(self, conversation_id: str, *, channel: Channel) -> Session:
        """End a conversation: no turn is taken and no reply recorded for it any more.

        An unknown conversation is recorded as ended too, so events that arrive after the end find it ended.
        """
        ...

    def count_use(self, name: str, *, window_seconds: int, limit: int) -> bool:
        """Count one use in the current window if it has had fewer than `limit`; False when the window is full."""
        ...

    def add_usage(self, name: str, amount: int, *, window_seconds: int) -> None:
        """Add what was used (tokens, say) to the current window's count."""
        ...

    def usage(self, name: str, *, window_seconds: int) -> int:
        """What the current window has counted so far."""
        ...

    def remember_contact(self, contact_id: str, summary: str) -> None:
        """Keep the summary of a contact's latest conversation, for their next one on any channel."""
        ...

    def contact_memory(self, contact_id: str) -> str:
        """The summary of a contact's latest conversation, or "" for someone new."""
        ...

    def get_session(self, conversation_id: str) -> Session | None:
        """A conversation's session, strongly consistent."""
        ...
