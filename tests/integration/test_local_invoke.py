"""The no-Docker runner: every function runs from the build on its sample event, as `sam local invoke` would."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.bus import LocalBus, rules_from_template
from local.fake_openai import FakeOpenAI
from local.invoke import InvokeResult, LocalInvokeError, invoke, load_function
from local.queue import LocalQueues, consumers_from_template
from local.template import REPO_ROOT
from local.voipbin_simulator import VoipbinSimulator
from tests.fakes.dynamodb_local import DynamoDBTable
from tests.helpers import EVENTS_DIR, load_json

pytestmark = pytest.mark.integration

ENV_VARS = load_json(EVENTS_DIR / "env.json")
EVENT_FUNCTIONS = {
    "CallProgressingFunction": "call_progressing.json",
    "TranscriptCreatedFunction": "transcript_created.json",
    "CallHangupFunction": "call_hangup.json",
    "InboundSmsFunction": "inbound_sms.json",
    "ConversationMessageFunction": "conversation_message_created.json",
}


def _run(build_dir: Path, function: str, event_file: str, shell_env: dict[str, str]) -> InvokeResult:
    loaded = load_function(function, build_dir=build_dir, env_vars=ENV_VARS, shell_env=shell_env)
    return invoke(loaded, load_json(EVENTS_DIR / event_file))


@pytest.fixture
def table_env(dynamodb_table: DynamoDBTable) -> dict[str, str]:
    """What points a function at the test's table on DynamoDB Local (idempotency records, sessions)."""
    return {"AWS_ENDPOINT_URL_DYNAMODB": os.environ["AWS_ENDPOINT_URL_DYNAMODB"], "TABLE_NAME": dynamodb_table.name}


def _log_messages(result: InvokeResult) -> list[str]:
    return [json.loads(line)["message"] for line in result.logs.splitlines() if line.startswith('{"level"')]


@pytest.fixture
def services_env(table_env: dict[str, str], fake_openai: FakeOpenAI) -> Iterator[dict[str, str]]:
    """The table, a VoIPBin simulator that takes env.json's token and knows the LINE sample's conversation, the LLM."""
    with VoipbinSimulator(token=ENV_VARS["Parameters"]["VOIPBIN_API_TOKEN"]) as voipbin:
        line = load_json(EVENTS_DIR / "conversation_message_created.json")["detail"]["data"]
        voipbin.add_conversation("line", line["source"]["target"], conversation_id=line["conversation_id"])
        yield {**table_env, "VOIPBIN_API_URL": voipbin.base_url, "OPENAI_BASE_URL": fake_openai.base_url}


@pytest.mark.parametrize(("function", "event_file"), EVENT_FUNCTIONS.items())
def test_each_event_function_handles_its_sample(
    build_dir: Path, services_env: dict[str, str], function: str, event_file: str
) -> None:
    result = _run(build_dir, function, event_file, shell_env=services_env)

    assert result.ok, result.payload
    assert _log_messages(result), result.logs


def test_the_ingress_queues_its_sample_transcript_for_the_consumer_the_template_names(build_dir: Path) -> None:
    # Given local queues that record what they would deliver, consumers and filters read from template.yaml
    delivered: list[tuple[str, dict[str, Any]]] = []
    queues = LocalQueues(
        consumers_from_template(), lambda function, event: delivered.append((function, event)), lambda *_: None
    ).start()
    shell_env = {"AWS_ENDPOINT_URL_SQS": queues.url, "VOICE_EVENTS_QUEUE_URL": queues.queue_url("VoiceEventsQueue")}
    try:
        # When the ingress runs on the signed sample webhook (a transcript_created)
        result = _run(build_dir, "IngressFunction", "ingress.json", shell_env=shell_env)
        queues.wait_idle()
    finally:
        queues.stop()

    # Then it answers 200 and the webhook, as received, reaches exactly the transcript function
    assert result.ok, result.payload
    assert result.payload["statusCode"] == 200
    assert [function for function, _ in delivered] == ["TranscriptCreatedFunction"]
    [record] = delivered[0][1]["Records"]
    assert record["body"] == load_json(EVENTS_DIR / "ingress.json")["body"]


@pytest.mark.parametrize(
    ("event_file", "status"), [("ingress_bad_signature.json", 401), ("ingress_dropped_type.json", 200)]
)
def test_the_ingress_answers_without_publishing(build_dir: Path, event_file: str, status: int) -> None:
    bus = LocalBus(rules_from_template(), lambda *_: pytest.fail("nothing may be published")).start()
    try:
        result = _run(build_dir, "IngressFunction", event_file, shell_env={"AWS_ENDPOINT_URL_EVENTBRIDGE": bus.url})
    finally:
        bus.stop()

    assert result.payload["statusCode"] == status
    assert bus.published == []


def test_the_runner_takes_the_template_environment_and_the_overrides(build_dir: Path) -> None:
    loaded = load_function("IngressFunction", build_dir=build_dir, env_vars=ENV_VARS, shell_env={})

    assert loaded.environment["POWERTOOLS_SERVICE_NAME"] == "voipbin-ai"
    assert loaded.environment["VOIPBIN_WEBHOOK_SECRET"] == ENV_VARS["Parameters"]["VOIPBIN_WEBHOOK_SECRET"]
    assert loaded.code_dir == build_dir / "IngressFunction"
    assert [path.name for path in loaded.layer_dirs] == ["python"]


def test_an_unknown_function_is_a_clear_error(build_dir: Path) -> None:
    with pytest.raises(LocalInvokeError, match="no function 'Nope'"):
        load_function("Nope", build_dir=build_dir)


def test_the_command_line_prints_the_result_like_sam_local_invoke(build_dir: Path, table_env: dict[str, str]) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "local.invoke",
            "CallHangupFunction",
            "-e",
            "events/call_hangup.json",
            "--env-vars",
            "events/env.json",
            "--build-dir",
            str(build_dir),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, **table_env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) is None
    assert "Call ended" in completed.stderr
