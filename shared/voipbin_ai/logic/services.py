"""What the channel logic works with: store, VoIPBin, the agents and their engine, delayed actions, bus, settings.

Functions build it once per invocation with Services.default() (the clients inside are per container);
tests build it from their fakes. A use case first picks the agent of its conversation (serving: by the
channel and our number, which the session keeps, so every turn and delayed action of a conversation gets
the same agent); the engine is that agent's. The engine, and with it the openai SDK, is made only when a
use case asks for it, so answering a call does not pay for importing the LLM client.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

from voipbin_ai.bus import BusPublisher, Publisher
from voipbin_ai.config import (
    ChannelSettings,
    agent_config,
    bus_settings,
    channel_settings,
    phone_id_pepper,
    tool_settings,
)
from voipbin_ai.later import Later, get_later
from voipbin_ai.models.agent import AgentConfig, Agents
from voipbin_ai.models.session import Channel, PhoneIds, Playback, Session
from voipbin_ai.store.base import ConversationStore, EventClaim
from voipbin_ai.store.dynamodb import get_store
from voipbin_ai.voipbin.api import VoipbinApi
from voipbin_ai.voipbin.client import get_client

if TYPE_CHECKING:
    from voipbin_ai.ai.core import Engine


@dataclass
class Services:
    """The collaborators of one use case."""

    store: ConversationStore
    voipbin: VoipbinApi
    agents: Agents
    settings: ChannelSettings
    # Epoch seconds: when what is said ends playing (tests move it instead of waiting).
    clock: Callable[[], float] = time.time
    _agent: AgentConfig | None = field(default=None, repr=False)
    # The engine of an agent (given by tests; else the configured LLM and the agent's tools).
    _engines: "Callable[[AgentConfig], Engine] | None" = field(default=None, repr=False)
    _later: Later | None = field(default=None, repr=False)
    _claim: EventClaim | None = field(default=None, repr=False)
    _events: Publisher | None = field(default=None, repr=False)

    @classmethod
    def default(cls) -> "Services":
        """The container's store and clients, and the agents as configured now."""
        return cls(store=get_store(), voipbin=get_client(), agents=agent_config(), settings=channel_settings())

    def serving(self, channel: Channel, our_address: str = "") -> "Services | None":
        """These services for the agent of a conversation (its channel, our end of it); None when no agent serves it."""
        agent = self.agents.of_conversation(channel, our_address)
        return None if agent is None else replace(self, _agent=agent)

    def serving_session(self, session: Session) -> "Services | None":
        """These services for the agent of a conversation in progress: the same one every turn."""
        return self.serving(session.channel, session.our_address)

    @property
    def agent(self) -> AgentConfig:
        """The agent of the conversation at hand (picked by serving)."""
        if self._agent is None:
            raise RuntimeError("no agent picked for this conversation: use Services.serving first")
        return self._agent

    @cached_property
    def playback(self) -> Playback:
        """When what is said ends playing, at the configured voice's pace."""
        return Playback(self.settings.speech_chars_per_second, clock=self.clock)

    @cached_property
    def phone_ids(self) -> PhoneIds:
        """Ids from phone numbers under the configured pepper, read only by the use cases that need them."""
        return PhoneIds(phone_id_pepper())

    @cached_property
    def later(self) -> Later:
        """Where work for later goes (given, or the configured queue on first use)."""
        return self._later if self._later is not None else get_later()

    @cached_property
    def claim(self) -> EventClaim:
        """What acts on an event once, for a use case that claims its own (given, or Powertools Idempotency)."""
        if self._claim is not None:
            return self._claim
        from voipbin_ai.store.idempotency import run_once

        return run_once

    @cached_property
    def events(self) -> Publisher:
        """Where the backend's own events go (given, or the stack's bus on first use)."""
        return self._events if self._events is not None else BusPublisher(bus_settings().event_bus_name)

    @cached_property
    def engine(self) -> "Engine":
        """The AI engine of the conversation's agent (given, or the configured one on first use)."""
        if self._engines is not None:
            return self._engines(self.agent)
        from voipbin_ai.ai.core import Engine
        from voipbin_ai.ai.llm import get_llm
        from voipbin_ai.ai.tools import toolbox

        tools = toolbox(self.agent, store=self.store, voipbin=lambda: self.voipbin, settings=tool_settings())
        return Engine(self.agent, llm=get_llm(), tools=tools, store=self.store)
