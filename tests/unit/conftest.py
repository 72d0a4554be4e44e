"""Unit tests never touch the network: sockets are off, and AWS is moto."""

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from pytest_socket import disable_socket, enable_socket

from local.dynamodb_local import table_definition

if TYPE_CHECKING:
    import boto3

    from voipbin_ai.store.dynamodb import DynamoDBStore

UNIT_TABLE = "voipbin-ai-unit"


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()


@pytest.fixture(scope="session")
def _moto_session() -> "boto3.Session":
    """One boto3 session for every moto test: each new session reads botocore's service models from disk
    again, about 0.1 s a client, and moto would make one per test.
    """
    import boto3
    import moto  # noqa: F401  (moto hooks into the sessions made after its import)

    return boto3.Session()


@pytest.fixture
def aws(_moto_session: "boto3.Session", monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every AWS service in moto, empty at the start of each test, on the run's moto session."""
    import boto3
    from moto import mock_aws

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", _moto_session)
    with mock_aws(config={"core": {"reset_boto3_session": False}}):  # not moto's fresh session per mock
        yield


@pytest.fixture
def moto_table(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """The template's table in moto (TABLE_NAME set): the event functions keep idempotency records in it."""
    import boto3

    boto3.client("dynamodb").create_table(TableName=UNIT_TABLE, **table_definition())
    monkeypatch.setenv("TABLE_NAME", UNIT_TABLE)
    return UNIT_TABLE


@pytest.fixture
def dynamodb_store(moto_table: str) -> "DynamoDBStore":
    """A store on the moto table, with a fixed clock so TTLs are predictable."""
    from voipbin_ai.store.dynamodb import DynamoDBStore

    return DynamoDBStore(moto_table, ttl_seconds=3600, clock=lambda: 1_800_000_000.0)
