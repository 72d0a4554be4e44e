"""Texts and web chat (logic/sms.py, logic/chat.py) on the in-process fakes.

Asserts on what the simulator was asked to send and what the store holds.
"""

from collections.abc import Callable
from typing import Any

import pytest

from local.fake_openai import Script, tokenize
from local.voipbin_simulator import VoipbinSimulator
from tests.fakes.in_process import Fakes, RecordingLater, agent_with
from tests.fakes.memory_store import InMemoryStore
from tests.fakes.scripted_llm import ScriptedLlm
from tests.helpers import PHONE_IDS, sms_message
from voipbin_ai.config import ChatSettings
from voipbin_ai.exceptions import ChatBudgetSpentError, ChatRateLimitedError, InvalidChatSessionError
from voipbin_ai.logic.chat import ChatGate, reply_to_chat
from voipbin_ai.logic.services import Services
from voipbin_ai.logic.sms import reply_to_sms
from voipbin_ai.models.voipbin import Message

THEIRS, OURS = "+15551234567", "+15559876543"
KEY = b"chat-session-key-for-tests"


def text(words: str, *, direction: str = "inbound", sender: str = THEIRS, to: str = OURS) -> Message:
    return sms_message(words, sender=sender, to=to, direction=direction)


@pytest.fixture
def sms_services(fakes: Fakes) -> Services:
    return fakes.services(SMS_BURST_SECONDS="0")


def sent(simulator: VoipbinSimulator) -> list[dict[str, Any]]:
    return [request.body for request in simulator.requests("POST", "/messages")]


def test_an_inbound_text_is_answered_from_the_number_it_was_sent_to(
    sms_services: Services, llm: ScriptedLlm, simulator: VoipbinSimulator, memory_store: InMemoryStore
) -> None:
    llm.enqueue(Script.text("We open at **eight**."))

    reply_to_sms(text("When do you open?"), event_key="e1", services=sms_services)

    assert sent(simulator) == [
        {
            "source": {"type": "tel", "target": OURS},
            "destinations": [{"type": "tel", "target": THEIRS}],
            "text": "We open at eight.",
        }
    ]
    history = memory_store.history(PHONE_IDS.sms_conversation(OURS, THEIRS), limit=10)
    assert [(message.role, message.text) for message in history] == [
        ("user", "When do you open?"),
        ("assistant", "We open at eight."),
    ]


def test_an_answered_text_counts_among_the_sms_replies(
    sms_services: Services, llm: ScriptedLlm, emitted: Callable[[], dict[str, list[float]]]
) -> None:
    llm.enqueue(Script.text("We open at eight."))

    reply_to_sms(text("When do you open?"), event_key="e1", services=sms_services)

    assert emitted()["SmsReplies"] == [1.0]


@pytest.mark.parametrize(
    "message",
    [text("Our own reply", direction="outbound"), text("From ourselves", sender=OURS), text("Hi", to="")],
    ids=["our own reply", "our own number", "no destination"],
)
def test_texts_that_are_not_a_customers_are_not_answered(
    sms_services: Services, llm: ScriptedLlm, simulator: VoipbinSimulator, message: Message
) -> None:
    reply_to_sms(message, event_key="e1", services=sms_services)

    assert sent(simulator) == [] and llm.requests == []


def test_a_text_delivered_twice_is_answered_once(
    sms_services: Services, llm: ScriptedLlm, simulator: VoipbinSimulator
) -> None:
    message = text("Hello?")
    llm.enqueue(Script.text("Hi!"), Script.text("Hi!"))

    for _ in range(2):  # VoIPBin sends each inbound SMS twice; the event key is the same
        reply_to_sms(message, event_key="same-event", services=sms_services)

    assert len(sent(simulator)) == 1


def test_a_newer_text_takes_over_a_reply_not_sent_yet(
    sms_services: Services, llm: ScriptedLlm, simulator: VoipbinSimulator
) -> None:
    llm.enqueue(Script.text("First answer."), Script.text("The answer to both."))
    llm.interject(1, lambda: reply_to_sms(text("And on Saturdays?"), event_key="e2", services=sms_services))

    reply_to_sms(text("When do you open?"), event_key="e1", services=sms_services)

    assert [body["text"] for body in sent(simulator)] == ["The answer to both."]


def test_the_last_turn_sends_the_closing_line_and_ends_the_thread(
    fakes: Fakes, llm: ScriptedLlm, simulator: VoipbinSimulator, memory_store: InMemoryStore
) -> None:
    agent = agent_with(limits={"max_turns": 1})
    services = fakes.services(agent, SMS_BURST_SECONDS="0")
    reply_to_sms(text("One"), event_key="e1", services=services)

    reply_to_sms(text("Two"), event_key="e2", services=services)
    reply_to_sms(text("Three"), event_key="e3", services=services)

    assert [body["text"] for body in sent(simulator)][1:] == [agent.channels.sms.closing]
    session = memory_store.get_session(PHONE_IDS.sms_conversation(OURS, THEIRS))
    assert session is not None and not session.active


def test_a_burst_of_texts_is_answered_once_after_its_window(
    services: Services, llm: ScriptedLlm, simulator: VoipbinSimulator, later: RecordingLater
) -> None:
    llm.enqueue(Script.text("Friday it is."))
    for n, words in enumerate(("I need to move my appointment", "to Friday please")):
        reply_to_sms(text(words), event_key=f"e{n}", services=services)

    assert [(action.kind, action.turn, seconds) for action, seconds in later.queued] == [
        ("answer_text", 1, 1.0),  # SMS_BURST_SECONDS, waited in the queue rather than in a function
        ("answer_text", 2, 1.0),
    ]
    assert sent(simulator) == [] and llm.requests == []
    later.run_all(services)
    assert [body["text"] for body in sent(simulator)] == ["Friday it is."]
    (request,) = llm.requests
    assert [message["content"] for message in request.messages[1:]] == [
        "I need to move my appointment",
        "to Friday please",
    ]


# --- web chat ------------------------------------------------------------------------------------


def gate(**settings: int) -> ChatGate:
    return ChatGate(key=KEY, settings=ChatSettings.model_validate({k.upper(): v for k, v in settings.items()}))


def test_a_first_message_opens_a_session_and_the_next_continues_it(
    services: Services, llm: ScriptedLlm, memory_store: InMemoryStore
) -> None:
    llm.enqueue(Script.text("Hello! How can I help?"), Script.text("We open at eight."))

    first = reply_to_chat(None, "Hi", source_address="203.0.113.7", gate=gate(), services=services)
    second = reply_to_chat(first.session_id, "Hours?", source_address="203.0.113.7", gate=gate(), services=services)

    assert (first.text, second.text) == ("Hello! How can I help?", "We open at eight.")
    assert second.session_id == first.session_id
    assert [message["content"] for message in llm.requests[-1].messages[1:]] == [
        "Hi",
        "Hello! How can I help?",
        "Hours?",
    ]


def test_a_session_not_issued_here_is_refused_before_the_llm(services: Services, llm: ScriptedLlm) -> None:
    with pytest.raises(InvalidChatSessionError):
        reply_to_chat("made-up.session", "Hi", source_address="203.0.113.7", gate=gate(), services=services)

    assert llm.requests == []


def test_too_many_messages_a_minute_are_refused(services: Services, llm: ScriptedLlm) -> None:
    limits = gate(chat_session_messages_per_minute=2)
    session_id = reply_to_chat(None, "1", source_address="203.0.113.7", gate=limits, services=services).session_id
    reply_to_chat(session_id, "2", source_address="203.0.113.7", gate=limits, services=services)

    with pytest.raises(ChatRateLimitedError):
        reply_to_chat(session_id, "3", source_address="203.0.113.7", gate=limits, services=services)
    assert len(llm.requests) == 2
    # Another session from another address is not held up by this one.
    reply_to_chat(None, "Hi", source_address="198.51.100.1", gate=limits, services=services)


def test_a_spent_budget_closes_the_chat_for_the_day(services: Services, llm: ScriptedLlm) -> None:
    budget = gate(chat_daily_token_budget=5)
    llm.enqueue(Script.text("A reply of more than five tokens, as counted."))
    reply_to_chat(None, "Hi", source_address="203.0.113.7", gate=budget, services=services)

    with pytest.raises(ChatBudgetSpentError):
        reply_to_chat(None, "Hi", source_address="198.51.100.1", gate=budget, services=services)
    assert len(llm.requests) == 1


def test_each_chat_answer_counts_and_reports_the_share_of_the_budget_spent_today(
    services: Services, llm: ScriptedLlm, emitted: Callable[[], dict[str, list[float]]]
) -> None:
    replies = ("Hello! How can I help?", "We open at eight.")
    llm.enqueue(*(Script.text(reply) for reply in replies))
    budget = gate(chat_daily_token_budget=200)

    first = reply_to_chat(None, "Hi", source_address="203.0.113.7", gate=budget, services=services)
    reply_to_chat(first.session_id, "Hours?", source_address="203.0.113.7", gate=budget, services=services)

    # The scripted LLM counts a reply's streamed tokens as its usage.
    first_tokens, second_tokens = (len(tokenize(reply)) for reply in replies)
    assert emitted()["ChatReplies"] == [1.0, 1.0]
    assert emitted()["ChatBudgetUsedPercent"] == [first_tokens / 2, (first_tokens + second_tokens) / 2]
