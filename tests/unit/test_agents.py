"""Agents per number: the configuration's validation, which agent answers what, and each agent on its channels.

Asserts on what the simulator received, what the scripted LLM was sent and the ConfigurationError's text.
"""

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from local.fake_openai import Script, ToolCall
from local.voipbin_simulator import VoipbinSimulator
from tests.fakes.in_process import DEFAULT_AGENT, Fakes, agent_with, engine_of
from tests.fakes.memory_store import InMemoryStore
from tests.fakes.scripted_llm import ScriptedLlm
from tests.helpers import PHONE_IDS, sms_message
from voipbin_ai import config
from voipbin_ai.exceptions import ChatNotServedError, ConfigurationError
from voipbin_ai.knowledge.index import build
from voipbin_ai.logic.calls import answer_call
from voipbin_ai.logic.chat import ChatGate, reply_to_chat
from voipbin_ai.logic.conversations import reply_to_conversation_message
from voipbin_ai.logic.services import Services
from voipbin_ai.logic.sms import reply_to_sms
from voipbin_ai.logic.voice import reply_to_transcript
from voipbin_ai.models.agent import SINGLE_AGENT_ID, AgentConfig, Agents, Knowledge
from voipbin_ai.models.session import call_conversation_id
from voipbin_ai.models.voipbin import Call, ConversationMessage, Message, Transcript

CALLER, ENGLISH_LINE, SPANISH_LINE = "+15551234567", "+15559876543", "+34910000000"
SOFIA = agent_with(
    name="Sofia",
    persona="Eres Sofía, la asistente de la Clínica Dental Ejemplo.",
    greeting="Hola, soy Sofía. ¿En qué puedo ayudarle?",
    language="es-ES",
)
TWO_LINES = Agents(
    agents={"ava": DEFAULT_AGENT, "sofia": SOFIA},
    numbers={ENGLISH_LINE: "ava", SPANISH_LINE: "sofia"},
    default="ava",
)


def two_lines(**changes: Any) -> dict[str, Any]:
    """The two agents' configuration as JSON data, with top-level fields replaced."""
    return {
        "agents": {"ava": DEFAULT_AGENT.model_dump(), "sofia": SOFIA.model_dump()},
        "numbers": {ENGLISH_LINE: "ava", SPANISH_LINE: "sofia"},
        "default": "ava",
        **changes,
    }


def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Agents:
    path = tmp_path / "agents.json"
    path.write_text(text)
    monkeypatch.setenv("AGENT_CONFIG_FILE", str(path))
    return config.agent_config()


# The configuration, as loaded


def test_two_agents_load_with_their_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    agents = load(tmp_path, monkeypatch, json.dumps(two_lines()))

    assert agents == TWO_LINES


def test_an_old_single_agent_file_loads_as_the_default_agent_of_every_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agents = load(tmp_path, monkeypatch, json.dumps(DEFAULT_AGENT.model_dump()))

    assert agents.agents == {SINGLE_AGENT_ID: DEFAULT_AGENT} and agents.default == SINGLE_AGENT_ID
    assert agents.of_number("+15550000000") == DEFAULT_AGENT


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"numbers": {"5559876543": "ava"}}, r"numbers: .*'5559876543' is not an E\.164 number"),
        ({"numbers": {"+1 555 987 6543": "ava"}}, r"numbers: .*'\+1 555 987 6543' is not an E\.164 number"),
        ({"numbers": {SPANISH_LINE: "carmen"}}, rf"numbers\.{re.escape(SPANISH_LINE)}: no agent 'carmen'"),
        ({"default": "nobody"}, r"default: no agent 'nobody'"),
        ({"chat": "nobody"}, r"chat: no agent 'nobody'"),
        ({"agents": {}}, r"agents: .*at least 1"),
        ({"agents": {"ava line": DEFAULT_AGENT.model_dump()}}, r"agents: .*agent id 'ava line'"),
        ({"persona": "stray"}, r"persona: Extra inputs are not permitted"),
    ],
    ids=["no plus", "spaces", "unknown agent", "unknown default", "unknown chat agent", "none", "bad id", "mixed"],
)
def test_a_mistake_in_the_agents_names_the_field_and_loads_nothing(
    changes: dict[str, Any], named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match=rf"agents\.json: .*{named}"):
        load(tmp_path, monkeypatch, json.dumps(two_lines(**changes)))


def test_a_mistake_inside_one_agent_names_the_agent_and_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = two_lines()
    data["agents"]["sofia"]["language"] = "Spanish"

    with pytest.raises(ConfigurationError, match=r"agents\.sofia\.language: String should match pattern"):
        load(tmp_path, monkeypatch, json.dumps(data))


def test_a_number_written_twice_fails_the_load_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    agents = json.dumps({"ava": DEFAULT_AGENT.model_dump(), "sofia": SOFIA.model_dump()})
    text = f'{{"agents": {agents}, "numbers": {{"{SPANISH_LINE}": "ava", "{SPANISH_LINE}": "sofia"}}}}'

    with pytest.raises(ConfigurationError, match=rf"{re.escape(SPANISH_LINE)}: written more than once"):
        load(tmp_path, monkeypatch, text)


@pytest.mark.parametrize("variable", ["ANSWER_NUMBERS", "TRANSCRIBE_LANGUAGE", "SPEAKING_VOICE_ID"])
def test_a_setting_moved_into_the_agents_fails_loudly_when_still_set(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, "+15559876543")
    config.channel_settings.cache_clear()

    with pytest.raises(ConfigurationError, match=rf"agent configuration instead: {variable} \(now "):
        config.channel_settings()


# Which agent answers


def test_each_number_has_its_agent_and_any_other_the_default() -> None:
    assert TWO_LINES.of_number(SPANISH_LINE) == SOFIA
    assert TWO_LINES.of_number(ENGLISH_LINE) == DEFAULT_AGENT
    assert TWO_LINES.of_number("+15550000000") == DEFAULT_AGENT


def test_without_a_default_other_numbers_and_numberless_channels_are_not_served() -> None:
    agents = TWO_LINES.model_copy(update={"default": None})

    assert agents.of_number("+15550000000") is None
    assert [agents.of_conversation(channel, "") for channel in ("line", "webchat", "chat")] == [None, None, None]
    assert agents.of_conversation("voice", SPANISH_LINE) == SOFIA


def test_whatsapp_to_our_business_number_is_that_numbers_agent() -> None:
    assert TWO_LINES.of_conversation("whatsapp", SPANISH_LINE.removeprefix("+")) == SOFIA
    assert TWO_LINES.of_conversation("line", "") == DEFAULT_AGENT


def test_the_web_chat_is_the_chat_agents_else_the_defaults() -> None:
    assert TWO_LINES.of_conversation("chat", "") == DEFAULT_AGENT
    assert TWO_LINES.model_copy(update={"chat": "sofia"}).of_conversation("chat", "") == SOFIA


@pytest.mark.parametrize(
    ("fields", "voice"),
    [
        ({}, ("en-US", "", "EXAVITQu4vr4xnSDxMaL")),
        ({"language": "es-ES"}, ("es-ES", "", "UOIqAnmS11Reiei1Ytkc")),
        (
            {"language": "ja-JP", "speaking": {"provider": "elevenlabs"}},
            ("ja-JP", "elevenlabs", "PmgfHCGeS5b7sH90BOOJ"),
        ),
        ({"language": "es-MX", "speaking": {"language": "en-US"}}, ("en-US", "", "EXAVITQu4vr4xnSDxMaL")),
        ({"language": "sv-SE"}, ("sv-SE", "", "")),
        ({"language": "es-ES", "speaking": {"provider": "gcp"}}, ("es-ES", "gcp", "")),
        ({"speaking": {"voice_id": "custom-voice"}}, ("en-US", "", "custom-voice")),
    ],
    ids=["english", "spanish", "japanese", "speaking language", "no table voice", "other provider", "own voice"],
)
def test_the_voice_defaults_to_voipbins_elevenlabs_voice_of_the_language(
    fields: dict[str, Any], voice: tuple[str, str, str]
) -> None:
    resolved = AgentConfig.model_validate(DEFAULT_AGENT.model_dump() | fields).voice

    assert (resolved.language, resolved.provider, resolved.voice_id) == voice


# Each agent on its channels, through the logic


def test_a_call_to_the_spanish_line_is_answered_by_its_agent_in_its_language_and_voice(
    fakes: Fakes, simulator: VoipbinSimulator, llm: ScriptedLlm
) -> None:
    services = fakes.services(TWO_LINES)
    call = Call.model_validate(simulator.add_call(CALLER, SPANISH_LINE))

    assert answer_call(call, services)

    (transcribe,) = simulator.requests("POST", "/transcribes")
    (speaking,) = [request for request in simulator.requests("POST") if request.path == "/v1.0/speakings"]
    assert transcribe.body["language"] == "es-ES"
    assert (speaking.body["language"], speaking.body["voice_id"]) == ("es-ES", "UOIqAnmS11Reiei1Ytkc")
    assert simulator.said_texts() == [SOFIA.greeting]
    # Every later turn is the same agent's: found again from the number the session keeps.
    llm.enqueue(Script.text("Abrimos a las ocho."))
    (transcribe_id,) = [resource["id"] for resource in simulator.resources("transcribes")]
    transcript = Transcript.model_validate(simulator.add_transcript(transcribe_id, "¿A qué hora abren?"))
    reply_to_transcript(transcript, event_key="t1", started_at=0.0, services=fakes.services(TWO_LINES))
    assert str(llm.requests[-1].messages[0]["content"]).startswith(SOFIA.persona)
    assert simulator.said_texts()[-1] == "Abrimos a las ocho."


def test_a_call_to_a_number_no_agent_serves_is_left_alone(
    fakes: Fakes, simulator: VoipbinSimulator, memory_store: InMemoryStore
) -> None:
    call = Call.model_validate(simulator.add_call(CALLER, "+15550000000"))

    assert not answer_call(call, fakes.services(TWO_LINES.model_copy(update={"default": None})))
    assert simulator.requests() == [] and memory_store.get_session(call_conversation_id(call.id)) is None


def sms(words: str, *, sender: str = CALLER, to: str = SPANISH_LINE) -> Message:
    return sms_message(words, sender=sender, to=to)


def test_a_text_to_the_spanish_line_is_answered_by_its_agent_after_the_burst(
    fakes: Fakes, simulator: VoipbinSimulator, llm: ScriptedLlm
) -> None:
    llm.enqueue(Script.text("Sí, el viernes hay citas."))
    services = fakes.services(TWO_LINES)

    reply_to_sms(sms("¿Tienen citas el viernes?"), event_key="e1", services=services)
    fakes.later.run_all(fakes.services(TWO_LINES))  # the delayed answer picks the agent from the session

    assert str(llm.requests[0].messages[0]["content"]).startswith(SOFIA.persona)
    (reply,) = simulator.requests("POST", "/messages")
    assert reply.body["source"]["target"] == SPANISH_LINE and reply.body["text"] == "Sí, el viernes hay citas."


def test_a_text_from_one_of_our_numbers_is_not_answered(fakes: Fakes, simulator: VoipbinSimulator) -> None:
    reply_to_sms(sms("Ping", sender=ENGLISH_LINE), event_key="e1", services=fakes.services(TWO_LINES))
    fakes.later.run_all(fakes.services(TWO_LINES))

    assert simulator.requests("POST", "/messages") == []
    assert fakes.store.get_session(PHONE_IDS.sms_conversation(SPANISH_LINE, ENGLISH_LINE)) is None


def test_a_whatsapp_message_to_the_spanish_business_number_is_its_agents(
    fakes: Fakes, simulator: VoipbinSimulator, llm: ScriptedLlm
) -> None:
    conversation = simulator.add_conversation("whatsapp", "34600111222")
    message = simulator.add_conversation_message(conversation["id"], "Hola")
    data = {**message, "destination": {"type": "whatsapp", "target": SPANISH_LINE.removeprefix("+")}}

    reply_to_conversation_message(
        ConversationMessage.model_validate(data),
        event_key="e1",
        services=fakes.services(TWO_LINES, SMS_BURST_SECONDS="0"),
    )

    assert str(llm.requests[0].messages[0]["content"]).startswith(SOFIA.persona)
    assert len(simulator.requests("POST", f"/conversations/{conversation['id']}/messages")) == 1


def test_the_web_chat_without_an_agent_is_not_served(fakes: Fakes, llm: ScriptedLlm) -> None:
    gate = ChatGate(key=b"key", settings=config.ChatSettings())
    phones_only = TWO_LINES.model_copy(update={"default": None})

    with pytest.raises(ChatNotServedError):
        reply_to_chat(None, "Hi", source_address="192.0.2.1", gate=gate, services=fakes.services(phones_only))
    assert llm.requests == []


def test_each_agent_searches_its_own_knowledge_set_and_one_without_knowledge_offers_no_search(
    fakes: Fakes, simulator: VoipbinSimulator, llm: ScriptedLlm, tmp_path: Path
) -> None:
    documents = tmp_path / "knowledge"
    (documents / "clinic").mkdir(parents=True)
    (documents / "clinic" / "prices.md").write_text("# Prices\n\nTeeth whitening costs $350.\n")
    (documents / "clinica").mkdir()
    (documents / "clinica" / "precios.md").write_text("# Precios\n\nEl blanqueamiento cuesta 300 euros.\n")
    index = tmp_path / "index.sqlite3"
    build(documents, index)
    third_line = "+15550001111"
    agents = Agents(
        agents={
            "ava": agent_with(knowledge={"folder": "clinic"}),
            "sofia": SOFIA.model_copy(update={"knowledge": Knowledge(folder="clinica")}),
            "plain": agent_with(knowledge=None),
        },
        numbers={ENGLISH_LINE: "ava", SPANISH_LINE: "sofia", third_line: "plain"},
    )

    def services() -> Services:
        """The fakes' services, each agent's engine reading the test's index."""
        return replace(
            fakes.services(agents),
            _engines=lambda agent: engine_of(
                agent, llm=llm, store=fakes.store, voipbin=fakes.voipbin, KNOWLEDGE_INDEX_FILE=str(index)
            ),
        )

    told: dict[str, str] = {}
    for line in (ENGLISH_LINE, SPANISH_LINE):
        llm.enqueue(
            Script.tools(ToolCall("search_knowledge", json.dumps({"query": "whitening blanqueamiento"}))),
            Script.text("Done."),
        )
        reply_to_sms(sms("How much is whitening?", to=line), event_key=f"e-{line}", services=services())
        fakes.later.run_all(services())
        told[line] = str(llm.requests[-1].messages[-1]["content"])
    reply_to_sms(sms("How much is whitening?", to=third_line), event_key="e-plain", services=services())
    fakes.later.run_all(services())

    assert told == {
        ENGLISH_LINE: "[1] prices.md (Prices)\nTeeth whitening costs $350.",
        SPANISH_LINE: "[1] precios.md (Precios)\nEl blanqueamiento cuesta 300 euros.",
    }
    assert "search_knowledge" not in llm.requests[-1].tool_names
    assert all("search_knowledge" in request.tool_names for request in llm.requests[:-1])
