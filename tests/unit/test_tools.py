"""The tool box's limits, in code: schemas, calls per round and turn, texts per conversation.

The store is the in-memory one; VoIPBin the simulator, in process: it records what the tools asked.
"""

from typing import Any

import pytest

from local.voipbin_simulator import VoipbinSimulator
from tests.fakes.memory_store import InMemoryStore
from voipbin_ai.ai.llm import ToolCallRequest
from voipbin_ai.ai.tool_http import is_public
from voipbin_ai.ai.tools import Tool, ToolBox, ToolContext, ToolPlan, sms_refusal, toolbox
from voipbin_ai.config import DEFAULT_AGENT_FILE, ToolSettings
from voipbin_ai.models.agent import AgentConfig, Limits
from voipbin_ai.models.session import call_conversation_id
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
