"""The conversation store: sessions, turns, the reply guard, history, mappings, counters and TTL.

The behaviour tests run against both implementations, DynamoDB (on moto) and the in-memory fake the engine
and logic tests use, so the fake cannot drift from what ships. The last tests are DynamoDB's own.
"""

import pytest

from tests.fakes.memory_store import InMemoryStore
from tests.helpers import PHONE_IDS
from tests.store_calls import one_voice_turn_calls, reads, replied, writes
from voipbin_ai.exceptions import StoreError
from voipbin_ai.models.session import ReplySoFar, call_conversation_id
from voipbin_ai.store.base import ConversationStore
from voipbin_ai.store.dynamodb import DynamoDBStore

CALL = call_conversation_id("9c5e2a1d-6f4b-4e0a-9d2e-3b7c8a1f0e55")
SMS = PHONE_IDS.sms_conversation("+15559876543", "+15551234567")
NOW = 1_800_000_000


@pytest.fixture(params=["dynamodb", "in-memory"])
def store(request: pytest.FixtureRequest) -> ConversationStore:
    """Each implementation, on a clock fixed at NOW."""
    if request.param == "in-memory":
        return InMemoryStore(clock=lambda: NOW)
    dynamodb: DynamoDBStore = request.getfixturevalue("dynamodb_store")
    return dynamodb


def open_call(store: ConversationStore) -> None:
    assert store.start_call(CALL, caller="+15551234567", callee="+15559876543")


def test_a_call_opens_once(store: ConversationStore) -> None:
    open_call(store)

    assert not store.start_call(CALL, caller="+15551234567", callee="+15559876543")
    session = store.get_session(CALL)
    assert session is not None
    assert (session.channel, session.status, session.turn) == ("voice", "active", 0)
    assert session.their_address == "+15551234567"


def test_turns_of_a_call_are_numbered_in_order(store: ConversationStore) -> None:
    open_call(store)

    numbers = [
        turn.number
        for turn in (store.take_turn(CALL, channel="voice", open_if_missing=False) for _ in range(3))
        if turn
    ]

    assert numbers == [1, 2, 3]


def test_an_unknown_call_takes_no_turn(store: ConversationStore) -> None:
    assert store.take_turn(CALL, channel="voice", open_if_missing=False) is None
    assert store.get_session(CALL) is None


def test_an_sms_thread_opens_on_its_first_message(store: ConversationStore) -> None:
    turn = store.take_turn(SMS, channel="sms", open_if_missing=True, our_address="+1555987", their_address="+1555123")

    assert turn is not None
    assert turn.number == 1
    assert (turn.session.channel, turn.session.our_address, turn.session.their_address) == (
        "sms",
        "+1555987",
        "+1555123",
    )
    again = store.take_turn(SMS, channel="sms", open_if_missing=True, our_address="x", their_address="y")
    assert again is not None
    assert (again.number, again.session.our_address) == (2, "+1555987")


def test_only_the_latest_turn_may_record_its_reply(store: ConversationStore) -> None:
    open_call(store)
    first = store.take_turn(CALL, channel="voice", open_if_missing=False)
    second = store.take_turn(CALL, channel="voice", open_if_missing=False)
    assert first and second

    assert not replied(store, CALL, first.number, "Hi there.", user_text="hello")
    assert replied(store, CALL, second.number, "Yes.", user_text="are you there?")
    assert [(m.turn, m.role, m.text) for m in store.history(CALL, limit=10)] == [
        (2, "user", "are you there?"),
        (2, "assistant", "Yes."),
    ]


def test_a_reply_grows_piece_by_piece_and_can_be_marked_interrupted(store: ConversationStore) -> None:
    open_call(store)
    turn = store.take_turn(CALL, channel="voice", open_if_missing=False)
    assert turn

    assert replied(store, CALL, turn.number, "Hello.", user_text="hi")
    assert replied(store, CALL, turn.number, "Hello. How can I help?", user_text=None)
    store.mark_interrupted(CALL, turn.number)

    user, assistant = store.history(CALL, limit=10)
    assert (user.text, user.interrupted) == ("hi", False)
    assert (assistant.text, assistant.interrupted) == ("Hello. How can I help?", True)
    session = store.get_session(CALL)
    assert session and session.reply_turn == turn.number


def test_a_recorded_reply_is_in_the_history_before_its_copy_is_written(store: ConversationStore) -> None:
    open_call(store)
    turn = store.take_turn(CALL, channel="voice", open_if_missing=False)
    assert turn
    first = ReplySoFar(turn=turn.number, text="Hello.", user_text="hi", user_sent_at_ms=1_000)
    assert store.record_reply(CALL, first)
    store.keep_reply(CALL, first, spoken=True)

    assert store.record_reply(CALL, first.model_copy(update={"text": "Hello. How can I help?"}))

    user, assistant = store.history(CALL, limit=10)
    assert (user.text, user.sent_at_ms) == ("hi", 1_000)
    assert (assistant.text, assistant.interrupted) == ("Hello. How can I help?", False)
    assert len(store.history(CALL, limit=1)) == 1


def test_a_reply_kept_after_a_newer_turn_took_over_is_kept_interrupted(store: ConversationStore) -> None:
    open_call(store)
    turn = store.take_turn(CALL, channel="voice", open_if_missing=False)
    assert turn
    reply = ReplySoFar(turn=turn.number, text="Let me check that for", user_text="is it open?")
    assert store.record_reply(CALL, reply)
    newer = store.take_turn(CALL, channel="voice", open_if_missing=False)
    assert newer
    store.mark_interrupted(CALL, turn.number)  # the newer turn flushed it before the copy was written

    store.keep_reply(CALL, reply, spoken=True)

    user, assistant = store.history(CALL, limit=10)
    assert (user.text, user.interrupted) == ("is it open?", False)
    assert (assistant.text, assistant.interrupted) == ("Let me check that for", True)


def test_a_reply_sent_whole_is_never_kept_interrupted(store: ConversationStore) -> None:
    turn = store.take_turn(SMS, channel="sms", open_if_missing=True)
    assert turn
    reply = ReplySoFar(turn=turn.number, text="Friday works.")
    assert store.record_reply(SMS, reply)
    assert store.take_turn(SMS, channel="sms", open_if_missing=True)

    store.keep_reply(SMS, reply, spoken=False)

    (assistant,) = store.history(SMS, limit=10)
    assert (assistant.text, assistant.interrupted) == ("Friday works.", False)


def test_a_reply_barged_in_on_reads_interrupted_before_its_copy_is_written(store: ConversationStore) -> None:
    open_call(store)
    turn = store.take_turn(CALL, channel="voice", open_if_missing=False)
    assert turn and store.record_reply(CALL, ReplySoFar(turn=turn.number, text="Our hours are", user_text="hours?"))

    store.halt_reply(CALL, turn.number)

    assert [(m.text, m.interrupted) for m in store.history(CALL, limit=10)] == [
        ("hours?", False),
        ("Our hours are", True),
    ]


def test_marking_a_reply_that_was_never_recorded_changes_nothing(store: ConversationStore) -> None:
    open_call(store)

    store.mark_interrupted(CALL, 7)

    assert store.history(CALL, limit=10) == []


def test_history_returns_the_last_messages_oldest_first(store: ConversationStore) -> None:
    open_call(store)
    for n in range(1, 5):
        turn = store.take_turn(CALL, channel="voice", open_if_missing=False)
        assert turn and replied(store, CALL, turn.number, f"a{n}", user_text=f"q{n}")

    assert [m.text for m in store.history(CALL, limit=3)] == ["a3", "q4", "a4"]


def test_history_puts_a_burst_in_the_order_it_was_written_not_processed(store: ConversationStore) -> None:
    written = {"Hi": 1_000, "I need to move my appointment": 2_000, "to Friday please": 3_000}
    # The texts took their turns in another order than they were written (VoIPBin keeps no order).
    for text in ("I need to move my appointment", "to Friday please", "Hi"):
        turn = store.take_turn(SMS, channel="sms", open_if_missing=True)
        assert turn
        store.record_user_message(SMS, turn.number, text, sent_at_ms=written[text])
    assert replied(store, SMS, 3, "Friday works.", user_text=None)
    later = store.take_turn(SMS, channel="sms", open_if_missing=True)
    assert later
    store.record_user_message(SMS, later.number, "Thanks", sent_at_ms=500)  # a skewed clock: still after the reply

    history = store.history(SMS, limit=10)

    assert [m.text for m in history] == [*written, "Friday works.", "Thanks"]
    assert [m.sent_at_ms for m in history] == [1_000, 2_000, 3_000, None, 500]


class Clock:
    """Epoch seconds that a test moves on."""

    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["dynamodb", "in-memory"])
def clocked(request: pytest.FixtureRequest) -> tuple[ConversationStore, Clock]:
    """Each implementation, on a clock the test moves."""
    clock = Clock()
    if request.param == "in-memory":
        return InMemoryStore(clock=clock), clock
    return DynamoDBStore(request.getfixturevalue("moto_table"), ttl_seconds=3600, clock=clock), clock


def text_turn(store: ConversationStore, key: str) -> int | None:
    """One message of an SMS thread that starts afresh after an hour without one."""
    turn = store.take_turn(SMS, channel="sms", open_if_missing=True, event_key=key, fresh_after_seconds=3600)
    return turn.number if turn else None


def test_a_thread_idle_for_longer_than_its_window_starts_a_fresh_context(
    clocked: tuple[ConversationStore, Clock],
) -> None:
    store, clock = clocked
    assert text_turn(store, "e1") == 1
    assert replied(store, SMS, 1, "We open at eight.", user_text="When do you open?")
    assert store.save_summary(SMS, "They asked when we open.", through_turn=1)
    clock.now += 3599
    assert text_turn(store, "e2") == 2  # within the window: the same context
    store.record_user_message(SMS, 2, "Thanks", sent_at_ms=None)

    clock.now += 3601
    assert text_turn(store, "e3") == 3

    session = store.get_session(SMS)
    assert session is not None
    assert (session.context_turn, session.summary, session.summary_turn, session.active) == (2, "", 2, True)
    store.record_user_message(SMS, 3, "Hello again", sent_at_ms=None)
    assert [message.text for message in store.history(SMS, limit=10)] == ["Hello again"]
    assert not store.save_summary(SMS, "older", through_turn=2)


def test_an_ended_thread_opens_again_once_idle(clocked: tuple[ConversationStore, Clock]) -> None:
    store, clock = clocked
    assert text_turn(store, "e1") == 1
    store.end_conversation(SMS, channel="sms")
    assert text_turn(store, "e2") is None

    clock.now += 7200

    assert text_turn(store, "e3") == 2
    session = store.get_session(SMS)
    assert session is not None and session.active and session.ended_at is None


def test_a_redelivery_after_the_window_gets_its_own_turn_back(clocked: tuple[ConversationStore, Clock]) -> None:
    store, clock = clocked
    assert text_turn(store, "e1") == 1
    clock.now += 7200
    assert text_turn(store, "e2") == 2

    clock.now += 7200
    turn = store.take_turn(SMS, channel="sms", open_if_missing=True, event_key="e2", fresh_after_seconds=3600)

    assert turn is not None and (turn.number, turn.replayed) == (2, True)


def test_words_said_before_the_latest_turn_take_no_turn_and_its_own_redelivery_is_replayed(
    store: ConversationStore,
) -> None:
    open_call(store)

    def voice_turn(key: str, said_at_ms: int) -> tuple[int, bool] | None:
        turn = store.take_turn(CALL, channel="voice", open_if_missing=False, event_key=key, said_at_ms=said_at_ms)
        return (turn.number, turn.replayed) if turn else None

    assert voice_turn("t1", 1_000) == (1, False)
    assert voice_turn("t2", 2_000) == (2, False)

    assert voice_turn("t1", 1_000) is None  # a redelivery of t1, or t1 arriving late: t2 keeps its turn
    assert voice_turn("t0", 1_500) is None
    assert voice_turn("t2", 2_000) == (2, True)
    assert voice_turn("t3", 2_000) == (3, False)  # words of the same moment are a turn of their own
    session = store.get_session(CALL)
    assert session is not None and session.turn == 3


def test_an_ended_conversation_takes_no_turn_and_records_nothing(store: ConversationStore) -> None:
    open_call(store)
    turn = store.take_turn(CALL, channel="voice", open_if_missing=False)
    assert turn

    ended = store.end_conversation(CALL, channel="voice")

    assert (ended.status, ended.ended_at is not None) == ("ended", True)
    assert not replied(store, CALL, turn.number, "Hello.", user_text="hi")
    assert store.take_turn(CALL, channel="voice", open_if_missing=False) is None
    assert not store.set_speaking(CALL, "a1b2c3d4-0000-0000-0000-000000000001")


def test_a_hangup_before_the_call_is_opened_keeps_it_from_opening(store: ConversationStore) -> None:
    ended = store.end_conversation(CALL, channel="voice")

    assert ended.status == "ended"
    assert not store.start_call(CALL, caller="+15551234567", callee="+15559876543")
    assert store.take_turn(CALL, channel="voice", open_if_missing=True) is None


def test_media_are_attached_to_a_live_call_with_the_transcribe_mapping(store: ConversationStore) -> None:
    open_call(store)

    assert store.attach_call_media(CALL, transcribe_id="bbf08426", speaking_id="a1b2c3d4")

    assert store.conversation_of_transcribe("bbf08426") == CALL
    session = store.get_session(CALL)
    assert session and (session.transcribe_id, session.speaking_id) == ("bbf08426", "a1b2c3d4")


def test_media_are_not_attached_to_an_ended_call(store: ConversationStore) -> None:
    open_call(store)
    store.end_conversation(CALL, channel="voice")

    assert not store.attach_call_media(CALL, transcribe_id="bbf08426", speaking_id="a1b2c3d4")
    assert store.conversation_of_transcribe("bbf08426") is None


def test_a_caller_heard_is_recorded_on_a_live_call_only(store: ConversationStore) -> None:
    open_call(store)
    store.hear_caller(CALL, at_ms=NOW * 1000)
    store.end_conversation(CALL, channel="voice")

    store.hear_caller(CALL, at_ms=NOW * 1000 + 5000)

    session = store.get_session(CALL)
    assert session is not None and session.heard_at_ms == NOW * 1000


def test_a_transcribe_can_be_mapped_later(store: ConversationStore) -> None:
    assert store.conversation_of_transcribe("bbf08426") is None

    store.map_transcribe("bbf08426", CALL)

    assert store.conversation_of_transcribe("bbf08426") == CALL


def test_the_summary_is_kept_on_the_session(store: ConversationStore) -> None:
    open_call(store)

    assert store.save_summary(CALL, "Asked about order 42.", through_turn=3)

    session = store.get_session(CALL)
    assert session and session.summary == "Asked about order 42."


def test_a_counter_fills_its_window(store: ConversationStore) -> None:
    assert [store.count_use("chat:abc", window_seconds=60, limit=2) for _ in range(3)] == [True, True, False]
    assert store.count_use("chat:abc", window_seconds=7, limit=2)  # another window length: another counter
    store.add_usage("chat-tokens", 700, window_seconds=86400)
    store.add_usage("chat-tokens", 50, window_seconds=86400)
    assert store.usage("chat-tokens", window_seconds=86400) == 750
    assert store.usage("chat-other", window_seconds=86400) == 0


def test_a_tool_is_claimed_once_per_turn_and_within_its_limit(store: ConversationStore) -> None:
    open_call(store)

    assert store.begin_tool_call(CALL, 1, "send_sms#1") is None
    earlier = store.begin_tool_call(CALL, 1, "send_sms#1")
    assert earlier is not None and not earlier.done
    store.finish_tool_call(CALL, 1, "send_sms#1", "sent")
    assert store.begin_tool_call(CALL, 1, "send_sms#1") == earlier.model_copy(update={"done": True, "result": "sent"})
    assert store.begin_tool_call(CALL, 2, "send_sms#1") is None
    assert [store.claim_tool_use(CALL, "send_sms", limit=2) for _ in range(3)] == [True, True, False]
    session = store.get_session(CALL)
    assert session is not None and session.tool_uses == {"send_sms": 2}


def test_contact_memory_is_kept_across_conversations(store: ConversationStore) -> None:
    assert store.contact_memory("contact:abc") == ""
    store.remember_contact("contact:abc", "Asked about a crown.")
    assert store.contact_memory("contact:abc") == "Asked about a crown."


def test_every_item_expires(dynamodb_store: DynamoDBStore, moto_table: str) -> None:
    open_call(dynamodb_store)
    dynamodb_store.attach_call_media(CALL, transcribe_id="bbf08426", speaking_id="a1b2c3d4")
    turn = dynamodb_store.take_turn(CALL, channel="voice", open_if_missing=False)
    assert turn and replied(dynamodb_store, CALL, turn.number, "Hello.", user_text="hi")
    dynamodb_store.take_turn(SMS, channel="sms", open_if_missing=True)
    dynamodb_store.end_conversation(CALL, channel="voice")

    items = dynamodb_store.client.scan(TableName=moto_table)["Items"]

    assert len(items) == 5
    assert all(int(item["expires_at"]["N"]) == NOW + 3600 for item in items)


def test_a_voice_turn_costs_one_read_and_two_writes(dynamodb_store: DynamoDBStore) -> None:
    open_call(dynamodb_store)

    calls = one_voice_turn_calls(dynamodb_store, CALL)

    assert (reads(calls), writes(calls)) == (1, 2), calls


def test_other_dynamodb_errors_are_store_errors(dynamodb_store: DynamoDBStore) -> None:
    broken = DynamoDBStore("no-such-table", ttl_seconds=60, client=dynamodb_store.client)

    with pytest.raises(StoreError, match="ResourceNotFoundException"):
        broken.take_turn(CALL, channel="voice", open_if_missing=False)
