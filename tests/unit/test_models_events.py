"""Webhook envelopes: every sample parses into its model, unknown types pass, bad ones name the field."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from local.voipbin_state import VoipbinState
from tests.helpers import WEBHOOK_SAMPLES, load_json
from tests.unit.test_models_voipbin import assert_fields_known, with_unknown_fields
from voipbin_ai.exceptions import InvalidEventError
from voipbin_ai.models.events import (
    CallEvent,
    CallEventType,
    ConversationMessageEvent,
    ConversationMessageEventType,
    MessageEvent,
    MessageEventType,
    TranscribeEvent,
    TranscribeEventType,
    TranscribeSpeechEvent,
    TranscribeSpeechEventType,
    TranscriptCreatedEvent,
    TranscriptEventType,
    UnhandledEvent,
    outside_window,
    parse_webhook,
)
from voipbin_ai.models.voipbin import (
    CALL_STATUS_HANGUP,
    DIRECTION_IN,
    MESSAGE_DIRECTION_INBOUND,
    Speaking,
)

ID = "06af78f0-b063-48c0-b22d-d31a5af0aa88"
TRANSCRIBE_ID = "bbf08426-3979-41bc-a544-5fc92c237848"

EXPECTED_MODELS: dict[str, type[BaseModel]] = {
    "call_hangup.json": CallEvent,
    "call_progressing.json": CallEvent,
    "conversation_message_created.inbound_sms.json": ConversationMessageEvent,
    "conversation_message_created.line.json": ConversationMessageEvent,
    "message_created.inbound_sms.json": MessageEvent,
    "speaking_started.NOT_A_WEBHOOK.json": UnhandledEvent,
    "speaking_stopped.NOT_A_WEBHOOK.json": UnhandledEvent,
    "transcribe_created.json": TranscribeEvent,
    "transcribe_done.json": TranscribeEvent,
    "transcribe_speech_ended.json": TranscribeSpeechEvent,
    "transcribe_speech_interim.json": TranscribeSpeechEvent,
    "transcribe_speech_started.json": TranscribeSpeechEvent,
    "transcript_created.json": TranscriptCreatedEvent,
}
WEBHOOK_FILES = sorted(p for p in WEBHOOK_SAMPLES.glob("*.json") if p.name != "signature_test_vector.json")

# A minimal valid data object per event family, for the types no sample covers.
MINIMAL_DATA: list[tuple[Any, type[BaseModel], dict[str, Any]]] = [
    (CallEventType, CallEvent, {"id": ID}),
    (TranscriptEventType, TranscriptCreatedEvent, {"id": ID, "transcribe_id": TRANSCRIBE_ID}),
    (TranscribeSpeechEventType, TranscribeSpeechEvent, {"id": ID, "streaming_id": ID, "transcribe_id": ID}),
    (TranscribeEventType, TranscribeEvent, {"id": ID}),
    (MessageEventType, MessageEvent, {"id": ID}),
    (ConversationMessageEventType, ConversationMessageEvent, {"id": ID, "conversation_id": ID}),
]
EVERY_TYPE = [(event_type, model, data) for types, model, data in MINIMAL_DATA for event_type in get_args(types)]


def transcript_created(**data: Any) -> dict[str, Any]:
    sample: dict[str, Any] = load_json(WEBHOOK_SAMPLES / "transcript_created.json")
    sample["data"].update(data)
    return sample


def test_every_sample_has_an_expected_model() -> None:
    assert [path.name for path in WEBHOOK_FILES] == sorted(EXPECTED_MODELS)


@pytest.mark.parametrize("path", WEBHOOK_FILES, ids=lambda path: path.name)
@pytest.mark.parametrize("unknown_fields", [False, True], ids=["as_sent", "with_unknown_fields"])
def test_every_webhook_sample_parses(path: Path, unknown_fields: bool) -> None:
    sample = load_json(path)
    event = parse_webhook(with_unknown_fields(sample) if unknown_fields else sample)
    assert type(event) is EXPECTED_MODELS[path.name]
    assert event.type == sample["type"]
    if isinstance(event, UnhandledEvent):
        # speaking_* never reach webhooks; their data is still a Speaking (timeline API).
        speaking = Speaking.model_validate(event.data)
        assert_fields_known(speaking, sample["data"])
        assert speaking.reference_id == sample["data"]["reference_id"]
    else:
        assert_fields_known(event.data, sample["data"])
        assert event.data.id == sample["data"]["id"]


@pytest.mark.parametrize(("event_type", "model", "data"), EVERY_TYPE, ids=[row[0] for row in EVERY_TYPE])
def test_every_known_type_parses(event_type: str, model: type[BaseModel], data: dict[str, Any]) -> None:
    event = parse_webhook({"type": event_type, "data": data})
    assert type(event) is model
    assert event.type == event_type


def test_raw_bytes_and_text_parse() -> None:
    vector = load_json(WEBHOOK_SAMPLES / "signature_test_vector.json")
    body: str = vector["body_utf8"]
    for payload in (body, body.encode()):
        event = parse_webhook(payload)
        assert isinstance(event, TranscriptCreatedEvent)
        assert event.data.id == ID


def test_transcript_created() -> None:
    event = parse_webhook(load_json(WEBHOOK_SAMPLES / "transcript_created.json"))
    assert isinstance(event, TranscriptCreatedEvent)
    assert event.data.transcribe_id == TRANSCRIBE_ID
    assert event.data.direction == DIRECTION_IN
    assert event.data.tm_transcript == timedelta(seconds=6.482113)
    assert event.data.tm_create == datetime(2026, 8, 22, 10, 15, 8, 903511, tzinfo=UTC)


def test_speech_event_nanosecond_timestamp() -> None:
    event = parse_webhook(load_json(WEBHOOK_SAMPLES / "transcribe_speech_started.json"))
    assert isinstance(event, TranscribeSpeechEvent)
    assert event.data.tm_event == datetime(2026, 8, 22, 10, 15, 5, 118402, tzinfo=UTC)
    assert event.data.message == ""
    interim = parse_webhook(load_json(WEBHOOK_SAMPLES / "transcribe_speech_interim.json"))
    assert isinstance(interim, TranscribeSpeechEvent)
    assert interim.data.message == "Hi, I would like to check the"


def test_call_hangup() -> None:
    event = parse_webhook(load_json(WEBHOOK_SAMPLES / "call_hangup.json"))
    assert isinstance(event, CallEvent)
    assert event.data.status == CALL_STATUS_HANGUP
    assert (event.data.hangup_by, event.data.hangup_reason) == ("remote", "normal")
    assert event.data.groupcall_id is None
    assert event.data.action.option == {"language": "en-US", "text": "Thank you for calling. Goodbye."}


def test_inbound_sms() -> None:
    event = parse_webhook(load_json(WEBHOOK_SAMPLES / "message_created.inbound_sms.json"))
    assert isinstance(event, MessageEvent)
    assert event.data.direction == MESSAGE_DIRECTION_INBOUND
    assert event.data.source.target == "+15551234567"
    assert event.data.targets[0].tm_update is None


def test_the_simulators_inbound_sms_is_one() -> None:
    data = VoipbinState(emit=lambda _: None).inbound_sms("+15551234567", "+15559876543", "Hi")

    event = parse_webhook({"type": "message_created", "data": data})

    assert isinstance(event, MessageEvent)
    assert event.data.direction == MESSAGE_DIRECTION_INBOUND
    assert (event.data.source.target, event.data.targets[0].destination.target) == ("+15551234567", "+15559876543")
    assert event.data.text == "Hi"


def test_transcribe_null_timestamps() -> None:
    event = parse_webhook(load_json(WEBHOOK_SAMPLES / "transcribe_created.json"))
    assert isinstance(event, TranscribeEvent)
    assert (event.data.tm_update, event.data.tm_delete) == (None, None)
    assert event.data.on_end_flow_id is None


@pytest.mark.parametrize("event_type", ["recording_started", "conversation_created", "call_transferred", "x"])
def test_unknown_types_are_unhandled_not_errors(event_type: str) -> None:
    event = parse_webhook({"type": event_type, "data": {"id": "anything", "n": [1]}})
    assert isinstance(event, UnhandledEvent)
    assert event.type == event_type
    assert event.data == {"id": "anything", "n": [1]}


def test_unknown_top_level_fields_are_ignored() -> None:
    event = parse_webhook({**transcript_created(), "timestamp": "2026-08-22T10:15:08Z", "id": 1})
    assert isinstance(event, TranscriptCreatedEvent)


def test_wrong_field_type_names_the_field() -> None:
    with pytest.raises(InvalidEventError) as caught:
        parse_webhook(transcript_created(transcribe_id=42))
    assert caught.value.event_type == "transcript_created"
    assert caught.value.field == "data.transcribe_id"
    assert caught.value.reason == "Input should be a valid string"
    assert "transcript_created" in str(caught.value)
    assert "data.transcribe_id" in str(caught.value)


def test_nested_bad_field_is_a_dotted_path() -> None:
    sample = load_json(WEBHOOK_SAMPLES / "message_created.inbound_sms.json")
    sample["data"]["targets"][0]["parts"] = "one"
    with pytest.raises(InvalidEventError) as caught:
        parse_webhook(sample)
    assert (caught.value.event_type, caught.value.field) == ("message_created", "data.targets.0.parts")


def test_a_function_parses_its_own_types_with_the_same_field_paths() -> None:
    accepting = (TranscriptCreatedEvent, TranscribeSpeechEvent)
    event = parse_webhook(transcript_created(), accepting=accepting)
    assert isinstance(event, TranscriptCreatedEvent) and event == parse_webhook(transcript_created())

    with pytest.raises(InvalidEventError) as caught:
        parse_webhook(transcript_created(transcribe_id=42), accepting=accepting)
    assert (caught.value.field, caught.value.reason) == ("data.transcribe_id", "Input should be a valid string")


@pytest.mark.parametrize(
    "body",
    [
        load_json(WEBHOOK_SAMPLES / "call_hangup.json"),
        load_json(WEBHOOK_SAMPLES / "message_created.inbound_sms.json"),
        {"type": "agent_created", "data": {}},
    ],
    ids=["call_hangup", "message_created", "unknown"],
)
def test_a_type_the_function_does_not_take_is_refused_by_its_type(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidEventError) as caught:
        parse_webhook(body, accepting=(TranscriptCreatedEvent,))
    assert (caught.value.event_type, caught.value.field) == (body["type"], "type")


def test_missing_required_field() -> None:
    sample = load_json(WEBHOOK_SAMPLES / "call_hangup.json")
    del sample["data"]["id"]
    with pytest.raises(InvalidEventError) as caught:
        parse_webhook(sample)
    assert (caught.value.event_type, caught.value.field) == ("call_hangup", "data.id")
    assert caught.value.reason == "Field required"


def test_bad_timestamp() -> None:
    with pytest.raises(InvalidEventError) as caught:
        parse_webhook(transcript_created(tm_create="not a time"))
    assert (caught.value.event_type, caught.value.field) == ("transcript_created", "data.tm_create")


@pytest.mark.parametrize("data", [[1, 2], "text", None, 3])
def test_data_not_an_object(data: object) -> None:
    with pytest.raises(InvalidEventError) as caught:
        parse_webhook({"type": "call_hangup", "data": data})
    assert (caught.value.event_type, caught.value.field) == ("call_hangup", "data")


def test_data_missing() -> None:
    with pytest.raises(InvalidEventError) as caught:
        parse_webhook({"type": "speaking_started"})
    assert (caught.value.event_type, caught.value.field) == ("speaking_started", "data")


def test_missing_type() -> None:
    with pytest.raises(InvalidEventError) as caught:
        parse_webhook({"data": {"id": ID}})
    assert (caught.value.event_type, caught.value.field) == ("", "type")


@pytest.mark.parametrize("event_type", [None, 7, "", ["call_hangup"]])
def test_type_not_a_string(event_type: object) -> None:
    with pytest.raises(InvalidEventError) as caught:
        parse_webhook({"type": event_type, "data": {"id": ID}})
    assert (caught.value.event_type, caught.value.field) == ("", "type")


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", "", "[1, 2]", json.dumps("call_hangup")])
def test_body_not_a_json_object(body: bytes | str) -> None:
    with pytest.raises(InvalidEventError) as caught:
        parse_webhook(body)
    assert (caught.value.event_type, caught.value.field) == ("", "body")


NOW = datetime(2026, 8, 22, 10, 15, 8, tzinfo=UTC)  # the transcript sample's own time, to the second


@pytest.mark.parametrize(
    ("now", "outside"),
    [
        (NOW, False),
        (NOW + timedelta(seconds=300), False),
        (NOW + timedelta(seconds=302), True),  # replayed later
        (NOW - timedelta(seconds=302), True),  # dated ahead of this clock by more than any skew
    ],
)
def test_the_replay_window_goes_by_the_events_own_time(now: datetime, outside: bool) -> None:
    event = parse_webhook(load_json(WEBHOOK_SAMPLES / "transcript_created.json"))

    assert outside_window(event, now=now, max_age_seconds=300) is outside
    assert outside_window(event, now=now, max_age_seconds=0) is False  # off


def test_every_acted_on_event_has_its_own_time() -> None:
    for sample in ("call_progressing.json", "transcribe_speech_started.json", "message_created.inbound_sms.json"):
        event = parse_webhook(load_json(WEBHOOK_SAMPLES / sample))
        assert event.occurred_at is not None, sample
    undated = parse_webhook(transcript_created(tm_create=None))
    assert outside_window(undated, now=NOW, max_age_seconds=300)
