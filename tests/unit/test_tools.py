"""The tool box's limits, in code: schemas, calls per round and turn, texts and e-mails per conversation.

The store is the in-memory one; VoIPBin the simulator, in process: it records what the tools asked.
"""

import json
from typing import Any

import pytest

from local.voipbin_simulator import VoipbinSimulator
from tests.fakes.memory_store import InMemoryStore
from voipbin_ai.ai.llm import ToolCallRequest
from voipbin_ai.ai.tool_http import is_public
from voipbin_ai.ai.tools import (
    MAX_EMAIL_BODY_CHARS,
    MAX_EMAIL_SUBJECT_CHARS,
    Tool,
    ToolArgumentError,
    ToolBox,
    ToolContext,
    ToolPlan,
    ToolRefusedError,
    built_in_tools,
    sms_refusal,
    toolbox,
)
from voipbin_ai.config import DEFAULT_AGENT_FILE, ToolSettings
from voipbin_ai.models.agent import AgentConfig, EmailRules, Limits
from voipbin_ai.models.session import Channel, call_conversation_id
from voipbin_ai.voipbin.client import VoipbinClient

OURS, CALLER = "+15559876543", "+15551234567"
CALL_ID = "9c5e2a1d-6f4b-4e0a-9d2e-3b7c8a1f0e55"
CONVERSATION = call_conversation_id(CALL_ID)
DEFAULT_AGENT = AgentConfig.model_validate_json(DEFAULT_AGENT_FILE.read_text())


@pytest.fixture
def opened(memory_store: InMemoryStore) -> InMemoryStore:
    assert memory_store.start_call(CONVERSATION, caller=CALLER, callee=OURS)
    return memory_store


def texts(simulator: VoipbinSimulator) -> list[str]:
    """What VoIPBin was asked to text."""
    return [request.body["text"] for request in simulator.requests("POST", "/messages")]


def box(store: InMemoryStore, voipbin: VoipbinClient, agent: AgentConfig = DEFAULT_AGENT, **settings: str) -> ToolBox:
    return toolbox(agent, store=store, voipbin=lambda: voipbin, settings=ToolSettings.model_validate(settings))


def context(turn: int = 1, *, caller: str = CALLER, **fields: Any) -> ToolContext:
    return ToolContext(
        conversation_id=CONVERSATION,
        channel="voice",
        turn=turn,
        our_address=OURS,
        their_address=caller,
        call_id=CALL_ID,
        **fields,
    )


def sms(text: str, call_id: str = "") -> ToolCallRequest:
    return ToolCallRequest(id=call_id or f"call_{text}", name="send_sms", arguments=f'{{"text": "{text}"}}')


def results(tools: ToolBox, turn_context: ToolContext, *requests: ToolCallRequest) -> list[str]:
    return [outcome.result for outcome in tools.turn(turn_context).run_round(requests)]


# --- arguments -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        '{"text": 5}',
        '{"text": "   "}',
        '{"text": "hi", "to": "+19005551234"}',
        "{}",
        '["text"]',
        "not json",
        '{"text": "' + "x" * 321 + '"}',
    ],
)
def test_arguments_that_do_not_match_the_schema_run_nothing(
    opened: InMemoryStore, voipbin: VoipbinClient, simulator: VoipbinSimulator, arguments: str
) -> None:
    (result,) = results(box(opened, voipbin), context(), ToolCallRequest(id="c1", name="send_sms", arguments=arguments))

    assert result.startswith("error: invalid arguments")
    assert texts(simulator) == []


def test_a_tool_without_arguments_refuses_junk_ones(
    opened: InMemoryStore, voipbin: VoipbinClient, simulator: VoipbinSimulator
) -> None:
    tools = box(opened, voipbin)

    (outcome,) = tools.turn(context()).run_round([ToolCallRequest(id="t", name="end_call", arguments='{"to": "x"}')])

    assert outcome.result.startswith("error: invalid arguments") and outcome.after_reply is None
    assert simulator.requests() == []


# --- how many ------------------------------------------------------------------------------------


def test_texts_per_conversation_are_capped_whatever_the_model_asks(
    opened: InMemoryStore, voipbin: VoipbinClient, simulator: VoipbinSimulator
) -> None:
    tools = box(opened, voipbin)

    first = results(tools, context(1), sms("one"), sms("two"), sms("three"), sms("four"), sms("five"))
    later = results(tools, context(2), sms("six"))

    assert first[:2] == ["The text message was sent to the caller."] * 2
    assert first[2].startswith("refused: send_sms may run at most 2 time(s)")
    assert all(result.startswith("refused: too many tool calls") for result in first[3:])
    assert later[0].startswith("refused: send_sms may run at most 2")
    assert texts(simulator) == ["one", "two"]


def test_a_redelivered_turn_is_told_what_it_did_and_sends_nothing_more(
    opened: InMemoryStore, voipbin: VoipbinClient, simulator: VoipbinSimulator
) -> None:
    tools = box(opened, voipbin, DEFAULT_AGENT.model_copy(update={"limits": Limits(sms_per_conversation=1)}))

    first = results(tools, context(1), sms("one", "call_a"))
    again = results(tools, context(1), sms("one", "call_b"))  # a new provider id for the same call

    assert first == again == ["The text message was sent to the caller."]
    assert len(texts(simulator)) == 1


def test_tool_calls_are_capped_per_answer_and_per_turn(opened: InMemoryStore) -> None:
    ran: list[str] = []

    def plan(arguments: dict[str, Any], _: ToolContext) -> ToolPlan:
        def look_up() -> str:
            ran.append(arguments["n"])
            return "done"

        return ToolPlan(look_up)

    lookup = Tool(
        name="lookup",
        description="d",
        plan=plan,
        channels=frozenset({"voice"}),
        parameters={"type": "object", "properties": {"n": {"type": "string"}}, "required": ["n"]},
    )
    tools = ToolBox([lookup], store=opened, limits=Limits(tool_calls_per_round=2, tool_calls_per_turn=3))
    turn = tools.turn(context())

    def ask(*numbers: str) -> list[str]:
        requests = [ToolCallRequest(id=f"c{n}", name="lookup", arguments=f'{{"n": "{n}"}}') for n in numbers]
        return [outcome.result for outcome in turn.run_round(requests)]

    assert ask("1", "2", "3") == [
        "done",
        "done",
        "refused: too many tool calls; at most 2 per answer, fewer in a turn. Do not retry it.",
    ]
    assert ask("4", "5")[0] == "done" and ask("6")[0].startswith("refused")
    assert ran == ["1", "2", "4"]


# --- where a text may go -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "allowed", "refused"),
    [
        ("+15551234567", "", None),
        ("+447700900123", "", "texts go only to numbers of this business's countries"),
        ("+447700900123", "1,+44", None),
        ("+19005551234", "", "texts never go to premium-rate or shared-cost numbers"),
        ("12345", "", "the caller's number is not a phone number"),
    ],
)
def test_texts_go_only_to_allowed_countries_and_never_to_premium_numbers(
    number: str, allowed: str, refused: str | None
) -> None:
    settings = ToolSettings.model_validate({"SMS_ALLOWED_COUNTRY_CODES": allowed})

    refusal = sms_refusal(number, ours=OURS, settings=settings)

    assert refusal == refused if refused is None else refusal is not None and refusal.startswith(refused)


def test_a_refused_destination_is_told_to_the_model_and_nothing_is_sent(
    opened: InMemoryStore, voipbin: VoipbinClient, simulator: VoipbinSimulator
) -> None:
    (result,) = results(box(opened, voipbin), context(caller="+19005551234"), sms("win"))

    assert result.startswith("refused: texts never go to premium-rate")
    assert texts(simulator) == []


@pytest.mark.parametrize("codes", ["abc", "1234", "+"])
def test_country_codes_are_calling_codes(codes: str) -> None:
    with pytest.raises(ValueError, match="country calling codes"):
        ToolSettings.model_validate({"SMS_ALLOWED_COUNTRY_CODES": codes})


def test_private_tool_urls_are_refused_as_a_setting_in_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "voipbin-ai-TranscriptCreated")

    with pytest.raises(ValueError, match="for local runs"):
        ToolSettings.model_validate({"ALLOW_PRIVATE_TOOL_URLS": "true"})


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.8", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # the instance metadata service
        ("fd00:ec2::254", False),  # its IPv6 address
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("fe80::1%eth0", False),
        ("224.0.0.1", False),
    ],
)
def test_only_public_addresses_count_as_public(address: str, public: bool) -> None:
    assert is_public(address) is public


# --- e-mail --------------------------------------------------------------------------------------

FRONT_DESK = "frontdesk@example.com"


def emailing(*recipients: str, **limits: int) -> AgentConfig:
    """The default agent, allowed to e-mail these recipients."""
    return DEFAULT_AGENT.model_copy(
        update={"email": EmailRules(recipients=recipients), "limits": Limits.model_validate(limits)}
    )


def email(
    to: str = FRONT_DESK, subject: str = "Call back", body: str = "Ms Lee asks to move her check-up."
) -> ToolCallRequest:
    arguments = json.dumps({"to": to, "subject": subject, "body": body})
    return ToolCallRequest(id=f"call_{len(arguments)}_{body[:8]}", name="send_email", arguments=arguments)


def emails(simulator: VoipbinSimulator) -> list[Any]:
    """What VoIPBin was asked to e-mail."""
    return [request.body for request in simulator.requests("POST", "/emails")]


def offered(tools: ToolBox, channel: Channel) -> dict[str, Any]:
    return {schema["function"]["name"]: schema["function"]["parameters"] for schema in tools.schemas(channel)}


def test_send_email_is_offered_only_when_the_agent_names_recipients(
    opened: InMemoryStore, voipbin: VoipbinClient
) -> None:
    assert "send_email" not in offered(box(opened, voipbin), "voice")

    tools = box(opened, voipbin, emailing(FRONT_DESK, "billing@example.com"))

    # The model can choose no one else: the recipient is an enum of the allowed addresses.
    assert offered(tools, "voice")["send_email"]["properties"]["to"]["enum"] == [FRONT_DESK, "billing@example.com"]


def test_send_email_is_offered_where_the_other_side_is_known_not_on_the_open_web_chats(
    opened: InMemoryStore, voipbin: VoipbinClient
) -> None:
    tools = box(opened, voipbin, emailing(FRONT_DESK))

    where = {
        channel
        for channel in ("voice", "sms", "line", "whatsapp", "chat", "webchat")
        if "send_email" in offered(tools, channel)
    }

    assert where == {"voice", "sms", "line", "whatsapp"}


def test_an_email_to_an_allowed_address_is_sent_with_where_it_came_from(
    opened: InMemoryStore, voipbin: VoipbinClient, simulator: VoipbinSimulator
) -> None:
    (result,) = results(box(opened, voipbin, emailing(FRONT_DESK)), context(), email())

    assert result == f"The e-mail was sent to {FRONT_DESK}."
    (sent,) = emails(simulator)
    assert sent["destinations"] == [{"type": "email", "target": FRONT_DESK}]
    assert sent["subject"] == "Call back"
    assert sent["content"] == f"Ms Lee asks to move her check-up.\n\n--\nAva, from a voice conversation with {CALLER}"


@pytest.mark.parametrize(
    "to",
    [
        "attacker@evil.test",
        "frontdesk@example.com.evil.test",
        "billing@example.com",
        "frontdesk@example.com, attacker@evil.test",
        "",
    ],
)
def test_an_email_to_any_other_address_is_refused_and_nothing_is_sent(
    opened: InMemoryStore, voipbin: VoipbinClient, simulator: VoipbinSimulator, to: str
) -> None:
    (result,) = results(box(opened, voipbin, emailing(FRONT_DESK)), context(), email(to=to))

    assert result.startswith("error: invalid arguments")
    assert emails(simulator) == []


def test_an_allowed_domain_admits_its_addresses_and_no_other(
    opened: InMemoryStore, voipbin: VoipbinClient, simulator: VoipbinSimulator
) -> None:
    tools = box(opened, voipbin, emailing("@clinic.example.org"))

    sent = results(tools, context(), email(to="dr.lee@clinic.example.org"))
    refused = results(tools, context(), email(to="dr.lee@clinic.example.org.evil.test"))

    assert sent == ["The e-mail was sent to dr.lee@clinic.example.org."]
    assert refused[0].startswith("error: invalid arguments")
    assert [body["destinations"][0]["target"] for body in emails(simulator)] == ["dr.lee@clinic.example.org"]


def test_code_refuses_another_recipient_even_past_the_schema(opened: InMemoryStore, voipbin: VoipbinClient) -> None:
    (tool,) = [
        tool
        for tool in built_in_tools(emailing(FRONT_DESK), lambda: voipbin, ToolSettings())
        if tool.name == "send_email"
    ]

    with pytest.raises(ToolRefusedError, match="only to this business's own addresses"):
        tool.plan({"to": "attacker@evil.test", "subject": "Hi", "body": "Hi"}, context())
    with pytest.raises(ToolArgumentError, match="too long"):
        tool.plan({"to": FRONT_DESK, "subject": "Hi", "body": "x" * (MAX_EMAIL_BODY_CHARS + 1)}, context())


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        pytest.param("x" * (MAX_EMAIL_SUBJECT_CHARS + 1), "Hi", id="long-subject"),
        pytest.param("Call back\nBcc: attacker@evil.test", "Hi", id="two-line-subject"),
        pytest.param("   ", "Hi", id="blank-subject"),
        pytest.param("Call back", "x" * (MAX_EMAIL_BODY_CHARS + 1), id="long-body"),
        pytest.param("Call back", " \n ", id="blank-body"),
    ],
)
def test_an_email_out_of_bounds_is_refused_and_nothing_is_sent(
    opened: InMemoryStore, voipbin: VoipbinClient, simulator: VoipbinSimulator, subject: str, body: str
) -> None:
    (result,) = results(box(opened, voipbin, emailing(FRONT_DESK)), context(), email(subject=subject, body=body))

    assert result.startswith("error: invalid arguments")
    assert emails(simulator) == []


def test_a_redelivered_turn_worded_anew_sends_no_second_email(
    opened: InMemoryStore, voipbin: VoipbinClient, simulator: VoipbinSimulator
) -> None:
    tools = box(opened, voipbin, emailing(FRONT_DESK))

    first = results(tools, context(1), email(body="Ms Lee asks to move her check-up."))
    again = results(tools, context(1), email(body="Please call Ms Lee back about her check-up."))

    assert first == again == [f"The e-mail was sent to {FRONT_DESK}."]
    assert len(emails(simulator)) == 1


def test_emails_per_conversation_are_capped_and_count_in_the_tool_limits(
    opened: InMemoryStore, voipbin: VoipbinClient, simulator: VoipbinSimulator
) -> None:
    tools = box(
        opened, voipbin, emailing(FRONT_DESK, "billing@example.com", emails_per_conversation=2, tool_calls_per_round=2)
    )

    first = results(tools, context(1), email(), email(to="billing@example.com"), email(subject="Third"))
    later = results(tools, context(2), email(subject="Later"))

    assert first[:2] == [f"The e-mail was sent to {FRONT_DESK}.", "The e-mail was sent to billing@example.com."]
    assert first[2].startswith("refused: too many tool calls; at most 2 per answer")
    assert later == ["refused: send_email may run at most 2 time(s) in a conversation, and has"]
    assert len(emails(simulator)) == 2
