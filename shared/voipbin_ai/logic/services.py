"""What the channel logic works with: the store, VoIPBin, the AI engine, delayed actions, the bus and the settings.

Functions build it once per invocation with Services.default() (the clients inside are per container);
tests build it from their fakes. The engine, and with it the openai SDK, is made only when a use case asks
for it, so answering a call does not pay for importing the LLM client.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
from voipbin_ai.models.agent import AgentConfig
from voipbin_ai.models.session import PhoneIds, Playback
from voipbin_ai.store.base import ConversationStore
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
    agent: AgentConfig
    settings: ChannelSettings
    # Epoch seconds: when what is said ends playing (tests move it instead of waiting).
    clock: Callable[[], float] = time.time
    _engine: "Engine | None" = field(default=None, repr=False)
    _later: Later | None = field(default=None, repr=False)
    _events: Publisher | None = field(default=None, repr=False)

    @classmethod
    def default(cls) -> "Services":
        """The container's store and clients, and the agent as configured now."""
        return cls(store=get_store(), voipbin=get_client(), agent=agent_config(), settings=channel_settings())

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
    def events(self) -> Publisher:
        """Where the backend's own events go (given, or the stack's bus on first use)."""
        return self._events if self._events is not None else BusPublisher(bus_settings().event_bus_name)

    @cached_property
    def engine(self) -> "Engine":
        """The AI engine (given, or the configured one on first use)."""
        if self._engine is not None:
            return self._engine
        from voipbin_ai.ai.core import Engine
        from voipbin_ai.ai.llm import get_llm
        from voipbin_ai.ai.tools import toolbox

        tools = toolbox(self.agent, store=self.store, voipbin=lambda: self.voipbin, settings=tool_settings())
        return Engine(self.agent, llm=get_llm(), tools=tools, store=self.store)
