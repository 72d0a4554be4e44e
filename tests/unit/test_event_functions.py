"""The four functions behind the bus, in process: parse the delivery, log one record with its id."""

import copy
import importlib
from typing import Any

import pytest

from tests.helpers import EVENTS_DIR, LambdaContext, LogCapture, load_json
from voipbin_ai.exceptions import InvalidEventError

pytestmark = pytest.mark.usefixtures("moto_table")

CALL_ID = "9c5e2a1d-6f4b-4e0a-9d2e-3b7c8a1f0e55"
TRANSCRIBE_ID = "bbf08426-3979-41bc-a544-5fc92c237848"
# function package, events/ file, the id key its log record carries, its value, its message
CASES = [
    ("call_progressing", "call_progressing.json", "call_id", CALL_ID, "Call answered"),
    ("transcript_created", "transcript_created.json", "transcribe_id", TRANSCRIBE_ID, "Caller speech received"),
    ("transcript_created", "transcribe_speech_started.json", "transcribe_id", TRANSCRIBE_ID, "Caller speech received"),
    ("call_hangup", "call_hangup.json", "call_id", CALL_ID, "Call ended"),
    ("inbound_sms", "inbound_sms.json", "message_id", "a5d2114a-8e84-48cd-8bb2-c406eeb08cd1", "SMS received"),
]


def handler(function: str) -> Any:
    return importlib.import_module(f"functions.{function}.app").lambda_handler


@pytest.mark.parametrize(("function", "event_file", "key", "value", "message"), CASES)
def test_a_delivery_is_logged_once_with_its_id(
    logs: LogCapture, function: str, event_file: str, key: str, value: str, message: str
) -> None:
    event = load_json(EVENTS_DIR / event_file)

    handler(function)(event, LambdaContext())

    [record] = logs.records()
    assert record["message"] == message
    assert record[key] == value
    assert record["event_type"] == event["detail-type"]
    assert record["correlation_id"] == event["id"]
    logs.assert_no_personal_data("+15551234567", "+15559876543", "check the status of my order", "Friday")


@pytest.mark.parametrize(("function", "event_file"), [(case[0], case[1]) for case in CASES])
def test_an_invalid_event_is_logged_and_raised_for_the_dead_letter_queue(
    logs: LogCapture, function: str, event_file: str
) -> None:
    event = copy.deepcopy(load_json(EVENTS_DIR / event_file))
    del event["detail"]["data"]["id"]

    with pytest.raises(InvalidEventError) as raised:
        handler(function)(event, LambdaContext())

    assert raised.value.field == "data.id"
    [record] = logs.records()
    assert record["level"] == "ERROR"
    assert record["field"] == "data.id"
    assert record["event_type"] == event["detail-type"]


def test_an_event_of_another_type_is_refused(logs: LogCapture) -> None:
    sms = load_json(EVENTS_DIR / "inbound_sms.json")

    with pytest.raises(InvalidEventError, match="does not handle"):
        handler("call_progressing")(sms, LambdaContext())


def test_a_delivery_without_detail_is_refused(logs: LogCapture) -> None:
    event = load_json(EVENTS_DIR / "call_hangup.json")
    del event["detail"]

    with pytest.raises(InvalidEventError):
        handler("call_hangup")(event, LambdaContext())
