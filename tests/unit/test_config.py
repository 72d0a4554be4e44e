"""Settings and secrets: validated once, plain variables win, stores read through Powertools Parameters."""

import boto3
import pytest

from voipbin_ai import config
from voipbin_ai.exceptions import ConfigurationError


def test_ingress_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_BUS_NAME", "bus")

    settings = config.ingress_settings()

    assert settings.event_bus_name == "bus"
    assert settings.max_body_bytes == 64 * 1024
    assert "transcribe_speech_interim" in settings.dropped_event_types
    assert not {"call_progressing", "transcript_created", "transcribe_speech_started", "call_hangup"} & (
        settings.dropped_event_types
    )
    assert "message_created" not in settings.dropped_event_types


def test_dropped_types_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_BUS_NAME", "bus")
    monkeypatch.setenv("DROPPED_EVENT_TYPES", " a, b,,c ")

    assert config.ingress_settings().dropped_event_types == frozenset({"a", "b", "c"})


def test_an_empty_dropped_list_drops_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_BUS_NAME", "bus")
    monkeypatch.setenv("DROPPED_EVENT_TYPES", "")

    assert config.ingress_settings().dropped_event_types == frozenset()


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        ({}, "EVENT_BUS_NAME"),
        ({"EVENT_BUS_NAME": "bus", "MAX_BODY_BYTES": "0"}, "MAX_BODY_BYTES"),
        ({"EVENT_BUS_NAME": "bus", "MAX_BODY_BYTES": str(300 * 1024)}, "MAX_BODY_BYTES"),
        ({"EVENT_BUS_NAME": "bus", "MAX_BODY_BYTES": "lots"}, "MAX_BODY_BYTES"),
    ],
    ids=["no-bus", "zero-limit", "over-eventbridge-limit", "not-a-number"],
)
def test_invalid_ingress_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], problem: str
) -> None:
    monkeypatch.delenv("EVENT_BUS_NAME", raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ConfigurationError, match=problem):
        config.ingress_settings()


def test_settings_are_read_once_per_container(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_BUS_NAME", "first")
    first = config.ingress_settings()
    monkeypatch.setenv("EVENT_BUS_NAME", "second")

    assert config.ingress_settings() is first


def test_voipbin_settings_default_to_the_public_api() -> None:
    assert config.voipbin_settings().api_url == "https://api.voipbin.net/v1.0"


def test_the_plain_token_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOIPBIN_API_TOKEN", "token")
    monkeypatch.setenv("VOIPBIN_ACCESS_KEY", "key")
    monkeypatch.setenv("VOIPBIN_CREDENTIAL_NAME", "/never/read")

    credential = config.voipbin_credential()

    assert (credential.kind, credential.value.get_secret_value()) == ("token", "token")


def test_a_plain_access_key_is_an_access_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOIPBIN_ACCESS_KEY", "ak-123456")

    credential = config.voipbin_credential()

    assert (credential.kind, credential.value.get_secret_value()) == ("accesskey", "ak-123456")
    assert "ak-123456" not in repr(credential)


def test_no_credential_at_all_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="VOIPBIN_API_TOKEN"):
        config.voipbin_credential()


@pytest.mark.parametrize("kind", ["token", "accesskey"])
def test_the_stored_credential_comes_from_ssm(aws: None, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    boto3.client("ssm").put_parameter(Name="/voipbin-ai/credential", Value="stored", Type="SecureString")
    monkeypatch.setenv("VOIPBIN_CREDENTIAL_NAME", "/voipbin-ai/credential")
    monkeypatch.setenv("VOIPBIN_CREDENTIAL_TYPE", kind)

    credential = config.voipbin_credential()

    assert (credential.kind, credential.value.get_secret_value()) == (kind, "stored")


def test_an_unknown_credential_type_is_refused(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOIPBIN_CREDENTIAL_NAME", "/voipbin-ai/credential")
    monkeypatch.setenv("VOIPBIN_CREDENTIAL_TYPE", "password")

    with pytest.raises(ConfigurationError, match="VOIPBIN_CREDENTIAL_TYPE"):
        config.voipbin_credential()


def test_secrets_come_from_secrets_manager(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    boto3.client("secretsmanager").create_secret(Name="/voipbin-ai/openai-api-key", SecretString="sk-stored")
    monkeypatch.setenv("SECRETS_STORE", "secretsmanager")
    monkeypatch.setenv("OPENAI_API_KEY_NAME", "/voipbin-ai/openai-api-key")

    assert config.openai_api_key() == "sk-stored"


def test_stored_secrets_are_cached(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/voipbin-ai/webhook-secret", Value="first", Type="SecureString")
    monkeypatch.setenv("VOIPBIN_WEBHOOK_SECRET_NAME", "/voipbin-ai/webhook-secret")
    assert config.webhook_secrets() == ("first",)

    ssm.put_parameter(Name="/voipbin-ai/webhook-secret", Value="second", Type="SecureString", Overwrite=True)

    assert config.webhook_secrets() == ("first",)


def test_the_plain_variable_overrides_the_store(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-plain")
    monkeypatch.setenv("OPENAI_API_KEY_NAME", "/not/there")

    assert config.openai_api_key() == "sk-plain"


def test_an_unconfigured_optional_secret_is_none() -> None:
    assert config.openai_api_key() is None


def test_without_a_webhook_secret_the_ingress_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="no webhook secret"):
        config.webhook_secrets()

    monkeypatch.setenv("ALLOW_UNSIGNED_WEBHOOKS", "true")  # a local run, said out loud
    assert config.webhook_secrets() == ()

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "IngressFunction")  # ...but never in Lambda itself
    with pytest.raises(ConfigurationError, match="no webhook secret"):
        config.webhook_secrets()


def test_during_a_rotation_the_previous_webhook_secret_is_accepted_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOIPBIN_WEBHOOK_SECRET", "new-secret, old-secret")

    assert config.webhook_secrets() == ("new-secret", "old-secret")


def test_a_missing_stored_secret_is_a_configuration_error(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOIPBIN_WEBHOOK_SECRET_NAME", "/voipbin-ai/absent")

    with pytest.raises(ConfigurationError, match="/voipbin-ai/absent"):
        config.webhook_secrets()


def test_an_unknown_store_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRETS_STORE", "vault")
    monkeypatch.setenv("VOIPBIN_WEBHOOK_SECRET_NAME", "/voipbin-ai/webhook-secret")

    with pytest.raises(ConfigurationError, match="SECRETS_STORE"):
        config.webhook_secrets()
