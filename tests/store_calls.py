"""Counting DynamoDB round trips, through the client's own events (the budget of a voice turn is a test)."""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

READS = frozenset({"GetItem", "Query", "BatchGetItem", "Scan"})
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})


@contextmanager
def counted_calls(client: Any) -> Iterator[Counter[str]]:
    """Counts of the operations `client` sends while the block runs, by operation name."""
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("before-call.dynamodb.*", count)
    try:
        yield calls
    finally:
        client.meta.events.unregister("before-call.dynamodb.*", count)


def reads(calls: Counter[str]) -> int:
    return sum(n for name, n in calls.items() if name in READS)


def writes(calls: Counter[str]) -> int:
    return sum(n for name, n in calls.items() if name in WRITES)


def one_voice_turn_calls(store: Any, conversation_id: str) -> Counter[str]:
    """The DynamoDB calls of one voice turn on an open call: take the turn, read history, record a one-piece reply."""
    with counted_calls(store.client) as calls:
        turn = store.take_turn(conversation_id, channel="voice", open_if_missing=False)
        assert turn
        store.history(conversation_id, limit=20)
        assert store.record_reply(conversation_id, turn.number, user_text="hi", reply_so_far="Hello.")
    return calls
