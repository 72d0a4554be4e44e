"""VoIPBin's conversation channels (logic/conversations.py, logic/texts.py) on the in-process fakes.

LINE, WhatsApp and the web chat widget are answered through POST /conversations/{id}/messages, as SMS
threads are through POST /messages: the simulator records what was sent, the store what was said.
"""

from collections.abc import Callable
from typing import Any

import pytest

from local.fake_openai import Script
from local.voipbin_simulator import VoipbinSimulator
from tests.fakes.in_process import DEFAULT_AGENT, Fakes, RecordingLater
from tests.fakes.memory_store import InMemoryStore
from tests.fakes.scripted_llm import FakeClock, ScriptedLlm
from tests.helpers import PHONE_IDS
from voipbin_ai.logic.conversations import reply_to_conversation_message
from voipbin_ai.logic.services import Services
from voipbin_ai.models.agent import AgentConfig
from voipbin_ai.models.session import voipbin_conversation_id
from voipbin_ai.models.voipbin import ConversationMessage

LINE_USER = "U4af4980629d3c1a7e8b2f5c6d9e0a1b2"
WHATSAPP_USER = "15551234567"  # WhatsApp's ids are phone numbers without the plus


def incoming(simulator: VoipbinSimulator, conversation: dict[str, Any], text: str) -> ConversationMessage:
    """The customer writes: the conversation_message_created VoIPBin sends for it."""
    return ConversationMessage.model_validate(simulator.add_conversation_message(conversation["id"], text))


def sent(simulator: VoipbinSimulator, conversation: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    prefix = f"/conversations/{conversation['id']}/messages" if conversation else "/conversations/"
    return [request.body for request in simulator.requests("POST", prefix)]


@pytest.fixture
def at_once(fakes: Fakes) -> Services:
    return fakes.services(SMS_BURST_SECONDS="0")


def test_a_line_message_is_answered_in_its_conversation_in_lines_rules(
    at_once: Services, llm: ScriptedLlm, simulator: VoipbinSimulator, memory_store: InMemoryStore
) -> None:
    conversation = simulator.add_conversation("line", LINE_USER, peer_name="Jane")
    llm.enqueue(Script.text("We are open **Saturday** from 9 to 13."))

    reply_to_conversation_message(
        incoming(simulator, conversation, "Open on Saturday?"), event_key="e1", services=at_once
    )

    assert sent(simulator) == [{"text": "We are open Saturday from 9 to 13.", "medias": []}]
    assert sent(simulator, conversation) == sent(simulator)
    (request,) = llm.requests
    assert "You are replying on LINE" in str(request.messages[0]["content"])
    history = memory_store.history(voipbin_conversation_id(conversation["id"]), limit=10)
    assert [(message.role, message.text) for message in history] == [
        ("user", "Open on Saturday?"),
        ("assistant", "We are open Saturday from 9 to 13."),
    ]
    assert simulator.requests("POST", "/messages") == []


def test_an_answered_conversation_message_counts_among_the_conversation_replies(
    at_once: Services, llm: ScriptedLlm, simulator: VoipbinSimulator, emitted: Callable[[], dict[str, list[float]]]
) -> None:
    conversation = simulator.add_conversation("whatsapp", WHATSAPP_USER)
    llm.enqueue(Script.text("We open at eight."))

    reply_to_conversation_message(incoming(simulator, conversation, "When?"), event_key="e1", services=at_once)

    assert emitted()["ConversationReplies"] == [1.0]
    assert "SmsReplies" not in emitted()


def test_a_whatsapp_reply_is_in_whatsapps_formatting_and_length(
    fakes: Fakes, llm: ScriptedLlm, simulator: VoipbinSimulator
) -> None:
    agent = AgentConfig.model_validate(
        {
            **DEFAULT_AGENT.model_dump(),
            "channels": {
                **DEFAULT_AGENT.channels.model_dump(),
                "whatsapp": {**DEFAULT_AGENT.channels.model_dump()["whatsapp"], "max_characters": 40},
            },
        }
    )
    conversation = simulator.add_conversation("whatsapp", WHATSAPP_USER)
    llm.enqueue(Script.text("A check-up is **$80**, a cleaning **$95**, and both take about an hour."))

    message = incoming(simulator, conversation, "Prices?")
    reply_to_conversation_message(message, event_key="e1", services=fakes.services(agent, SMS_BURST_SECONDS="0"))

    assert [body["text"] for body in sent(simulator)] == ["A check-up is *$80*, a cleaning..."]


def test_our_own_replies_an_sms_copy_and_unserved_channels_are_never_answered(
    fakes: Fakes, at_once: Services, llm: ScriptedLlm, simulator: VoipbinSimulator
) -> None:
    conversation = simulator.add_conversation("line", LINE_USER)
    reply_to_conversation_message(incoming(simulator, conversation, "Hi"), event_key="e1", services=at_once)
    (echo,) = [m for m in simulator.resources("conversation_messages") if m["direction"] == "outgoing"]
    sms_copy = {**incoming(simulator, conversation, "An SMS").model_dump(), "reference_type": "message"}
    without_line = DEFAULT_AGENT.model_dump()
    del without_line["channels"]["line"]

    reply_to_conversation_message(ConversationMessage.model_validate(echo), event_key="e2", services=at_once)
    reply_to_conversation_message(ConversationMessage.model_validate(sms_copy), event_key="e3", services=at_once)
    unserved = fakes.services(AgentConfig.model_validate(without_line), SMS_BURST_SECONDS="0")
    reply_to_conversation_message(incoming(simulator, conversation, "Hello?"), event_key="e4", services=unserved)

    assert len(sent(simulator)) == 1 and len(llm.requests) == 1


def test_a_message_delivered_twice_is_answered_once(
    at_once: Services, llm: ScriptedLlm, simulator: VoipbinSimulator
) -> None:
    message = incoming(simulator, simulator.add_conversation("webchat", "6b1d7f2e-3c4a-4b5d-8e9f-0a1b2c3d4e5f"), "Hi")

    for _ in range(2):
        reply_to_conversation_message(message, event_key="same-event", services=at_once)

    assert len(sent(simulator)) == 1


def test_a_burst_is_answered_once_with_the_latest_after_its_window(
    services: Services, llm: ScriptedLlm, simulator: VoipbinSimulator, later: RecordingLater
) -> None:
    conversation = simulator.add_conversation("whatsapp", WHATSAPP_USER)
    llm.enqueue(Script.text("Friday at ten is free."))
    for n, words in enumerate(("I need to move my appointment", "to Friday please")):
        reply_to_conversation_message(incoming(simulator, conversation, words), event_key=f"e{n}", services=services)

    assert [(action.kind, action.turn, seconds) for action, seconds in later.queued] == [
        ("answer_text", 1, 1.0),
        ("answer_text", 2, 1.0),
    ]
    later.run_all(services)

    assert [body["text"] for body in sent(simulator)] == ["Friday at ten is free."]
    (request,) = llm.requests
    assert [m["content"] for m in request.messages[1:]] == ["I need to move my appointment", "to Friday please"]


def test_a_conversation_idle_for_a_day_starts_afresh(
    llm: ScriptedLlm, simulator: VoipbinSimulator, fakes: Fakes
) -> None:
    clock = FakeClock(start=1_800_000_000.0)
    fakes.store = InMemoryStore(clock=clock)
    services = fakes.services(SMS_BURST_SECONDS="0", CONVERSATION_IDLE_HOURS="24")
    conversation = simulator.add_conversation("line", LINE_USER)
    reply_to_conversation_message(incoming(simulator, conversation, "Hi, I'm Jane"), event_key="e1", services=services)
    clock.advance(23 * 3600)
    reply_to_conversation_message(incoming(simulator, conversation, "Still there?"), event_key="e2", services=services)

    clock.advance(24 * 3600 + 1)
    reply_to_conversation_message(incoming(simulator, conversation, "Hello"), event_key="e3", services=services)

    same, fresh = llm.requests[1], llm.requests[2]
    assert [m["content"] for m in same.messages[1:]][::2] == ["Hi, I'm Jane", "Still there?"]
    assert [m["content"] for m in fresh.messages[1:]] == ["Hello"]
    assert len(sent(simulator)) == 3


def test_a_whatsapp_user_shares_the_memory_of_their_phone_number(
    fakes: Fakes, llm: ScriptedLlm, simulator: VoipbinSimulator, memory_store: InMemoryStore
) -> None:
    memory_store.remember_contact(PHONE_IDS.contact("+" + WHATSAPP_USER), "They called about a check-up.")
    services = fakes.services(SMS_BURST_SECONDS="0", CROSS_CHANNEL_MEMORY="true")
    llm.enqueue(Script.text("Welcome back!"), Script.text("They wrote on WhatsApp."))
    conversation = simulator.add_conversation("whatsapp", WHATSAPP_USER)

    reply_to_conversation_message(incoming(simulator, conversation, "Hi again"), event_key="e1", services=services)

    assert "They called about a check-up." in str(llm.requests[0].messages[1]["content"])
    assert memory_store.contact_memory(PHONE_IDS.contact("+" + WHATSAPP_USER)) == "They wrote on WhatsApp."
