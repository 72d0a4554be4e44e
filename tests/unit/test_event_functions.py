"""The functions behind the bus or the voice events queue refuse what is not their event, logged, failed for
the dead-letter queue; each event is acted on once, inside the replay window.

What they do with a valid event is tested end to end (tests/e2e) and in process (tests/integration).
"""

import copy
import importlib
import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from local.lambda_events import sqs_event
from tests.helpers import EVENTS_DIR, WEBHOOK_SAMPLES, LogCapture, lambda_context, load_json
from voipbin_ai.exceptions import InvalidEventError

pytestmark = pytest.mark.usefixtures("moto_table")

# function package, events/ file
CASES = [
    ("call_progressing", "call_progressing.json"),
    ("call_hangup", "call_hangup.json"),
    ("inbound_sms", "inbound_sms.json"),
    ("conversation_message_created", "conversation_message_created.json"),
]


def handler(function: str) -> Any:
    return importlib.import_module(f"functions.{function}.app").lambda_handler


@pytest.mark.parametrize(("function", "event_file"), CASES)
def test_an_invalid_event_is_logged_and_raised_for_the_dead_letter_queue(
    logs: LogCapture, function: str, event_file: str
) -> None:
    event = copy.deepcopy(load_json(EVENTS_DIR / event_file))
    del event["detail"]["data"]["id"]

    with pytest.raises(InvalidEventError) as raised:
        handler(function)(event, lambda_context())

    assert raised.value.field == "data.id"
    [record] = logs.records()
    assert record["level"] == "ERROR"
    assert record["field"] == "data.id"
    assert record["event_type"] == event["detail-type"]


@pytest.mark.parametrize(("function", "event_file"), CASES)
def test_an_event_outside_the_replay_window_is_ignored_without_a_trace_in_the_table(
    moto_table: str, logs: LogCapture, monkeypatch: pytest.MonkeyPatch, function: str, event_file: str
) -> None:
    import boto3

    monkeypatch.setenv("WEBHOOK_MAX_AGE_SECONDS", "300")  # the samples are months old
    event = load_json(EVENTS_DIR / event_file)

    assert handler(function)(event, lambda_context()) is None

    assert boto3.client("dynamodb").scan(TableName=moto_table)["Items"] == []  # not acted on, nor recorded
    [record] = logs.records()
    assert (record["level"], record["message"]) == ("WARNING", "Event outside the replay window ignored")


def test_an_event_of_another_type_is_refused(logs: LogCapture) -> None:
    sms = load_json(EVENTS_DIR / "inbound_sms.json")

    with pytest.raises(InvalidEventError, match="does not handle"):
        handler("call_progressing")(sms, lambda_context())


def test_a_delivery_without_detail_is_refused(logs: LogCapture) -> None:
    event = load_json(EVENTS_DIR / "call_hangup.json")
    del event["detail"]

    with pytest.raises(InvalidEventError):
        handler("call_hangup")(event, lambda_context())


def test_a_warm_up_starts_the_reply_function_and_does_nothing_else(moto_table: str, logs: LogCapture) -> None:
    import boto3

    warm_up = load_json(EVENTS_DIR / "warm_up.json")

    assert handler("transcript_created")(warm_up, lambda_context()) is None

    assert boto3.client("dynamodb").scan(TableName=moto_table)["Items"] == []  # not even an idempotency record
    [record] = logs.records()
    assert record["message"] == "Warm-up: the container is started"
    assert record["conversation_id"] == warm_up["detail"]["conversation_id"]


def test_a_warm_up_request_publishes_the_backends_own_event(monkeypatch: pytest.MonkeyPatch) -> None:
    from voipbin_ai import bus

    published: list[tuple[str, str, str]] = []
    details: list[str] = []

    def publish(name: str, kind: str, detail: str, source: str) -> None:
        published.append((name, kind, source))
        details.append(detail)

    monkeypatch.setattr(bus, "publish", publish)

    bus.request_warm_up("the-bus", "call:c1")

    assert published == [("the-bus", bus.WARM_UP, bus.OWN_SOURCE)]
    assert details == ['{"conversation_id": "call:c1"}']


# The voice events queue's consumer: SQS records whose body is the webhook as VoIPBin sent it.
QUEUED = ["transcript_created.json", "transcribe_speech_started.json"]
SPEECH_STARTED = load_json(WEBHOOK_SAMPLES / "transcribe_speech_started.json")


def queued(*envelopes: dict[str, Any]) -> dict[str, Any]:
    """One SQS delivery of these webhooks, message ids m0, m1, ..."""
    records = [
        sqs_event(json.dumps(envelope), message_id=f"m{index}", queue="VoiceEventsQueue")["Records"][0]
        for index, envelope in enumerate(envelopes)
    ]
    return {"Records": records}


@pytest.fixture
def barged_in(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The transcribe ids the reply function barged in on (speech started), VoIPBin left out."""
    from functions.transcript_created import app
    from voipbin_ai.logic.services import Services
    from voipbin_ai.observability import logger

    calls: list[str] = []

    def barge_in(data: Any, services: None) -> None:
        logger.info("Barged in")
        logger.append_keys(conversation_id=f"call:{data.transcribe_id}")  # as the logic keys its later lines
        calls.append(data.transcribe_id)

    monkeypatch.setattr(app, "barge_in", barge_in)
    monkeypatch.setattr(Services, "default", staticmethod(lambda: None))
    return calls


@pytest.mark.parametrize("event_file", QUEUED)
def test_an_invalid_queued_event_is_logged_and_its_record_failed_for_the_dead_letter_queue(
    logs: LogCapture, event_file: str
) -> None:
    (record,) = load_json(EVENTS_DIR / event_file)["Records"]
    envelope = json.loads(record["body"])
    del envelope["data"]["id"]

    # A batch of one that fails raises (an invocation error), so SQS receives it again, then dead-letters it.
    with pytest.raises(BatchProcessingError):
        handler("transcript_created")(queued(envelope), lambda_context())

    [log] = logs.records()
    assert (log["level"], log["message"], log["field"]) == ("ERROR", "Invalid VoIPBin event", "data.id")
    assert log["event_type"] == envelope["type"]
    assert log["correlation_id"] == "m0"


def test_only_the_invalid_record_of_a_batch_is_reported_failed(barged_in: list[str], logs: LogCapture) -> None:
    invalid = copy.deepcopy(SPEECH_STARTED)
    del invalid["data"]["transcribe_id"]

    response = handler("transcript_created")(queued(invalid, SPEECH_STARTED), lambda_context())

    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert barged_in == [SPEECH_STARTED["data"]["transcribe_id"]]


def test_each_record_logs_with_its_own_ids_and_none_of_the_record_before_it(
    barged_in: list[str], logs: LogCapture
) -> None:
    second = copy.deepcopy(SPEECH_STARTED)
    another = "5f0c2b1a-9d8e-4f7a-8b6c-0123456789ab"
    second["data"] |= {"streaming_id": another, "transcribe_id": another}

    handler("transcript_created")(queued(SPEECH_STARTED, second), lambda_context())

    lines = [log for log in logs.records() if log["message"] == "Barged in"]
    assert [(log["correlation_id"], log["transcribe_id"], log.get("conversation_id")) for log in lines] == [
        ("m0", SPEECH_STARTED["data"]["transcribe_id"], None),
        ("m1", another, None),
    ]


def test_a_queued_event_received_twice_is_acted_on_once(barged_in: list[str], moto_table: str) -> None:
    lambda_handler = handler("transcript_created")

    assert lambda_handler(queued(SPEECH_STARTED), lambda_context()) == {"batchItemFailures": []}
    assert lambda_handler(queued(SPEECH_STARTED), lambda_context()) == {"batchItemFailures": []}

    assert barged_in == [SPEECH_STARTED["data"]["transcribe_id"]]


@pytest.mark.parametrize("event_file", QUEUED)
def test_a_queued_event_outside_the_replay_window_is_ignored_and_deleted(
    moto_table: str, logs: LogCapture, monkeypatch: pytest.MonkeyPatch, event_file: str
) -> None:
    import boto3

    monkeypatch.setenv("WEBHOOK_MAX_AGE_SECONDS", "300")  # the samples are months old

    # Not failed: SQS deletes it, as the bus path returns.
    assert handler("transcript_created")(load_json(EVENTS_DIR / event_file), lambda_context()) == {
        "batchItemFailures": []
    }

    assert boto3.client("dynamodb").scan(TableName=moto_table)["Items"] == []
    [log] = logs.records()
    assert (log["level"], log["message"]) == ("WARNING", "Event outside the replay window ignored")


def test_the_queue_consumer_flushes_the_metrics_of_its_records(
    barged_in: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    invalid = copy.deepcopy(SPEECH_STARTED)
    del invalid["data"]["id"]

    handler("transcript_created")(queued(invalid, SPEECH_STARTED), lambda_context())

    [flushed] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert flushed["InvalidEvents"] == [1.0]
