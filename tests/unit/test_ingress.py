"""The webhook ingress through its Lambda handler, with EventBridge, SQS, SSM and Secrets Manager mocked by moto."""

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from functions.ingress import app
from local.lambda_events import http_api_event
from tests.helpers import WEBHOOK_SAMPLES, LogCapture, lambda_context, load_json
from voipbin_ai import bus
from voipbin_ai.voipbin.signature import sign

SECRET = "test-webhook-secret"
BUS = "test-bus"
TRANSCRIPT = (WEBHOOK_SAMPLES / "transcript_created.json").read_bytes()

Received = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def published(aws: None, monkeypatch: pytest.MonkeyPatch) -> Received:
    """A moto bus with a catch-all rule into a queue: returns what reached the bus."""
    monkeypatch.setenv("EVENT_BUS_NAME", BUS)
    monkeypatch.setenv("VOIPBIN_WEBHOOK_SECRET", SECRET)
    events, sqs = boto3.client("events"), boto3.client("sqs")
    events.create_event_bus(Name=BUS)
    queue_url = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="tap", EventBusName=BUS, EventPattern=json.dumps({"source": [bus.EVENT_SOURCE]}))
    events.put_targets(Rule="tap", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": queue_arn}])

    def received() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    return received


def call(
    body: bytes, *, headers: dict[str, str] | None = None, base64_encoded: bool = False, path: str = app.WEBHOOK_PATH
) -> dict[str, Any]:
    event = http_api_event(body, path=path, headers=headers, base64_encoded=base64_encoded)
    response: dict[str, Any] = app.lambda_handler(event, lambda_context())
    return response


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Voipbin-Signature": sign(secret, body)}


def answer(response: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(response["body"]))


def test_a_signed_event_is_published_as_received(published: Received) -> None:
    response = call(TRANSCRIPT, headers=signed(TRANSCRIPT))

    assert response["statusCode"] == 200
    assert answer(response) == {"status": "published", "type": "transcript_created"}
    [event] = published()
    assert event["source"] == bus.EVENT_SOURCE
    assert event["detail-type"] == "transcript_created"
    assert event["detail"] == json.loads(TRANSCRIPT)


def test_a_base64_body_is_verified_on_its_decoded_bytes(published: Received) -> None:
    response = call(TRANSCRIPT, headers=signed(TRANSCRIPT), base64_encoded=True)

    assert response["statusCode"] == 200
    assert [event["detail"] for event in published()] == [json.loads(TRANSCRIPT)]


def test_the_contract_sample_request_is_accepted(published: Received, monkeypatch: pytest.MonkeyPatch) -> None:
    vector = load_json(WEBHOOK_SAMPLES / "signature_test_vector.json")
    monkeypatch.setenv("VOIPBIN_WEBHOOK_SECRET", vector["secret"])
    body = vector["body_utf8"].encode()

    response = call(body, headers={vector["header_name_on_the_wire"]: vector["expected_header_value"]})

    assert response["statusCode"] == 200
    assert len(published()) == 1


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Voipbin-Signature": ""}, {"X-Voipbin-Signature": sign("another-secret", TRANSCRIPT)}],
    ids=["missing", "empty", "wrong-secret"],
)
def test_a_bad_or_missing_signature_is_401(published: Received, headers: dict[str, str]) -> None:
    response = call(TRANSCRIPT, headers=headers)

    assert response["statusCode"] == 401
    assert published() == []


def test_one_changed_byte_is_401(published: Received) -> None:
    tampered = TRANSCRIPT.replace(b"order", b"Order")

    response = call(tampered, headers=signed(TRANSCRIPT))

    assert response["statusCode"] == 401
    assert published() == []


def test_without_a_configured_secret_nothing_is_published(
    published: Received, monkeypatch: pytest.MonkeyPatch, logs: LogCapture
) -> None:
    monkeypatch.delenv("VOIPBIN_WEBHOOK_SECRET")

    # Our fault, not VoIPBin's: a 5xx, so VoIPBin delivers it again once the secret is there.
    assert call(TRANSCRIPT)["statusCode"] == 500
    assert call(TRANSCRIPT, headers=signed(TRANSCRIPT))["statusCode"] == 500
    assert published() == []
    assert any(record.get("message") == "Ingress misconfigured" for record in logs.records())


def test_unsigned_events_pass_only_when_a_local_run_allows_them(
    published: Received, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VOIPBIN_WEBHOOK_SECRET")
    monkeypatch.setenv("ALLOW_UNSIGNED_WEBHOOKS", "true")

    assert call(TRANSCRIPT)["statusCode"] == 200
    assert len(published()) == 1


def test_the_previous_secret_verifies_during_a_rotation(published: Received, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOIPBIN_WEBHOOK_SECRET", f"rotated-in,{SECRET}")

    assert call(TRANSCRIPT, headers=signed(TRANSCRIPT))["statusCode"] == 200
    assert call(TRANSCRIPT, headers=signed(TRANSCRIPT, "rotated-in"))["statusCode"] == 200
    assert call(TRANSCRIPT, headers=signed(TRANSCRIPT, "neither"))["statusCode"] == 401
    assert len(published()) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid UTF-8 JSON"),
        (b"\xff\xfe", "not valid UTF-8 JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"data": {}}', "field 'type': must be a snake_case VoIPBin event type"),
        (b'{"type": 7, "data": {}}', "field 'type': must be a snake_case VoIPBin event type"),
        # found by the fuzz test
        (b'{"type": "\\f", "data": {}}', "field 'type': must be a snake_case VoIPBin event type"),
        (b'{"type": "call_hangup"}', "invalid call_hangup: field 'data': must be a JSON object"),
        (b'{"type": "call_hangup", "data": "x"}', "invalid call_hangup: field 'data': must be a JSON object"),
        (b"", "not valid UTF-8 JSON"),
    ],
    ids=[
        "syntax",
        "not-utf8",
        "array",
        "no-type",
        "type-not-string",
        "type-control-char",
        "no-data",
        "data-not-object",
        "empty",
    ],
)
def test_malformed_bodies_are_400_with_a_clear_error(published: Received, body: bytes, message: str) -> None:
    response = call(body, headers=signed(body), base64_encoded=True)

    assert response["statusCode"] == 400
    assert message in answer(response)["message"]
    assert published() == []


def test_with_a_path_token_only_its_url_takes_webhooks(published: Received, monkeypatch: pytest.MonkeyPatch) -> None:
    token = "k3Jq9Xw2Lm8Vr5Tz"
    monkeypatch.setenv("WEBHOOK_PATH_TOKEN", token)

    refused = [call(TRANSCRIPT, headers=signed(TRANSCRIPT), path=p) for p in (app.WEBHOOK_PATH, "/webhooks/k3Jq9Xw2")]
    taken = call(TRANSCRIPT, headers=signed(TRANSCRIPT), path=f"/webhooks/{token}")

    assert [response["statusCode"] for response in refused] == [404, 404]
    assert taken["statusCode"] == 200
    assert len(published()) == 1


def test_invalid_base64_is_400(published: Received) -> None:
    event = http_api_event(b"x", path=app.WEBHOOK_PATH)
    event.update(body="not base64!", isBase64Encoded=True)

    response = app.lambda_handler(event, lambda_context())

    assert response["statusCode"] == 400
    assert published() == []


def test_an_oversized_body_is_413(published: Received, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_BODY_BYTES", "100")
    body = json.dumps({"type": "message_created", "data": {"text": "x" * 200}}).encode()

    response = call(body, headers=signed(body))

    assert response["statusCode"] == 413
    assert "limit is 100" in answer(response)["message"]
    assert published() == []


def test_the_size_limit_is_checked_on_decoded_base64(published: Received, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_BODY_BYTES", str(len(TRANSCRIPT)))

    response = call(TRANSCRIPT, headers=signed(TRANSCRIPT), base64_encoded=True)

    assert response["statusCode"] == 200


def test_an_unknown_type_is_published(published: Received) -> None:
    body = b'{"type":"call_transferred","data":{"id":"x"}}'

    response = call(body, headers=signed(body))

    assert answer(response) == {"status": "published", "type": "call_transferred"}
    assert [event["detail-type"] for event in published()] == ["call_transferred"]


def test_a_dropped_type_is_200_and_not_published(published: Received) -> None:
    body = (WEBHOOK_SAMPLES / "transcribe_speech_interim.json").read_bytes()

    response = call(body, headers=signed(body))

    assert response["statusCode"] == 200
    assert answer(response) == {"status": "dropped", "type": "transcribe_speech_interim"}
    assert published() == []


def test_the_dropped_list_is_configuration(published: Received, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROPPED_EVENT_TYPES", "transcript_created, call_hangup")
    interim = (WEBHOOK_SAMPLES / "transcribe_speech_interim.json").read_bytes()

    assert answer(call(TRANSCRIPT, headers=signed(TRANSCRIPT)))["status"] == "dropped"
    assert answer(call(interim, headers=signed(interim)))["status"] == "published"


def test_a_publish_to_a_missing_bus_is_503(published: Received, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_BUS_NAME", "no-such-bus")

    response = call(TRANSCRIPT, headers=signed(TRANSCRIPT))

    assert response["statusCode"] == 503


def test_a_failed_entry_in_a_200_answer_is_503(published: Received) -> None:
    client = bus._events_client()
    with Stubber(client) as stubber:
        stubber.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "boom"}]},
        )
        response = call(TRANSCRIPT, headers=signed(TRANSCRIPT))

    assert response["statusCode"] == 503
    assert published() == []


def test_the_secret_is_read_from_ssm(published: Received, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOIPBIN_WEBHOOK_SECRET")
    monkeypatch.setenv("VOIPBIN_WEBHOOK_SECRET_NAME", "/voipbin-ai/webhook-secret")
    boto3.client("ssm").put_parameter(Name="/voipbin-ai/webhook-secret", Value=SECRET, Type="SecureString")

    assert call(TRANSCRIPT, headers=signed(TRANSCRIPT))["statusCode"] == 200
    assert call(TRANSCRIPT, headers=signed(TRANSCRIPT, "other"))["statusCode"] == 401


def test_an_unreadable_secret_is_500_not_401(published: Received, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOIPBIN_WEBHOOK_SECRET")
    monkeypatch.setenv("VOIPBIN_WEBHOOK_SECRET_NAME", "/voipbin-ai/missing")

    response = call(TRANSCRIPT, headers=signed(TRANSCRIPT))

    # Our fault, not VoIPBin's: a 5xx makes VoIPBin deliver it again once the secret exists.
    assert response["statusCode"] == 500
    assert published() == []


def test_logs_carry_the_event_but_no_secret_or_phone_number(published: Received, logs: LogCapture) -> None:
    body = (WEBHOOK_SAMPLES / "call_progressing.json").read_bytes()

    call(body, headers=signed(body))

    [record] = logs.records()
    assert record["message"] == "Webhook accepted"
    assert record["event_type"] == "call_progressing"
    assert record["resource_id"] == "9c5e2a1d-6f4b-4e0a-9d2e-3b7c8a1f0e55"
    logs.assert_no_personal_data(SECRET, "+15551234567", "+15559876543")


QUEUED_TYPES = "transcript_created,transcribe_speech_started"


@pytest.fixture
def voice_queue(published: Received, monkeypatch: pytest.MonkeyPatch) -> Received:
    """The template's routing on moto: the voice types queued, the rest on the bus; returns the queue's bodies."""
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="voice-events")["QueueUrl"]
    monkeypatch.setenv("VOICE_EVENTS_QUEUE_URL", queue_url)
    monkeypatch.setenv("QUEUED_EVENT_TYPES", QUEUED_TYPES)

    def received() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [{"body": message["Body"]} for message in messages]

    return received


@pytest.mark.parametrize("name", ["transcript_created.json", "transcribe_speech_started.json"])
def test_a_queued_type_goes_to_its_queue_byte_for_byte_and_not_to_the_bus(
    voice_queue: Received, published: Received, name: str
) -> None:
    body = (WEBHOOK_SAMPLES / name).read_bytes()

    response = call(body, headers=signed(body))

    assert response["statusCode"] == 200
    assert answer(response)["status"] == "published"
    assert voice_queue() == [{"body": body.decode()}]
    assert published() == []


def test_the_other_types_still_go_to_the_bus(voice_queue: Received, published: Received) -> None:
    body = (WEBHOOK_SAMPLES / "call_hangup.json").read_bytes()

    assert call(body, headers=signed(body))["statusCode"] == 200

    assert [event["detail-type"] for event in published()] == ["call_hangup"]
    assert voice_queue() == []


def test_a_failed_send_to_the_queue_is_503_so_that_voipbin_retries(voice_queue: Received, logs: LogCapture) -> None:
    from voipbin_ai import sqs

    with Stubber(sqs._sqs_client()) as stubber:
        stubber.add_client_error("send_message", service_error_code="AWS.SimpleQueueService.NonExistentQueue")
        response = call(TRANSCRIPT, headers=signed(TRANSCRIPT))

    assert response["statusCode"] == 503
    assert any(record.get("message") == "Publish failed; VoIPBin will retry" for record in logs.records())


def test_queued_types_without_their_queue_are_a_misconfiguration(
    published: Received, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUEUED_EVENT_TYPES", QUEUED_TYPES)

    # Our fault: a 5xx, so VoIPBin delivers it again once the queue is configured.
    assert call(TRANSCRIPT, headers=signed(TRANSCRIPT))["statusCode"] == 500
    assert published() == []
