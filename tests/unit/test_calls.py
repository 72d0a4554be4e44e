"""Phone calls around their turns (logic/calls.py) on the in-process fakes: answering, barge-in, hanging up.

Asserts on what the simulator received and what the store holds.
"""

from typing import Any

import pytest

from local.fake_openai import Script
from local.voipbin_simulator import Fault, VoipbinSimulator
from tests.fakes.in_process import DEFAULT_AGENT, Fakes
from tests.fakes.memory_store import InMemoryStore
from tests.fakes.scripted_llm import FakeClock, ScriptedLlm
from tests.helpers import PHONE_IDS
from voipbin_ai.logic.calls import answer_call, barge_in, call_conversation_of, end_call
from voipbin_ai.logic.services import Services
from voipbin_ai.models.agent import AgentConfig, Agents
from voipbin_ai.models.session import ReplySoFar, call_conversation_id
from voipbin_ai.models.voipbin import Call, SpeechEvent
from voipbin_ai.voipbin.client import VoipbinClient

CALLER, OURS = "+15551234567", "+15559876543"


@pytest.fixture
def call(simulator: VoipbinSimulator) -> Call:
    return Call.model_validate(simulator.add_call(CALLER, OURS))


def answered(call: Call, services: Services) -> str:
    """The conversation id of a call answered through the logic."""
    assert answer_call(call, services)
    return call_conversation_id(call.id)


def speaking_creates(simulator: VoipbinSimulator) -> int:
    return sum(request.path == "/v1.0/speakings" for request in simulator.requests("POST"))


def test_answering_starts_listening_and_speaking_and_greets(
    call: Call, services: Services, simulator: VoipbinSimulator, memory_store: InMemoryStore
) -> None:
    conversation_id = answered(call, services)

    (transcribe,) = simulator.requests("POST", "/transcribes")
    assert transcribe.body == {
        "reference_type": "call",
        "reference_id": call.id,
        "language": "en-US",
        "direction": "in",
    }
    (speaking,) = simulator.resources("speakings")
    assert simulator.said_texts(speaking["id"]) == [DEFAULT_AGENT.greeting]
    session = memory_store.get_session(conversation_id)
    assert session is not None
    assert (session.speaking_id, session.their_address, session.our_address) == (speaking["id"], CALLER, OURS)
    assert memory_store.conversation_of_transcribe(simulator.resources("transcribes")[0]["id"]) == conversation_id
    assert [message.text for message in memory_store.history(conversation_id, limit=10)] == [DEFAULT_AGENT.greeting]


def test_a_redelivered_answer_greets_once(call: Call, services: Services, simulator: VoipbinSimulator) -> None:
    answered(call, services)

    assert not answer_call(call, services)
    assert len(simulator.resources("speakings")) == 1
    assert len(simulator.said_texts()) == 1


def test_a_live_speaking_that_voipbin_already_has_is_used(
    call: Call, services: Services, simulator: VoipbinSimulator, voipbin: VoipbinClient
) -> None:
    existing = voipbin.create_speaking(call.id, language="en-US")  # a race: VoIPBin answers the second with 500

    answered(call, services)

    assert simulator.said_texts(existing.id) == [DEFAULT_AGENT.greeting]


def test_a_speaking_created_despite_a_503_is_found_not_made_again(
    call: Call, services: Services, simulator: VoipbinSimulator
) -> None:
    simulator.inject("POST", "/speakings", Fault.request_timeout(after_running=True))

    answered(call, services)

    (speaking,) = simulator.resources("speakings")
    assert simulator.said_texts(speaking["id"]) == [DEFAULT_AGENT.greeting]
    assert (speaking_creates(simulator), len(simulator.requests("GET", "/speakings"))) == (1, 1)


def test_a_speaking_a_503_did_not_create_is_created_once_more(
    call: Call, services: Services, simulator: VoipbinSimulator
) -> None:
    simulator.inject("POST", "/speakings", Fault.request_timeout())

    answered(call, services)

    (speaking,) = simulator.resources("speakings")
    assert simulator.said_texts(speaking["id"]) == [DEFAULT_AGENT.greeting]
    assert speaking_creates(simulator) == 2


ONLY_ANOTHER_NUMBER = Agents(agents={"ava": DEFAULT_AGENT}, numbers={"+15550000000": "ava"})


@pytest.mark.parametrize(
    ("changes", "agents"),
    [({"direction": "outgoing"}, DEFAULT_AGENT), ({}, ONLY_ANOTHER_NUMBER)],
    ids=["outgoing", "another number"],
)
def test_a_call_not_served_here_is_left_alone(
    call: Call,
    changes: dict[str, Any],
    agents: AgentConfig | Agents,
    fakes: Fakes,
    memory_store: InMemoryStore,
    simulator: VoipbinSimulator,
) -> None:
    services = fakes.services(agents)

    assert not answer_call(call.model_copy(update=changes), services)
    assert simulator.requests() == []
    assert memory_store.get_session(call_conversation_id(call.id)) is None


def test_a_call_hung_up_before_it_was_answered_is_not_greeted(
    call: Call, services: Services, simulator: VoipbinSimulator, memory_store: InMemoryStore
) -> None:
    end_call(call, services)  # call_hangup overtook call_progressing

    assert not answer_call(call, services)
    assert simulator.said_texts() == []


def test_barge_in_flushes_what_plays_and_halts_the_reply(
    call: Call, services: Services, simulator: VoipbinSimulator, memory_store: InMemoryStore
) -> None:
    conversation_id = answered(call, services)  # the greeting is still playing
    transcribe_id = simulator.resources("transcribes")[0]["id"]

    barge_in(SpeechEvent.model_validate(simulator.speech_started(transcribe_id)), services)

    speaking_id = simulator.resources("speakings")[0]["id"]
    assert len(simulator.requests("POST", f"/speakings/{speaking_id}/flush")) == 1
    assert not memory_store.record_reply(conversation_id, ReplySoFar(turn=0, text="More of the greeting"))
    (greeting,) = memory_store.history(conversation_id, limit=10)
    assert greeting.interrupted


def test_barge_in_on_a_speaking_whose_pod_is_lost_still_halts_the_reply(
    call: Call, services: Services, simulator: VoipbinSimulator, memory_store: InMemoryStore
) -> None:
    conversation_id = answered(call, services)  # the greeting is still playing
    simulator.lose_tts_pod(simulator.resources("speakings")[0]["id"])
    transcribe_id = simulator.resources("transcribes")[0]["id"]

    barge_in(SpeechEvent.model_validate(simulator.speech_started(transcribe_id)), services)

    assert not memory_store.record_reply(conversation_id, ReplySoFar(turn=0, text="More of the greeting"))
    (greeting,) = memory_store.history(conversation_id, limit=10)
    assert greeting.interrupted


def test_speech_when_nothing_plays_flushes_nothing(
    call: Call, services: Services, simulator: VoipbinSimulator, wall_clock: FakeClock
) -> None:
    answered(call, services)
    wall_clock.advance(60)  # the greeting has been heard
    transcribe_id = simulator.resources("transcribes")[0]["id"]

    barge_in(SpeechEvent.model_validate(simulator.speech_started(transcribe_id)), services)

    assert not any(request.path.endswith("/flush") for request in simulator.requests("POST"))


def test_a_transcript_before_its_mapping_is_mapped_through_voipbin(
    call: Call, services: Services, simulator: VoipbinSimulator, memory_store: InMemoryStore, voipbin: VoipbinClient
) -> None:
    transcribe = voipbin.create_transcribe(call.id, language="en-US")

    found = call_conversation_of(transcribe.id, store=memory_store, voipbin=voipbin)

    assert found == call_conversation_id(call.id)
    assert memory_store.conversation_of_transcribe(transcribe.id) == found
    assert call_conversation_of("9c5e2a1d-0000-4e0a-9d2e-3b7c8a1f0e55", store=memory_store, voipbin=voipbin) is None


def test_hanging_up_stops_the_speaking_and_keeps_a_summary_and_the_callers_memory(
    call: Call, fakes: Fakes, llm: ScriptedLlm, memory_store: InMemoryStore, simulator: VoipbinSimulator
) -> None:
    services = fakes.services(CROSS_CHANNEL_MEMORY="true")
    conversation_id = answered(call, services)
    turn = memory_store.take_turn(conversation_id, channel="voice", open_if_missing=False)
    assert turn is not None
    memory_store.record_user_message(conversation_id, turn.number, "My crown broke", sent_at_ms=None)
    llm.enqueue(Script.text("The caller's crown broke."))

    end_call(call, services)

    speaking_id = simulator.resources("speakings")[0]["id"]
    assert len(simulator.requests("POST", f"/speakings/{speaking_id}/stop")) == 1
    session = memory_store.get_session(conversation_id)
    assert session is not None and not session.active
    assert session.summary == "The caller's crown broke."
    assert "My crown broke" in llm.requests[-1].messages[-1]["content"]
    assert memory_store.contact_memory(PHONE_IDS.contact(CALLER)) == "The caller's crown broke."
    assert not memory_store.record_reply(conversation_id, ReplySoFar(turn=turn.number, text="Hello?"))


def test_a_call_without_a_word_from_the_caller_is_not_summarized(
    call: Call, services: Services, llm: ScriptedLlm, memory_store: InMemoryStore
) -> None:
    conversation_id = answered(call, services)

    end_call(call, services)

    assert llm.requests == []
    session = memory_store.get_session(conversation_id)
    assert session is not None and session.summary == ""


def test_a_stop_that_fails_does_not_keep_the_call_from_ending(
    call: Call, services: Services, simulator: VoipbinSimulator, memory_store: InMemoryStore
) -> None:
    conversation_id = answered(call, services)
    simulator.inject("POST", "/speakings/{id}/stop", *[Fault.error(503)] * 4)

    end_call(call, services)

    session = memory_store.get_session(conversation_id)
    assert session is not None and not session.active
