"""Each event acted on once: event identities, and Powertools Idempotency on the table (moto)."""

from typing import TYPE_CHECKING, Any, cast

import pytest

from local.lambda_bootstrap import LocalContext
from tests.helpers import EVENTS_DIR, WEBHOOK_SAMPLES, lambda_context, load_json
from voipbin_ai.container import reset
from voipbin_ai.models.events import parse_webhook
from voipbin_ai.store.idempotency import register_invocation, run_once

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

pytestmark = pytest.mark.usefixtures("moto_table")


@pytest.fixture(autouse=True)
def _invocation() -> None:
    """An invocation's deadline, as the event handler registers it."""
    register_invocation(lambda_context())


def test_both_webhooks_of_one_sms_share_their_identity() -> None:
    sms = parse_webhook(load_json(WEBHOOK_SAMPLES / "message_created.inbound_sms.json"))
    copy = parse_webhook(load_json(WEBHOOK_SAMPLES / "conversation_message_created.inbound_sms.json"))

    assert sms.idempotency_key == copy.idempotency_key


def test_a_call_status_is_part_of_its_identity() -> None:
    progressing = parse_webhook(load_json(WEBHOOK_SAMPLES / "call_progressing.json"))
    hangup = parse_webhook(load_json(WEBHOOK_SAMPLES / "call_hangup.json"))

    assert progressing.idempotency_key != hangup.idempotency_key


def test_speech_events_are_identified_by_stream_and_moment_not_their_random_id() -> None:
    body: dict[str, Any] = load_json(WEBHOOK_SAMPLES / "transcribe_speech_started.json")
    again = {**body, "data": {**body["data"], "id": "11111111-2222-3333-4444-555555555555"}}
    later = {**body, "data": {**body["data"], "tm_event": "2026-08-22T10:15:09.000000001Z"}}

    assert parse_webhook(body).idempotency_key == parse_webhook(again).idempotency_key
    assert parse_webhook(body).idempotency_key != parse_webhook(later).idempotency_key


def test_work_runs_once_per_key() -> None:
    runs: list[str] = []

    assert run_once("k1", lambda: runs.append("k1"))
    assert not run_once("k1", lambda: runs.append("k1 again"))
    assert run_once("k2", lambda: runs.append("k2"))

    assert runs == ["k1", "k2"]


def test_failed_work_runs_again_on_retry() -> None:
    def fail() -> None:
        raise RuntimeError("VoIPBin unreachable")

    with pytest.raises(RuntimeError):
        run_once("k", fail)
    runs: list[int] = []

    assert run_once("k", lambda: runs.append(1))
    assert runs == [1]


def test_a_duplicate_while_the_first_is_running_is_skipped_without_failing() -> None:
    inner: list[bool] = []

    # The duplicate arrives while the first delivery is still inside its work.
    assert run_once("k", lambda: inner.append(run_once("k", lambda: None)))

    assert inner == [False]


def test_an_event_function_skips_a_duplicate_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    from functions.call_hangup import app

    ended: list[str] = []
    monkeypatch.setattr(app, "end_call", lambda call, services: ended.append(call.id))
    event = load_json(EVENTS_DIR / "call_hangup.json")

    app.lambda_handler(event, lambda_context())
    app.lambda_handler({**event, "id": "another-delivery"}, lambda_context())  # EventBridge's id is new

    assert ended == [event["detail"]["data"]["id"]]


def test_a_new_container_keeps_no_earlier_invocations_deadline() -> None:
    register_invocation(cast("LambdaContext", LocalContext("earlier", memory_mb=256, timeout_s=0)))  # over
    reset()
    inner: list[bool] = []

    assert run_once("k", lambda: inner.append(run_once("k", lambda: None)))

    assert inner == [False]  # the first delivery's record still holds: no stale deadline expired it
