"""Every AWS client of the layer has timeouts sized to its deadline and standard retries, not botocore's defaults."""

from typing import Any

import pytest

from voipbin_ai import bus, config, sqs
from voipbin_ai.store import dynamodb, idempotency


def settings_of(client: Any) -> tuple[float, float, str, int]:
    meta = client.meta.config
    return meta.connect_timeout, meta.read_timeout, meta.retries["mode"], meta.retries["total_max_attempts"]


@pytest.fixture(autouse=True)
def _table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "conversations")


def test_the_conversation_store_client() -> None:
    assert settings_of(dynamodb.DynamoDBStore("t", ttl_seconds=60).client) == (1.0, 2.0, "standard", 3)


def test_the_idempotency_client() -> None:
    assert settings_of(idempotency._persistence_layer().client) == (1.0, 2.0, "standard", 3)


def test_the_event_bus_client() -> None:
    assert settings_of(bus._events_client()) == (1.0, 1.5, "standard", 3)


def test_the_queue_client() -> None:
    # One client for the ingress's voice events and the delayed actions, sized for the ingress's answer.
    assert settings_of(sqs._sqs_client()) == (1.0, 1.5, "standard", 3)


def test_the_secret_stores() -> None:
    assert settings_of(config._ssm().client) == (1.0, 3.0, "standard", 3)
    assert settings_of(config._secrets_manager().client) == (1.0, 3.0, "standard", 3)
