"""Unit tests never touch the network: sockets are off, and AWS is moto."""

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from pytest_socket import disable_socket, enable_socket

from local.dynamodb_local import table_definition

if TYPE_CHECKING:
    from voipbin_ai.store.dynamodb import DynamoDBStore

UNIT_TABLE = "voipbin-ai-unit"


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()


@pytest.fixture
def moto_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The template's table in moto (TABLE_NAME set): the event functions keep idempotency records in it."""
    from moto import mock_aws

    with mock_aws():
        import boto3

        boto3.client("dynamodb").create_table(TableName=UNIT_TABLE, **table_definition())
        monkeypatch.setenv("TABLE_NAME", UNIT_TABLE)
        yield UNIT_TABLE


@pytest.fixture
def dynamodb_store(moto_table: str) -> "DynamoDBStore":
    """A store on the moto table, with a fixed clock so TTLs are predictable."""
    from voipbin_ai.store.dynamodb import DynamoDBStore

    return DynamoDBStore(moto_table, ttl_seconds=3600, clock=lambda: 1_800_000_000.0)
