"""Summaries of finished conversations (logic/summaries.py): a call's at its hangup, a text thread's once idle.

On the in-process fakes: asserts on what was published on the (recording) bus, what the simulator was asked
to e-mail, what was queued and what the store holds.
"""

import json
import math
from typing import Any

import pytest
from pydantic import ValidationError

from local.fake_openai import Script
from local.voipbin_simulator import VoipbinSimulator
from tests.fakes.in_process import DEFAULT_AGENT, Fakes, RecordingLater, agent_with, engine_of
from tests.fakes.memory_store import InMemoryStore
from tests.fakes.scripted_llm import FakeClock, ScriptedLlm
from tests.helpers import sms_message
from voipbin_ai.exceptions import PublishError
from voipbin_ai.later import MAX_DELAY_SECONDS
from voipbin_ai.logic.calls import answer_call, end_call
from voipbin_ai.logic.later import run_delayed
from voipbin_ai.logic.services import Services
from voipbin_ai.logic.sms import reply_to_sms
from voipbin_ai.models.agent import AgentConfig, Agents
from voipbin_ai.models.session import HistoryMessage, call_conversation_id
from voipbin_ai.models.summary import CALL_SUMMARIZED, CONVERSATION_SUMMARIZED, ConversationSummary, SummaryParts
from voipbin_ai.models.voipbin import Call, Message
from voipbin_ai.observability import mask_phone

CALLER, OURS = "+15551234567", "+15559876543"
FRONT_DESK = "frontdesk@example.com"
PARTS = SummaryParts(
    call_type="appointment booking",
    summary="The caller booked a check-up for Friday at ten.",
    key_points=("Wants a check-up", "Prefers mornings"),
    decisions=("Check-up on Friday at 10:00",),
    action_items=("Front desk: confirm by SMS",),
)
EMAILED = agent_with(summary={"email_to": FRONT_DESK})


@pytest.fixture
def call(simulator: VoipbinSimulator) -> Call:
    return Call.model_validate(simulator.add_call(CALLER, OURS))


def talked(call: Call, services: Services, memory_store: InMemoryStore, *words: str) -> str:
    """A call answered, in which the caller said these words; its conversation id."""
    assert answer_call(call, services)
    conversation_id = call_conversation_id(call.id)
    for text in words:
        turn = memory_store.take_turn(conversation_id, channel="voice", open_if_missing=False)
        assert turn is not None
        memory_store.record_user_message(conversation_id, turn.number, text, sent_at_ms=None)
    return conversation_id


def text(words: str) -> Message:
    return sms_message(words, sender=CALLER, to=OURS)


def test_the_agent_field_takes_an_address_and_the_channels_that_have_an_end() -> None:
    assert DEFAULT_AGENT.summary.channels == ("voice", "sms", "line", "whatsapp", "webchat")
    assert DEFAULT_AGENT.summary.email_to == ""
    assert agent_with(summary={"email_to": " FrontDesk@Example.com "}).summary.email_to == FRONT_DESK
    with pytest.raises(ValidationError, match=r"summary\.email_to"):
        agent_with(summary={"email_to": "front desk"})
    with pytest.raises(ValidationError, match=r"summary\.channels"):
        agent_with(summary={"channels": ["voice", "chat"]})


def test_the_customer_is_masked_to_their_last_four_digits() -> None:
    assert mask_phone(CALLER, visible=4) == "+1******4567"
    assert mask_phone(CALLER) == "+1********67"  # logs keep two
    assert mask_phone("U4af4980629d3c1a7e8b2", visible=4) == "U****************e8b2"


def test_the_llm_is_asked_for_the_four_parts_as_structured_output(llm: ScriptedLlm, fakes: Fakes) -> None:
    engine = engine_of(DEFAULT_AGENT, llm=llm, store=fakes.store, voipbin=fakes.voipbin)
    llm.enqueue(Script.text(PARTS.model_dump_json()))

    parts = engine.summary_parts([HistoryMessage(turn=1, role="user", text="A check-up on Friday?")])

    assert parts == PARTS
    (request,) = llm.requests
    assert request.json_schema == SummaryParts.model_json_schema()
    assert request.json_schema["additionalProperties"] is False  # strict structured output needs it
    assert set(request.json_schema["required"]) == {"call_type", "summary", "key_points", "decisions", "action_items"}
    assert "A check-up on Friday?" in request.messages[-1]["content"]


def test_json_fenced_in_markdown_is_read_all_the_same(llm: ScriptedLlm, fakes: Fakes) -> None:
    engine = engine_of(DEFAULT_AGENT, llm=llm, store=fakes.store, voipbin=fakes.voipbin)
    llm.enqueue(Script.text(f"```json\n{PARTS.model_dump_json(indent=2)}\n```"))

    assert engine.summary_parts([HistoryMessage(turn=1, role="user", text="A check-up on Friday?")]) == PARTS


def test_an_answer_outside_the_schema_is_kept_as_the_summary_alone(llm: ScriptedLlm, fakes: Fakes) -> None:
    engine = engine_of(DEFAULT_AGENT, llm=llm, store=fakes.store, voipbin=fakes.voipbin)
    llm.enqueue(Script.text("The caller asked about a check-up."))

    parts = engine.summary_parts([HistoryMessage(turn=1, role="user", text="A check-up?")])

    assert parts == SummaryParts(
        call_type="", summary="The caller asked about a check-up.", key_points=(), decisions=(), action_items=()
    )


def test_a_hangup_delivered_twice_publishes_and_emails_one_summary(
    call: Call, fakes: Fakes, llm: ScriptedLlm, memory_store: InMemoryStore, simulator: VoipbinSimulator
) -> None:
    services = fakes.services(EMAILED)
    conversation_id = talked(call, services, memory_store, "Can I book a check-up on Friday?")
    llm.enqueue(Script.text(PARTS.model_dump_json()))

    end_call(call, services)
    end_call(call, services)

    ((detail_type, detail),) = fakes.bus.published
    assert detail_type == CALL_SUMMARIZED
    summary = ConversationSummary.model_validate(detail)
    session = memory_store.get_session(conversation_id)
    assert session is not None and session.summary == PARTS.summary
    assert summary == ConversationSummary(
        conversation_id=conversation_id,
        channel="voice",
        voipbin_id=call.id,
        our_address=OURS,
        customer="+1******4567",
        started_at=session.created_at,
        ended_at=session.ended_at,
        turns=1,
        **PARTS.model_dump(),
    )
    assert CALLER not in json.dumps(detail)
    assert len([request for request in llm.requests if not request.stream]) == 1  # the LLM asked once too
    (email,) = simulator.sent_emails()
    assert [destination["target"] for destination in email["destinations"]] == [FRONT_DESK]
    assert email["subject"] == "Call summary, +1******4567: appointment booking"
    assert "- Check-up on Friday at 10:00" in email["content"]
    assert "- Front desk: confirm by SMS" in email["content"]
    assert CALLER not in email["content"]


def test_an_llm_failure_still_delivers_a_minimal_summary(
    call: Call, fakes: Fakes, llm: ScriptedLlm, memory_store: InMemoryStore, simulator: VoipbinSimulator
) -> None:
    services = fakes.services(EMAILED)
    conversation_id = talked(call, services, memory_store, "Hello?")
    llm.enqueue(Script.failure(500))

    end_call(call, services)

    ((_, detail),) = fakes.bus.published
    summary = ConversationSummary.model_validate(detail)
    assert (summary.conversation_id, summary.turns, summary.summary, summary.key_points) == (conversation_id, 1, "", ())
    (email,) = simulator.sent_emails()
    assert "could not summarize" in email["content"]


def test_a_silent_call_is_delivered_without_asking_the_llm(
    call: Call, fakes: Fakes, llm: ScriptedLlm, memory_store: InMemoryStore
) -> None:
    services = fakes.services()
    talked(call, services, memory_store)

    end_call(call, services)

    ((_, detail),) = fakes.bus.published
    assert (detail["turns"], detail["summary"]) == (0, "")
    assert [request for request in llm.requests if not request.stream] == []


def test_a_call_never_answered_here_or_on_a_channel_not_summarized_publishes_nothing(
    call: Call, fakes: Fakes, llm: ScriptedLlm, memory_store: InMemoryStore, simulator: VoipbinSimulator
) -> None:
    end_call(call, fakes.services(EMAILED))  # its hangup came first, or it was for a number not served
    assert fakes.bus.published == []

    services = fakes.services(agent_with(summary={"channels": ["sms"], "email_to": FRONT_DESK}))
    another = Call.model_validate(simulator.add_call(CALLER, OURS))
    conversation_id = talked(another, services, memory_store, "Hi")
    llm.enqueue(Script.text("The caller said hi."))
    end_call(another, services)

    assert fakes.bus.published == [] and simulator.sent_emails() == []
    session = memory_store.get_session(conversation_id)
    assert session is not None and session.summary == "The caller said hi."  # memory is kept all the same


class FailingBus:
    def publish(self, detail_type: str, detail: str) -> None:
        raise PublishError("PutEvents failed: throttled")


def test_a_bus_that_fails_still_lets_the_summary_be_emailed_and_the_call_end(
    call: Call, fakes: Fakes, llm: ScriptedLlm, memory_store: InMemoryStore, simulator: VoipbinSimulator
) -> None:
    fakes.bus = FailingBus()  # type: ignore[assignment]
    services = fakes.services(EMAILED)
    conversation_id = talked(call, services, memory_store, "Hi")
    llm.enqueue(Script.text(PARTS.model_dump_json()))

    end_call(call, services)

    assert len(simulator.sent_emails()) == 1
    session = memory_store.get_session(conversation_id)
    assert session is not None and not session.active


def idle_services(fakes: Fakes, agents: AgentConfig | Agents = EMAILED) -> Services:
    return fakes.services(agents, SMS_BURST_SECONDS="0", CONVERSATION_IDLE_HOURS="1")


def come_due(later: RecordingLater, wall_clock: FakeClock, services: Services) -> list[tuple[Any, float]]:
    """Move the clock to when everything queued is due and deliver it; what that queued in turn."""
    wall_clock.advance(math.ceil(max(after for _, after in later.queued)))
    later.run_all(services)
    return list(later.queued)


def test_an_idle_text_thread_is_summarized_once_after_hops_of_the_queues_longest_delay(
    fakes: Fakes,
    later: RecordingLater,
    wall_clock: FakeClock,
    llm: ScriptedLlm,
    simulator: VoipbinSimulator,
) -> None:
    services = idle_services(fakes)
    llm.enqueue(Script.text("We have a slot on Friday."), Script.text(PARTS.model_dump_json()))

    reply_to_sms(text("Can I book a check-up on Friday?"), event_key="e1", services=services)

    ((check, after),) = later.of_kind("idle_summary")
    assert after == MAX_DELAY_SECONDS
    assert check.due_at_ms == round((wall_clock() + 3600) * 1000)
    hops = 0
    while later.queued:
        hops += 1
        requeued = come_due(later, wall_clock, services)
        assert all(action == check for action, _ in requeued)  # the same check, queued again
    assert hops == 4  # 3600 s, 900 s at a time
    ((detail_type, detail),) = fakes.bus.published
    summary = ConversationSummary.model_validate(detail)
    assert detail_type == CONVERSATION_SUMMARIZED
    assert (summary.channel, summary.voipbin_id, summary.turns) == ("sms", None, 1)
    assert (summary.our_address, summary.customer, summary.decisions) == (OURS, "+1******4567", PARTS.decisions)
    assert summary.started_at is not None and summary.started_at == summary.ended_at  # the one text's time
    (email,) = simulator.sent_emails()
    assert email["subject"] == "SMS conversation summary, +1******4567: appointment booking"

    run_delayed(check, services)  # the last hop delivered again

    assert len(fakes.bus.published) == 1 and len(simulator.sent_emails()) == 1


def test_a_newer_message_makes_the_idle_check_moot_and_queues_its_own(
    fakes: Fakes, later: RecordingLater, wall_clock: FakeClock, llm: ScriptedLlm
) -> None:
    services = idle_services(fakes)
    reply_to_sms(text("Hi"), event_key="e1", services=services)
    ((first, _),) = later.of_kind("idle_summary")
    later.queued.clear()

    reply_to_sms(text("Are you open on Friday?"), event_key="e2", services=services)
    ((second, _),) = later.of_kind("idle_summary")
    later.queued.clear()
    run_delayed(first, services)

    assert later.queued == [] and fakes.bus.published == []
    assert second.turn == first.turn + 1


def test_a_text_channel_not_summarized_queues_no_idle_check(fakes: Fakes, later: RecordingLater) -> None:
    services = idle_services(fakes, agent_with(summary={"channels": ["voice"]}))

    reply_to_sms(text("Hi"), event_key="e1", services=services)

    assert later.of_kind("idle_summary") == []


# Each number's agent: its summaries, written with its prompt, to its inbox

SPANISH_LINE, SPANISH_DESK = "+34910000000", "recepcion@example.es"
TWO_LINES = Agents(
    agents={
        "ava": EMAILED,
        "sofia": agent_with(
            language="es-ES",
            summary_prompt="Resume la conversación en español.",
            summary={"email_to": SPANISH_DESK},
        ),
    },
    numbers={OURS: "ava", SPANISH_LINE: "sofia"},
    default="ava",
)


def test_a_calls_summary_is_its_numbers_agents_at_the_hangup(
    fakes: Fakes, llm: ScriptedLlm, memory_store: InMemoryStore, simulator: VoipbinSimulator
) -> None:
    call = Call.model_validate(simulator.add_call(CALLER, SPANISH_LINE))
    talked(call, fakes.services(TWO_LINES), memory_store, "¿Tienen citas el viernes?")
    llm.enqueue(Script.text(PARTS.model_dump_json()))

    end_call(call, fakes.services(TWO_LINES))  # the hangup's own services: the agent found from the session

    (request,) = [request for request in llm.requests if not request.stream]
    assert str(request.messages[0]["content"]).startswith("Resume la conversación en español.")
    ((_, detail),) = fakes.bus.published
    assert detail["our_address"] == SPANISH_LINE
    (email,) = simulator.sent_emails()
    assert [destination["target"] for destination in email["destinations"]] == [SPANISH_DESK]


def test_an_idle_threads_summary_is_its_numbers_agents_when_due(
    fakes: Fakes, later: RecordingLater, wall_clock: FakeClock, llm: ScriptedLlm, simulator: VoipbinSimulator
) -> None:
    llm.enqueue(Script.text("Sí, el viernes."), Script.text(PARTS.model_dump_json()))
    message = text("¿Tienen citas el viernes?").model_dump(mode="json")
    message["targets"][0]["destination"]["target"] = SPANISH_LINE

    reply_to_sms(Message.model_validate(message), event_key="e1", services=idle_services(fakes, TWO_LINES))
    while later.queued:
        come_due(later, wall_clock, idle_services(fakes, TWO_LINES))

    summary_request = [request for request in llm.requests if not request.stream][-1]
    assert str(summary_request.messages[0]["content"]).startswith("Resume la conversación en español.")
    ((_, detail),) = fakes.bus.published
    assert detail["our_address"] == SPANISH_LINE
    (email,) = simulator.sent_emails()
    assert [destination["target"] for destination in email["destinations"]] == [SPANISH_DESK]
