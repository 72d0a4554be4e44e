"""The agent's configuration: the file in the layer, a local file, or an SSM parameter; validated."""

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from pydantic import ValidationError

from voipbin_ai import config
from voipbin_ai.exceptions import ConfigurationError
from voipbin_ai.models.agent import SINGLE_AGENT_ID, AgentConfig, EmailRules, HttpTool


def shipped_agent() -> AgentConfig:
    """The agent as configured: an old single-agent file (the layer's is one) loads as the default agent."""
    return config.agent_config().agents[SINGLE_AGENT_ID]


def default_agent_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(config.DEFAULT_AGENT_FILE.read_text())
    return data


def test_the_layer_ships_a_valid_default_agent() -> None:
    agent = shipped_agent()

    assert agent.name == "Ava"
    assert agent.channels.sms.max_segments == 2
    assert {channel: agent.channels.of(channel).deadline_seconds > 0 for channel in ("voice", "sms", "chat")} == {
        "voice": True,
        "sms": True,
        "chat": True,
    }


def test_the_default_agent_answers_on_line_whatsapp_and_the_web_chat_widget_in_their_formats() -> None:
    channels = shipped_agent().channels

    assert all(channels.serves(channel) for channel in ("line", "whatsapp", "webchat"))
    assert [rules.formatting for rules in (channels.line, channels.whatsapp, channels.webchat) if rules] == [
        "plain",
        "whatsapp",
        "plain",
    ]


def test_a_conversation_channel_without_rules_is_not_served() -> None:
    from tests.fakes.in_process import DEFAULT_AGENT

    data = DEFAULT_AGENT.model_dump()
    del data["channels"]["line"]
    channels = AgentConfig.model_validate(data).channels

    assert not channels.serves("line") and channels.serves("whatsapp")
    with pytest.raises(ValueError, match="no rules for the line channel"):
        channels.of("line")


def test_a_local_file_replaces_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = default_agent_data() | {"name": "Bob", "greeting": "Hi, Bob here."}
    path = tmp_path / "agent.json"
    path.write_text(json.dumps(data))
    monkeypatch.setenv("AGENT_CONFIG_FILE", str(path))

    assert shipped_agent().greeting == "Hi, Bob here."


def test_an_ssm_parameter_overrides_the_files(aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = default_agent_data() | {"persona": "You are the night shift."}
    boto3.client("ssm").put_parameter(Name="/voipbin-ai/agent", Value=json.dumps(data), Type="String")
    monkeypatch.setenv("AGENT_CONFIG_PARAMETER", "/voipbin-ai/agent")
    monkeypatch.setenv("AGENT_CONFIG_FILE", str(tmp_path / "missing.json"))

    assert shipped_agent().persona == "You are the night shift."


def test_an_invalid_agent_names_the_field_and_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = default_agent_data()
    data["channels"]["voice"]["deadline_seconds"] = 0
    path = tmp_path / "agent.json"
    path.write_text(json.dumps(data))
    monkeypatch.setenv("AGENT_CONFIG_FILE", str(path))

    with pytest.raises(ConfigurationError, match=r"agent\.json: channels\.voice\.deadline_seconds"):
        shipped_agent()


def test_a_missing_agent_file_is_a_configuration_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_CONFIG_FILE", str(tmp_path / "nope.json"))

    with pytest.raises(ConfigurationError, match="cannot read the agent configuration"):
        shipped_agent()


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.example.com/slots", True),
        ("http://127.0.0.1:8080/slots", True),
        ("http://localhost/slots", True),
        ("http://api.example.com/slots", False),
        ("ftp://api.example.com/slots", False),
        ("https:///slots", False),
    ],
)
def test_tool_urls_must_be_https(url: str, allowed: bool) -> None:
    tool = {"name": "find_slots", "description": "Free slots.", "url": url}
    if allowed:
        assert HttpTool.model_validate(tool).url == url
    else:
        with pytest.raises(ValidationError, match="https"):
            HttpTool.model_validate(tool)


def test_silence_handling_defaults_to_a_reprompt_after_30_seconds_and_can_be_turned_off() -> None:
    shipped = shipped_agent().silence
    data = default_agent_data()
    del data["silence"]
    defaults = AgentConfig.model_validate(data).silence
    off = AgentConfig.model_validate(default_agent_data() | {"silence": {"enabled": False}}).silence

    assert (shipped.enabled, shipped.reprompt_seconds, shipped.max_reprompts) == (True, 30, 2)
    assert (defaults.enabled, defaults.reprompt_seconds, defaults.max_reprompts) == (True, 30, 2)
    assert not off.enabled


@pytest.mark.parametrize(
    ("silence", "field"),
    [
        ({"reprompt_seconds": 0}, "reprompt_seconds"),
        ({"max_reprompts": -1}, "max_reprompts"),
        ({"reprompt": ""}, "reprompt"),
        ({"goodbye": ""}, "goodbye"),
        ({"repromt": "Hello?"}, "repromt"),
    ],
)
def test_a_silence_setting_out_of_bounds_names_its_field(silence: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=rf"silence\.{field}"):
        AgentConfig.model_validate(default_agent_data() | {"silence": silence})


def test_configured_tools_cannot_shadow_built_ins_or_repeat() -> None:
    with pytest.raises(ValidationError, match="built-in"):
        HttpTool.model_validate({"name": "end_call", "description": "x", "url": "https://a.example"})
    tool = {"name": "find_slots", "description": "x", "url": "https://a.example"}
    with pytest.raises(ValidationError, match="unique"):
        AgentConfig.model_validate(default_agent_data() | {"tools": [tool, tool]})


def test_configured_tools_reach_the_web_chat_only_when_they_say_so() -> None:
    tool = {"name": "find_slots", "description": "x", "url": "https://a.example"}

    assert HttpTool.model_validate(tool).channels == ("voice", "sms")
    assert "chat" in HttpTool.model_validate(tool | {"channels": ["chat"]}).channels


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        ({"type": "string"}, '"type": "object"'),
        ({"type": "object", "properties": {"day": {"type": "weekday"}}}, "not a usable JSON Schema"),
        ({"type": "object", "required": "day"}, "not a usable JSON Schema"),
    ],
)
def test_a_tool_schema_that_cannot_check_arguments_fails_the_load(parameters: dict[str, Any], problem: str) -> None:
    tool = {"name": "find_slots", "description": "x", "url": "https://a.example", "parameters": parameters}

    with pytest.raises(ValidationError, match=re.escape(problem)):
        HttpTool.model_validate(tool)


def test_llm_settings_default_to_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLM_MAX_RETRIES")
    settings = config.llm_settings()

    assert (settings.model, settings.base_url, settings.max_retries) == (config.DEFAULT_LLM_MODEL, None, 1)


def test_llm_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_MODEL", "llama3.1:8b")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("LLM_TIMEOUT_SECONDS", "12.5")

    settings = config.llm_settings()

    assert (settings.model, settings.base_url, settings.timeout_seconds) == (
        "llama3.1:8b",
        "http://127.0.0.1:11434/v1",
        12.5,
    )


@pytest.mark.parametrize("recipient", ["front desk@example.com", "frontdesk@", "@example", "example.com", "a@b@c.com"])
def test_an_email_recipient_that_is_neither_an_address_nor_a_domain_fails_the_load(recipient: str) -> None:
    data = default_agent_data() | {"email": {"recipients": [recipient]}}

    with pytest.raises(ValidationError, match=r"email\.recipients"):
        AgentConfig.model_validate(data)


def test_email_recipients_are_compared_as_voipbin_normalizes_them() -> None:
    rules = EmailRules(recipients=(" FrontDesk@Example.com", "@Clinic.Example.org"))

    assert rules.recipients == ("frontdesk@example.com", "@clinic.example.org")
    assert rules.allows("FRONTDESK@example.com") and rules.allows("dr.lee@clinic.example.org")
    assert not rules.allows("billing@example.com")
    assert not rules.allows("a@mail.clinic.example.org")  # a domain is that domain, not its subdomains
    assert not rules.allows("a@clinic.example.org.attacker.test")
    assert not rules.allows("frontdesk@example.com, attacker@evil.test")
