"""The functions behind the bus refuse what is not their event, logged, raised for the dead-letter queue.

What they do with a valid event is tested end to end (tests/e2e) and in process (tests/integration).
"""

import copy
import importlib
from typing import Any

import pytest

from tests.helpers import EVENTS_DIR, LogCapture, lambda_context, load_json
from voipbin_ai.exceptions import InvalidEventError

pytestmark = pytest.mark.usefixtures("moto_table")

# function package, events/ file
CASES = [
    ("call_progressing", "call_progressing.json"),
    ("transcript_created", "transcript_created.json"),
    ("transcript_created", "transcribe_speech_started.json"),
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
