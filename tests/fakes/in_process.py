"""Fixtures of the in-process fakes: the engine and the channel logic as fast unit tests, with no socket.

The store is InMemoryStore, the LLM a ScriptedLlm on a FakeClock, and VoIPBin the simulator itself, called
through an httpx2 mock transport: the shipped VoipbinClient sends real requests, the simulator answers them
as the contract says and records them. Registered by tests/conftest.py (pytest_plugins).
"""

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from local.voipbin_simulator import VoipbinSimulator
from tests.fakes.fixtures import SIMULATOR_TOKEN
from tests.fakes.memory_store import InMemoryStore
from tests.fakes.scripted_llm import FakeClock, ScriptedLlm
from tests.voipbin_spec import SpecCheckedTransport
from voipbin_ai.ai.core import Engine
from voipbin_ai.ai.tools import toolbox
from voipbin_ai.config import DEFAULT_AGENT_FILE, ChannelSettings, ToolSettings, VoipbinCredential
from voipbin_ai.logic.later import run_delayed
from voipbin_ai.logic.services import Services
from voipbin_ai.models.agent import SINGLE_AGENT_ID, AgentConfig, Agents
from voipbin_ai.models.later import DelayedAction, DelayedKind
from voipbin_ai.voipbin.client import VoipbinClient

DEFAULT_AGENT = AgentConfig.model_validate_json(DEFAULT_AGENT_FILE.read_text())
# Where the in-process simulator pretends to be; nothing listens there.
IN_PROCESS_URL = "http://voipbin.invalid/v1.0"


def agent_with(**changes: Any) -> AgentConfig:
    """The default agent with some fields replaced (nested dicts merge into the default's)."""
    data = DEFAULT_AGENT.model_dump()
    for key, value in changes.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
    return AgentConfig.model_validate(data)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def wall_clock() -> FakeClock:
    """time.time for the logic: when what was said ends playing."""
    return FakeClock(start=1_800_000_000.0)


@pytest.fixture
def llm(clock: FakeClock) -> ScriptedLlm:
    return ScriptedLlm(clock)


@pytest.fixture
def memory_store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def simulator() -> VoipbinSimulator:
    """The VoIPBin simulator, not listening: the voipbin fixture's client reaches it in this process."""
    return VoipbinSimulator(token=SIMULATOR_TOKEN)


@pytest.fixture
def spec_check(simulator: VoipbinSimulator) -> Iterator[SpecCheckedTransport]:
    """The simulator's transport, each request and answer checked against VoIPBin's OpenAPI spec."""
    transport = SpecCheckedTransport(simulator.transport())
    yield transport
    assert transport.violations == []


@pytest.fixture
def voipbin(spec_check: SpecCheckedTransport) -> Iterator[VoipbinClient]:
    """The shipped client on the simulator, through the spec check."""
    credential = VoipbinCredential(kind="token", value=SIMULATOR_TOKEN)
    with VoipbinClient(IN_PROCESS_URL, credential, transport=spec_check, sleep=lambda _: None) as client:
        yield client


def engine_of(
    agent: AgentConfig, *, llm: ScriptedLlm, store: InMemoryStore, voipbin: VoipbinClient, **tool_settings: str
) -> Engine:
    """The engine as Services builds it, on the fakes."""
    settings = ToolSettings.model_validate(tool_settings)
    tools = toolbox(agent, store=store, voipbin=lambda: voipbin, settings=settings)
    return Engine(agent, llm=llm, tools=tools, store=store, clock=llm.clock)


@dataclass
class RecordingLater:
    """The delayed-actions queue as a list: tests see what was queued and when it is due, and run it."""

    queued: list[tuple[DelayedAction, float]] = field(default_factory=list)

    def schedule(self, action: DelayedAction, *, after_seconds: float) -> None:
        self.queued.append((action, after_seconds))

    def of_kind(self, kind: DelayedKind) -> list[tuple[DelayedAction, float]]:
        """What is queued of one kind, with its delays."""
        return [(action, after_seconds) for action, after_seconds in self.queued if action.kind == kind]

    def run_all(self, services: Services) -> None:
        """Deliver what is queued, in the order it was sent, as the queue's consumer does once it is due."""
        queued, self.queued = self.queued, []
        for action, _ in queued:
            run_delayed(action, services)


@dataclass
class MemoryClaims:
    """Each event acted on once, as Powertools Idempotency does it: a failed run's claim is released."""

    claimed: set[str] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, key: str, work: Callable[[], None]) -> bool:
        with self._lock:
            if key in self.claimed:
                self.skipped.append(key)
                return False
            self.claimed.add(key)
        try:
            work()
        except BaseException:
            with self._lock:
                self.claimed.discard(key)
            raise
        return True


@dataclass
class RecordingBus:
    """The bus as a list of what was published (the backend's own events: summaries)."""

    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def publish(self, detail_type: str, detail: str) -> None:
        self.published.append((detail_type, json.loads(detail)))


@dataclass
class Fakes:
    """The in-process fakes of one test, from which Services are made."""

    llm: ScriptedLlm
    store: InMemoryStore
    voipbin: VoipbinClient
    wall_clock: FakeClock
    later: RecordingLater
    claims: MemoryClaims = field(default_factory=MemoryClaims)
    bus: RecordingBus = field(default_factory=RecordingBus)

    def services(self, agents: AgentConfig | Agents = DEFAULT_AGENT, /, **settings: str) -> Services:
        """What a use case works with: these agents (one: the default for every number), these channel settings."""
        if isinstance(agents, AgentConfig):
            agents = Agents(agents={SINGLE_AGENT_ID: agents}, default=SINGLE_AGENT_ID)
        channel = ChannelSettings.model_validate(settings)
        return Services(
            store=self.store,
            voipbin=self.voipbin,
            agents=agents,
            settings=channel,
            clock=self.wall_clock,
            _engines=self.engine,
            _later=self.later,
            _claim=self.claims,
            _events=self.bus,
        )

    def engine(self, agent: AgentConfig) -> Engine:
        """An agent's engine on these fakes."""
        return engine_of(agent, llm=self.llm, store=self.store, voipbin=self.voipbin)


@pytest.fixture
def later() -> RecordingLater:
    return RecordingLater()


@pytest.fixture
def fakes(
    llm: ScriptedLlm, memory_store: InMemoryStore, voipbin: VoipbinClient, wall_clock: FakeClock, later: RecordingLater
) -> Fakes:
    return Fakes(llm, memory_store, voipbin, wall_clock, later)


@pytest.fixture
def services(fakes: Fakes) -> Services:
    """What a use case works with, on the fakes, with the default agent and settings."""
    return fakes.services()
