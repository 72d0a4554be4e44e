"""A finished conversation's summary as the business's own systems receive it: the bus event's detail.

VoIPBin's own summaries have four parts (call type, key discussion points, decisions, action items). The
LLM writes them, with a short summary, as structured output (SummaryParts); the logic adds what it knows
for certain (ids, our number, the customer's masked, times, turns). A call's is published at its hangup
(CALL_SUMMARIZED), a text thread's once it has been idle (CONVERSATION_SUMMARIZED): one schema for both.
"""

from datetime import datetime
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from voipbin_ai.models.session import Channel

CALL_SUMMARIZED: Final = "call_summarized"
CONVERSATION_SUMMARIZED: Final = "conversation_summarized"


class SummaryParts(BaseModel):
    """What the LLM writes of a conversation; its JSON Schema is the structured output asked for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    call_type: str = Field(description="What kind of conversation it was, in a few words, e.g. appointment booking.")
    summary: str = Field(description="Two or three sentences: what it was about and how it ended.")
    key_points: tuple[str, ...] = Field(description="The key discussion points, one short sentence each.")
    decisions: tuple[str, ...] = Field(description="What was decided or agreed; empty when nothing was.")
    action_items: tuple[str, ...] = Field(description="What someone must still do, and who; empty when nothing.")


class ConversationSummary(BaseModel):
    """The detail of a call_summarized or conversation_summarized event.

    The text fields are empty when the LLM gave no summary (it failed, or the customer said nothing); a
    model that answered outside the schema leaves its words in `summary` and the four parts empty.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    conversation_id: str
    channel: Channel
    # VoIPBin's id of the call, or of the conversation (LINE, WhatsApp, web chat widget); None for an SMS thread.
    voipbin_id: str | None
    our_address: str
    # The customer's number (or messaging id), all but its first and last four characters masked.
    customer: str
    started_at: datetime | None
    ended_at: datetime | None
    # The customer's turns (utterances, or messages) in the summarized context.
    turns: int
    call_type: str = ""
    summary: str = ""
    key_points: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()
    action_items: tuple[str, ...] = ()

    @property
    def detail_type(self) -> str:
        """The event's detail-type on the bus."""
        return CALL_SUMMARIZED if self.channel == "voice" else CONVERSATION_SUMMARIZED
