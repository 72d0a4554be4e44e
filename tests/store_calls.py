"""Counting DynamoDB round trips, through the client's own events (the budget of a voice turn is a test)."""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

from voipbin_ai.models.session import ReplySoFar
from voipbin_ai.store.base import ConversationStore
from voipbin_ai.store.dynamodb import DynamoDBStore

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


def replied(store: ConversationStore, conversation_id: str, turn: int, text: str, *, user_text: str | None) -> bool:
    """Record a reply and, when that succeeds, keep it in the history, as a channel does around delivering it."""
    reply = ReplySoFar(turn=turn, text=text, user_text=user_text)
    if not store.record_reply(conversation_id, reply):
        return False
    store.keep_reply(conversation_id, reply, spoken=True)
    return True


def one_voice_turn_calls(store: DynamoDBStore, conversation_id: str) -> Counter[str]:
    """The DynamoDB calls of one voice turn on an open call: take the turn, read history, record a one-piece reply.

    Its copy into the history (keep_reply) comes after the words are on their way, so it is not counted.
    """
    with counted_calls(store.client) as calls:
        turn = store.take_turn(conversation_id, channel="voice", open_if_missing=False)
        assert turn
        store.history(conversation_id, limit=20)
        assert store.record_reply(conversation_id, ReplySoFar(turn=turn.number, text="Hello.", user_text="hi"))
    return calls


def _actions_and_keys(operation: str, params: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The IAM actions a DynamoDB call needs, each with the partition key it touches."""
    if operation == "TransactWriteItems":
        for item in params["TransactItems"]:
            ((kind, request),) = item.items()
            action = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}.get(kind, "ConditionCheckItem")
            yield f"dynamodb:{action}", (request.get("Key") or request["Item"])["pk"]["S"]
    elif operation == "Query":
        yield "dynamodb:Query", params["ExpressionAttributeValues"][":pk"]["S"]
    else:
        yield f"dynamodb:{operation}", (params.get("Key") or params.get("Item") or {}).get("pk", {}).get("S", "")


@contextmanager
def dynamodb_access() -> Iterator[list[tuple[str, str]]]:
    """Every (IAM action, partition key) of the DynamoDB calls any client in this process makes meanwhile."""
    from botocore.client import BaseClient

    accessed: list[tuple[str, str]] = []
    make_api_call = vars(BaseClient)["_make_api_call"]

    def recording(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            accessed.extend(_actions_and_keys(operation, params))
        return make_api_call(client, operation, params)

    with patch.object(BaseClient, "_make_api_call", recording):
        yield accessed
