"""Work that must happen a little later than the event that asked for it, as the queue carries it.

Four kinds: the answer to a text thread once its burst window has passed (answer_text), a tool's effect once the
words before it have been heard (after_reply: end_call's hang-up), a call's check for a silent caller
(silence: re-prompt, or say goodbye and hang up), and a text thread's summary once it has gone idle
(idle_summary). Each is for one turn of one conversation, and moot once
a newer turn has been taken (but the hang-up at the turn limit) or the conversation ended.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict

DelayedKind = Literal["answer_text", "after_reply", "silence", "idle_summary"]


class DelayedAction(BaseModel):
    """One delayed action: its kind, the turn it belongs to, and for after_reply the tool call to run."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    kind: DelayedKind
    conversation_id: str
    turn: int
    tool: str = ""
    # The tool call's arguments, JSON as the model wrote them (checked again when it runs).
    arguments: str = "{}"
    # Run even after a newer turn: the hang-up at the conversation's turn limit, which more words must not defer.
    even_if_superseded: bool = False
    # For silence: how many re-prompts were said in this turn before (Silence.max_reprompts of them: the goodbye).
    reprompts: int = 0
    # For idle_summary: when (epoch milliseconds) the thread is idle if no message came; hours away, so the
    # action is queued again, at most a queue delay at a time, until then.
    due_at_ms: int = 0
