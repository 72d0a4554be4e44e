"""events/: the files users give `sam local invoke` match the contract's samples and route where named."""

import hashlib
import json
from pathlib import Path

import pytest

from local.bus import rules_from_template
from local.queue import consumers_from_template
from tests.helpers import EVENTS_DIR, WEBHOOK_SAMPLES, load_json
from voipbin_ai.models.events import parse_webhook
from voipbin_ai.voipbin.signature import find_header, verify

# events/ file -> (the contract sample it wraps, the function it is for)
EVENTBRIDGE_SAMPLES = {
    "call_progressing.json": ("call_progressing.json", "CallProgressingFunction"),
    "call_hangup.json": ("call_hangup.json", "CallHangupFunction"),
    "inbound_sms.json": ("message_created.inbound_sms.json", "InboundSmsFunction"),
    "conversation_message_created.json": ("conversation_message_created.line.json", "ConversationMessageFunction"),
}
# events/ file -> the contract sample its one SQS record's body is (the voice events queue's consumer takes them)
QUEUED_SAMPLES = {
    "transcript_created.json": "transcript_created.json",
    "transcribe_speech_started.json": "transcribe_speech_started.json",
}
SECRET = load_json(EVENTS_DIR / "env.json")["Parameters"]["VOIPBIN_WEBHOOK_SECRET"]


@pytest.mark.parametrize(("event_file", "expected"), EVENTBRIDGE_SAMPLES.items())
def test_eventbridge_samples_wrap_the_contract_sample_and_reach_their_function(
    event_file: str, expected: tuple[str, str]
) -> None:
    contract_sample, function = expected
    event = load_json(EVENTS_DIR / event_file)

    assert event["detail"] == load_json(WEBHOOK_SAMPLES / contract_sample)
    assert event["detail-type"] == event["detail"]["type"]
    assert {rule.function for rule in rules_from_template() if rule.matches(event)} == {function}
    parse_webhook(event["detail"])


@pytest.mark.parametrize(("event_file", "contract_sample"), QUEUED_SAMPLES.items())
def test_queued_samples_carry_the_contract_sample_and_reach_the_voice_events_consumer(
    event_file: str, contract_sample: str
) -> None:
    (record,) = load_json(EVENTS_DIR / event_file)["Records"]
    (consumer,) = [
        consumer for consumer in consumers_from_template() if record["eventSourceARN"].endswith(f":{consumer.queue}")
    ]

    assert json.loads(record["body"]) == load_json(WEBHOOK_SAMPLES / contract_sample)
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
    assert consumer.accepts(record["body"])
    assert consumer.function == "TranscriptCreatedFunction"
    parse_webhook(record["body"])


def test_every_function_has_a_sample_event() -> None:
    functions = {rule.function for rule in rules_from_template()} | {c.function for c in consumers_from_template()}
    samples = {function for _, function in EVENTBRIDGE_SAMPLES.values()}
    assert samples | {"TranscriptCreatedFunction", "DelayedActionFunction"} == functions
    warm_up = load_json(EVENTS_DIR / "warm_up.json")
    assert {rule.function for rule in rules_from_template() if rule.matches(warm_up)} == {"TranscriptCreatedFunction"}
    assert (EVENTS_DIR / "ingress.json").is_file()


@pytest.mark.parametrize(
    ("event_file", "valid"),
    [("ingress.json", True), ("ingress_dropped_type.json", True), ("ingress_bad_signature.json", False)],
)
def test_ingress_samples_are_signed_with_the_local_secret(event_file: str, valid: bool) -> None:
    event = load_json(EVENTS_DIR / event_file)

    assert event["version"] == "2.0"
    assert (event["routeKey"], event["rawPath"]) == ("POST /webhooks/{token}", "/webhooks/voipbin")
    assert event["pathParameters"] == {"token": "voipbin"}
    body = str(event["body"]).encode()
    assert verify(SECRET, body, find_header(event["headers"])) is valid


def test_the_ingress_sample_is_the_contracts_request() -> None:
    vector = load_json(WEBHOOK_SAMPLES / "signature_test_vector.json")
    event = load_json(EVENTS_DIR / "ingress.json")
    assert event["body"] == vector["body_utf8"]
    assert vector["secret"] == SECRET


def test_every_events_file_is_a_json_object() -> None:
    files = sorted(Path(EVENTS_DIR).glob("*.json"))

    assert files
    assert all(isinstance(json.loads(path.read_text(encoding="utf-8")), dict) for path in files)


def test_the_web_chat_sample_is_a_valid_chat_request_on_the_chat_route() -> None:
    from local.stack import routes_from_template
    from voipbin_ai.models.chat import ChatRequest

    event = load_json(EVENTS_DIR / "web_chat.json")

    assert ChatRequest.model_validate_json(event["body"]).message
    (route,) = [r for r in routes_from_template() if (r.function, r.method) == ("WebChatFunction", "POST")]
    assert (route.method, route.path) == (event["requestContext"]["http"]["method"], event["rawPath"])


def test_the_delayed_action_sample_is_a_queued_action_of_the_consumers_queue() -> None:
    from voipbin_ai.models.later import DelayedAction

    (record,) = load_json(EVENTS_DIR / "delayed_action.json")["Records"]
    (consumer,) = [consumer for consumer in consumers_from_template() if consumer.queue == "DelayedActionsQueue"]

    assert DelayedAction.model_validate_json(record["body"]).kind == "after_reply"
    assert record["eventSourceARN"].endswith(f":{consumer.queue}")
    assert consumer.function == "DelayedActionFunction"
