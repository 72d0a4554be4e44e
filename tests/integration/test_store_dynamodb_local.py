"""The store and idempotency on AWS's DynamoDB Local: duplicates, races, the turn guard, TTL, round trips."""

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from local.dynamodb_local import ttl_attribute
from tests.fakes.dynamodb_local import DynamoDBTable
from tests.helpers import PHONE_IDS, WEBHOOK_SAMPLES, load_json
from tests.store_calls import one_voice_turn_calls, reads, replied, writes
from voipbin_ai.models.events import parse_webhook
from voipbin_ai.models.session import ReplySoFar, call_conversation_id
from voipbin_ai.store.dynamodb import DynamoDBStore
from voipbin_ai.store.idempotency import run_once

pytestmark = pytest.mark.integration

CALL = call_conversation_id("9c5e2a1d-6f4b-4e0a-9d2e-3b7c8a1f0e55")
THREADS = 8


@pytest.fixture
def store(dynamodb_table: DynamoDBTable) -> DynamoDBStore:
    return DynamoDBStore(dynamodb_table.name, ttl_seconds=3600, client=dynamodb_table.client)


@pytest.fixture
def call(store: DynamoDBStore) -> str:
    assert store.start_call(CALL, caller="+15551234567", callee="+15559876543")
    return CALL


def in_threads[T](count: int, work: Callable[[int], T]) -> list[T]:
    """Run work(0..count-1) at once: a barrier releases every thread together."""
    barrier = threading.Barrier(count)

    def start(index: int) -> T:
        barrier.wait()
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(start, range(count)))


def test_a_duplicate_delivered_again_later_runs_nothing(dynamodb_table: DynamoDBTable) -> None:
    runs: list[int] = []

    results = [run_once("call_hangup:c1:hangup", lambda: runs.append(1)) for _ in range(3)]

    assert results == [True, False, False]
    assert runs == [1]


def test_duplicates_delivered_at_once_run_once_and_none_fails(dynamodb_table: DynamoDBTable) -> None:
    runs: list[int] = []
    skipped = threading.Semaphore(0)

    def slow_work() -> None:
        for _ in range(THREADS - 1):  # the first delivery is still running when every other one has arrived
            assert skipped.acquire(timeout=60)
        runs.append(1)

    def deliver(_: int) -> bool:
        ran = run_once("transcript_created:t1", slow_work)
        if not ran:
            skipped.release()
        return ran

    results = in_threads(THREADS, deliver)

    assert sorted(results) == [False] * (THREADS - 1) + [True]
    assert runs == [1]


def test_both_webhooks_of_one_sms_run_once(dynamodb_table: DynamoDBTable) -> None:
    webhooks = [
        parse_webhook(load_json(WEBHOOK_SAMPLES / "message_created.inbound_sms.json")),
        parse_webhook(load_json(WEBHOOK_SAMPLES / "conversation_message_created.inbound_sms.json")),
    ]
    replies: list[str] = []

    results = in_threads(2, lambda i: run_once(webhooks[i].idempotency_key, lambda: replies.append("reply")))

    assert sorted(results) == [False, True]
    assert replies == ["reply"]


def test_of_turns_taken_at_once_only_the_latest_records_its_reply(store: DynamoDBStore, call: str) -> None:
    turns = in_threads(THREADS, lambda _: store.take_turn(call, channel="voice", open_if_missing=False))
    numbers = sorted(turn.number for turn in turns if turn)
    assert numbers == list(range(1, THREADS + 1))

    recorded = in_threads(THREADS, lambda i: replied(store, call, numbers[i], f"a{numbers[i]}", user_text=f"q{i}"))

    assert [n for n, ok in zip(numbers, recorded, strict=True) if ok] == [THREADS]
    assert [m.text for m in store.history(call, limit=10)] == [f"q{THREADS - 1}", f"a{THREADS}"]


def test_a_hangup_racing_a_running_turn_stops_it_at_its_next_piece(store: DynamoDBStore, call: str) -> None:
    turn = store.take_turn(call, channel="voice", open_if_missing=False)
    assert turn
    hung_up, speaking = threading.Event(), threading.Event()
    spoken_after_hangup: list[int] = []

    def speak_pieces() -> None:
        for piece in range(200):
            was_hung_up = hung_up.is_set()
            if not store.record_reply(call, ReplySoFar(turn=turn.number, text=f"piece {piece}")):
                return
            speaking.set()
            if was_hung_up:
                spoken_after_hangup.append(piece)

    speaker = threading.Thread(target=speak_pieces)
    speaker.start()
    assert speaking.wait(timeout=30)  # the reply is under way when the hangup comes
    store.end_conversation(call, channel="voice")
    hung_up.set()
    speaker.join(timeout=30)

    assert not speaker.is_alive()
    assert spoken_after_hangup == []
    assert store.take_turn(call, channel="voice", open_if_missing=False) is None


def test_sms_threads_opened_at_once_are_one_thread(store: DynamoDBStore) -> None:
    thread = PHONE_IDS.sms_conversation("+15559876543", "+15551234567")

    turns = in_threads(THREADS, lambda _: store.take_turn(thread, channel="sms", open_if_missing=True))

    assert sorted(turn.number for turn in turns if turn) == list(range(1, THREADS + 1))


def test_failed_conditional_writes_are_answers_not_errors(store: DynamoDBStore, call: str) -> None:
    assert not store.start_call(call, caller="x", callee="y")
    assert not replied(store, call, 99, "Hello.", user_text="hi")
    store.mark_interrupted(call, 99)
    store.end_conversation(call, channel="voice")
    assert not store.attach_call_media(call, transcribe_id="t", speaking_id="s")
    assert not store.set_speaking(call, "s")


def test_every_item_has_a_ttl(store: DynamoDBStore, call: str, dynamodb_table: DynamoDBTable) -> None:
    store.attach_call_media(call, transcribe_id="bbf08426", speaking_id="a1b2c3d4")
    turn = store.take_turn(call, channel="voice", open_if_missing=False)
    assert turn and replied(store, call, turn.number, "Hello.", user_text="hi")
    store.take_turn(PHONE_IDS.sms_conversation("+1", "+2"), channel="sms", open_if_missing=True)
    run_once("call_hangup:c1:hangup", lambda: None)
    store.end_conversation(call, channel="voice")

    items = dynamodb_table.client.scan(TableName=dynamodb_table.name)["Items"]

    assert {item["sk"]["S"][:3] for item in items} >= {"SES", "MSG", "CAL"}
    assert any(item["pk"]["S"].startswith("idempotency#") for item in items)
    assert all(int(item[ttl_attribute()]["N"]) > time.time() for item in items)


def test_a_voice_turn_costs_one_read_and_two_writes(store: DynamoDBStore, call: str) -> None:
    calls = one_voice_turn_calls(store, call)

    assert (reads(calls), writes(calls)) == (1, 2), calls
