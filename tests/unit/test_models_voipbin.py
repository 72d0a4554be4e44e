"""The VoIPBin resource models against the REST samples and the contract's encoding rules."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from tests.helpers import API_SAMPLES, load_json
from voipbin_ai.models.voipbin import (
    CALL_STATUS_HANGUP,
    CALL_STATUS_TERMINATING,
    DIRECTION_IN,
    MESSAGE_DIRECTION_OUTBOUND,
    SPEAKING_STATUS_STOPPED,
    TRANSCRIBE_STATUS_DONE,
    ZERO_UUID,
    Address,
    ApiErrorBody,
    Call,
    ConversationMessage,
    Message,
    Page,
    Speaking,
    SpeechEvent,
    Transcribe,
    Transcript,
)

CALL_ID = "9c5e2a1d-6f4b-4e0a-9d2e-3b7c8a1f0e55"
TRANSCRIBE_ID = "bbf08426-3979-41bc-a544-5fc92c237848"

# Response sample name prefix -> its model. get_customer is not modeled (only its webhook_secret matters,
# and that is read by hand once, not by the functions).
RESPONSE_MODELS: dict[str, type[BaseModel]] = {
    "get_calls_id.": Call,
    "post_calls_id_hangup.": Call,
    "get_speakings_id.": Speaking,
    "post_speakings.": Speaking,
    "post_speakings_id_say.": Speaking,
    "post_speakings_id_flush.": Speaking,
    "post_speakings_id_stop.": Speaking,
    "post_transcribes.": Transcribe,
    "post_transcribes_id_stop.": Transcribe,
    "get_transcripts.": Page[Transcript],
    "post_messages.": Message,
    "error.": ApiErrorBody,
}
RESPONSE_SAMPLES = sorted(
    path
    for path in API_SAMPLES.glob("*.json")
    if (".response." in path.name or path.name.startswith("error.")) and not path.name.startswith("get_customer.")
)


def model_of(path: Path) -> type[BaseModel]:
    return next(model for prefix, model in RESPONSE_MODELS.items() if path.name.startswith(prefix))


def with_unknown_fields(value: Any) -> Any:
    """The value with an unknown field added to every object, as a newer VoIPBin could send."""
    if isinstance(value, dict):
        return {**{k: with_unknown_fields(v) for k, v in value.items()}, "x_future_field": {"nested": [1]}}
    if isinstance(value, list):
        return [with_unknown_fields(item) for item in value]
    return value


def assert_fields_known(model: BaseModel, sample: dict[str, Any]) -> None:
    """Every field of the sample is a field of the model, recursively: the names are the contract's."""
    assert set(sample) <= set(type(model).model_fields), set(sample) - set(type(model).model_fields)
    for name, value in sample.items():
        attribute = getattr(model, name)
        if isinstance(attribute, BaseModel):
            assert_fields_known(attribute, value)
        elif isinstance(attribute, list) and attribute and isinstance(attribute[0], BaseModel):
            for item, item_sample in zip(attribute, value, strict=True):
                assert_fields_known(item, item_sample)


def test_the_samples_are_there() -> None:
    assert len(RESPONSE_SAMPLES) == 16


@pytest.mark.parametrize("path", RESPONSE_SAMPLES, ids=lambda path: path.name)
@pytest.mark.parametrize("unknown_fields", [False, True], ids=["as_sent", "with_unknown_fields"])
def test_every_response_sample_parses(path: Path, unknown_fields: bool) -> None:
    sample = load_json(path)
    model = model_of(path).model_validate(with_unknown_fields(sample) if unknown_fields else sample)
    assert_fields_known(model, sample)
    assert "x_future_field" not in model.model_dump()
    if "id" in sample:
        assert model.model_dump()["id"] == sample["id"]


def test_call_response() -> None:
    call = Call.model_validate(load_json(API_SAMPLES / "post_calls_id_hangup.response.200.json"))
    assert call.id == CALL_ID
    assert call.status == CALL_STATUS_TERMINATING
    assert call.source == Address(type="tel", target="+15551234567")
    assert call.action.type == "answer"
    assert call.action.next_id is None
    assert call.tm_progressing == datetime(2026, 8, 22, 10, 15, 1, 204871, tzinfo=UTC)
    assert call.tm_hangup is None


def test_transcripts_page() -> None:
    page = Page[Transcript].model_validate(load_json(API_SAMPLES / "get_transcripts.response.200.json"))
    assert [t.transcribe_id for t in page.result] == [TRANSCRIBE_ID]
    assert page.result[0].direction == DIRECTION_IN
    assert page.result[0].tm_transcript == timedelta(seconds=6.482113)
    assert page.next_page_token == "2026-08-22T10:15:08.903511Z"


def test_empty_page() -> None:
    page = Page[Transcript].model_validate({"result": None})
    assert page.result == []
    assert page.next_page_token == ""


def test_other_responses() -> None:
    speaking = Speaking.model_validate(load_json(API_SAMPLES / "post_speakings_id_stop.response.200.json"))
    assert speaking.status == SPEAKING_STATUS_STOPPED
    assert speaking.reference_id == CALL_ID
    transcribe = Transcribe.model_validate(load_json(API_SAMPLES / "post_transcribes_id_stop.response.200.json"))
    assert transcribe.status == TRANSCRIBE_STATUS_DONE
    assert transcribe.activeflow_id is None
    assert transcribe.tm_delete is None
    message = Message.model_validate(load_json(API_SAMPLES / "post_messages.response.200.json"))
    assert message.direction == MESSAGE_DIRECTION_OUTBOUND
    targets = [(t.destination.target, t.status, t.parts) for t in message.targets]
    assert targets == [("+15551234567", "queued", 0)]


def test_error_envelope() -> None:
    body = ApiErrorBody.model_validate(load_json(API_SAMPLES / "error.429.rate_limited.json"))
    assert (body.error.status, body.error.reason) == ("RESOURCE_EXHAUSTED", "RATE_LIMIT_EXCEEDED")
    assert body.error.request_id.startswith("req_")
    assert body.error.details == [{"limited_by": "customer"}]
    assert ApiErrorBody.model_validate(load_json(API_SAMPLES / "error.404.json")).error.details == []


def test_absent_omitempty_fields_take_go_zero_values() -> None:
    call = Call.model_validate({"id": CALL_ID})
    assert call.status == ""
    assert call.hangup_by == ""
    assert call.chained_call_ids == []
    assert call.metadata == {}
    assert call.source == Address()
    assert call.action.id is None
    assert call.action.option == {}
    assert call.flow_id is None
    assert call.tm_hangup is None
    speaking = Speaking.model_validate({"id": CALL_ID, "customer_id": ZERO_UUID})
    assert (speaking.status, speaking.language, speaking.tm_create) == ("", "", None)
    conversation_message = ConversationMessage.model_validate({"id": CALL_ID, "conversation_id": CALL_ID})
    assert (conversation_message.text, conversation_message.medias) == ("", [])


def test_null_fields_take_go_zero_values() -> None:
    message = Message.model_validate(
        {"id": CALL_ID, "source": None, "targets": None, "text": None, "tm_create": None, "tm_update": None}
    )
    assert message.source == Address()
    assert message.targets == []
    assert message.text == ""
    assert message.tm_create is None
    assert message.tm_update is None
    assert Call.model_validate({"id": CALL_ID, "action": {"tm_execute": None}}).action.tm_execute is None


def test_unknown_enum_values_parse() -> None:
    call = Call.model_validate({"id": CALL_ID, "status": "parked", "hangup_reason": "new_reason"})
    assert call.status == "parked"
    assert call.hangup_reason == "new_reason"


def test_zero_uuid_is_unset() -> None:
    call = Call.model_validate({"id": CALL_ID, "customer_id": ZERO_UUID, "master_call_id": ZERO_UUID})
    assert call.customer_id is None
    assert call.master_call_id is None


def test_ids_are_lowercased() -> None:
    call = Call.model_validate({"id": CALL_ID.upper(), "flow_id": CALL_ID.upper()})
    assert call.id == CALL_ID
    assert call.flow_id == CALL_ID


@pytest.mark.parametrize("bad_id", [ZERO_UUID, "not-a-uuid", "", f"{CALL_ID}0", 42])
def test_a_required_id_must_be_a_set_uuid(bad_id: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Transcript.model_validate({"id": CALL_ID, "transcribe_id": bad_id})
    assert caught.value.errors()[0]["loc"] == ("transcribe_id",)


def test_an_optional_id_must_still_be_a_uuid() -> None:
    with pytest.raises(ValidationError) as caught:
        Call.model_validate({"id": CALL_ID, "flow_id": "flow-1"})
    assert caught.value.errors()[0]["loc"] == ("flow_id",)


def test_a_required_id_must_be_present() -> None:
    with pytest.raises(ValidationError) as caught:
        SpeechEvent.model_validate({"id": CALL_ID, "transcribe_id": TRANSCRIBE_ID})
    assert caught.value.errors()[0]["loc"] == ("streaming_id",)
    assert caught.value.errors()[0]["type"] == "missing"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-08-22T10:15:05.118402377Z", datetime(2026, 8, 22, 10, 15, 5, 118402, tzinfo=UTC)),
        ("2026-08-22T10:15:05.118402999Z", datetime(2026, 8, 22, 10, 15, 5, 118402, tzinfo=UTC)),
        ("2026-08-22T10:15:01.204871Z", datetime(2026, 8, 22, 10, 15, 1, 204871, tzinfo=UTC)),
        ("2020-09-20T03:23:21.995Z", datetime(2020, 9, 20, 3, 23, 21, 995000, tzinfo=UTC)),
        ("2026-08-22T10:15:05Z", datetime(2026, 8, 22, 10, 15, 5, tzinfo=UTC)),
        ("2026-08-22T10:15:05.5", datetime(2026, 8, 22, 10, 15, 5, 500000, tzinfo=UTC)),
    ],
)
def test_timestamps_are_aware_and_truncated_to_microseconds(text: str, expected: datetime) -> None:
    tm_event = SpeechEvent.model_validate(
        {"id": CALL_ID, "streaming_id": CALL_ID, "transcribe_id": TRANSCRIBE_ID, "tm_event": text}
    ).tm_event
    assert tm_event == expected
    assert tm_event is not None
    assert tm_event.utcoffset() == timedelta(0)


def test_a_bad_timestamp_is_an_error() -> None:
    with pytest.raises(ValidationError) as caught:
        Call.model_validate({"id": CALL_ID, "tm_hangup": "yesterday"})
    assert caught.value.errors()[0]["loc"] == ("tm_hangup",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0001-01-01T00:00:06.482113Z", timedelta(seconds=6.482113)),
        ("0001-01-01T00:00:00Z", timedelta(0)),
        ("0001-01-01T01:02:03.000000001Z", timedelta(hours=1, minutes=2, seconds=3)),
        (None, None),
    ],
)
def test_tm_transcript_is_an_offset(value: str | None, expected: timedelta | None) -> None:
    transcript = Transcript.model_validate({"id": CALL_ID, "transcribe_id": TRANSCRIBE_ID, "tm_transcript": value})
    assert transcript.tm_transcript == expected


def test_absent_tm_transcript_is_none() -> None:
    assert Transcript.model_validate({"id": CALL_ID, "transcribe_id": TRANSCRIBE_ID}).tm_transcript is None


def test_a_bad_tm_transcript_is_an_error() -> None:
    with pytest.raises(ValidationError) as caught:
        Transcript.model_validate({"id": CALL_ID, "transcribe_id": TRANSCRIBE_ID, "tm_transcript": "soon"})
    assert caught.value.errors()[0]["loc"] == ("tm_transcript",)


def test_models_are_immutable() -> None:
    call = Call.model_validate({"id": CALL_ID})
    with pytest.raises(ValidationError):
        call.status = CALL_STATUS_HANGUP  # type: ignore[misc]
