"""The only DynamoDB code of the package: conversations, their turns and history, call mappings, usage counters.

One table, composite key (pk, sk), TTL on `expires_at` of every item. Access patterns (README, "State"):

| item | pk | sk | written by |
|---|---|---|---|
| conversation session | `CONV#<conversation id>` | `SESSION` | start_call, take_turn, record_reply, end_conversation |
| history message | `CONV#<conversation id>` | `MSG#<turn:010d>#<0 user, 1 reply>` | keep_reply, record_user_message |
| tool side effect | `CONV#<conversation id>` | `TOOL#<turn:010d>#<call key>` | begin/finish_tool_call |
| tool uses so far | the session's `uses#<tool>` counters | | claim_tool_use |
| transcribe -> call | `TRANSCRIBE#<transcribe id>` | `CALL` | attach_call_media, map_transcribe |
| contact memory | `CONTACT#<contact id>` | `MEMORY` | remember_contact |
| usage counter | `LIMIT#<name>` | the window's number (epoch seconds // window) | count_use, add_usage |
| idempotency record | `idempotency#<function>` | hash of the event key | Powertools Idempotency |

"Latest turn wins" (store/base.py) is two conditional writes on the session item: take_turn's ADD and
record_reply's condition on turn, status and halted_turn. The session holds the latest reply so far
(`pending_reply`), so the history messages can be written after the words are on their way (keep_reply),
off a voice turn's critical path; history() reads the session with the messages, in one query, and takes
the pending reply from there until its copy is written.
"""

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final, cast

from botocore.exceptions import BotoCoreError, ClientError

from voipbin_ai.config import store_settings
from voipbin_ai.container import holds_connections
from voipbin_ai.exceptions import StoreError
from voipbin_ai.models.session import (
    STATUS_ACTIVE,
    STATUS_ENDED,
    Channel,
    HistoryMessage,
    ReplySoFar,
    Session,
    ToolRecord,
    Turn,
    in_the_order_written,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

Item = dict[str, "AttributeValueTypeDef"]

TTL_ATTRIBUTE: Final = "expires_at"
SESSION_SK: Final = "SESSION"
MESSAGE_PREFIX: Final = "MSG#"
_TOOL_USES_PREFIX: Final = "uses#"
_USER, _ASSISTANT = 0, 1
_CONDITION_FAILED: Final = "ConditionalCheckFailedException"
# The guard of a reply's pieces: its turn is the latest and not barged in on (and the conversation active).
_LATEST_UNHALTED_TURN: Final = "turn = :turn AND (attribute_not_exists(halted_turn) OR halted_turn <> :turn)"


def _conversation_pk(conversation_id: str) -> str:
    return f"CONV#{conversation_id}"


def _session_key(conversation_id: str) -> Item:
    return {"pk": {"S": _conversation_pk(conversation_id)}, "sk": {"S": SESSION_SK}}


def _message_key(conversation_id: str, turn: int, slot: int) -> Item:
    return {"pk": {"S": _conversation_pk(conversation_id)}, "sk": {"S": f"{MESSAGE_PREFIX}{turn:010d}#{slot}"}}


def _tool_key(conversation_id: str, turn: int, call_key: str) -> Item:
    return {"pk": {"S": _conversation_pk(conversation_id)}, "sk": {"S": f"TOOL#{turn:010d}#{call_key}"}}


def _contact_key(contact_id: str) -> Item:
    return {"pk": {"S": f"CONTACT#{contact_id}"}, "sk": {"S": "MEMORY"}}


def _counter_key(name: str, window: int) -> Item:
    return {"pk": {"S": f"LIMIT#{name}"}, "sk": {"S": str(window)}}


def _transcribe_key(transcribe_id: str) -> Item:
    return {"pk": {"S": f"TRANSCRIBE#{transcribe_id}"}, "sk": {"S": "CALL"}}


def _s(value: str) -> "AttributeValueTypeDef":
    return {"S": value}


def _n(value: int) -> "AttributeValueTypeDef":
    return {"N": str(value)}


def _text(item: Mapping[str, Any], name: str) -> str:
    return str(item[name]["S"]) if name in item else ""


def _number(item: Mapping[str, Any], name: str) -> int:
    return int(item[name]["N"]) if name in item else 0


def _moment(item: Mapping[str, Any], name: str) -> datetime | None:
    return datetime.fromtimestamp(_number(item, name), UTC) if name in item else None


def _session(item: Mapping[str, Any]) -> Session:
    """The domain view of a session item (item shape is not domain shape)."""
    return Session(
        conversation_id=_text(item, "conversation_id"),
        channel=_text(item, "channel"),  # written only from Channel
        status=_text(item, "status"),  # written only from ConversationStatus
        turn=_number(item, "turn"),
        reply_turn=_number(item, "reply_turn"),
        speaking_until_ms=_number(item, "speaking_until_ms"),
        heard_at_ms=_number(item, "heard_at_ms"),
        speaking_id=_text(item, "speaking_id") or None,
        transcribe_id=_text(item, "transcribe_id") or None,
        our_address=_text(item, "our_address"),
        their_address=_text(item, "their_address"),
        summary=_text(item, "summary"),
        summary_turn=_number(item, "summary_turn"),
        context_turn=_number(item, "context_turn"),
        memory=_text(item, "memory"),
        tool_uses={
            name.removeprefix(_TOOL_USES_PREFIX): int(value["N"])
            for name, value in item.items()
            if name.startswith(_TOOL_USES_PREFIX)
        },
        created_at=_moment(item, "created_at"),
        ended_at=_moment(item, "ended_at"),
    )


def _history_message(item: Mapping[str, Any]) -> HistoryMessage:
    return HistoryMessage(
        turn=_number(item, "turn"),
        role=_text(item, "role"),  # written only from Role
        text=_text(item, "text"),
        interrupted=bool(item.get("interrupted", {}).get("BOOL", False)),
        sent_at_ms=int(item["sent_at_ms"]["N"]) if "sent_at_ms" in item else None,
    )


def _pending_messages(session: Mapping[str, Any] | None) -> list[HistoryMessage]:
    """The history messages of a session's pending reply (record_reply): the user's words, then the reply."""
    pending = session.get("pending_reply", {}).get("M") if session else None
    if not session or not pending:
        return []
    turn = _number(pending, "turn")
    halted = "halted_turn" in session and _number(session, "halted_turn") == turn
    messages = [HistoryMessage(turn=turn, role="assistant", text=_text(pending, "text"), interrupted=halted)]
    if "user_text" in pending:
        sent_at_ms = _number(pending, "user_sent_at_ms") if "user_sent_at_ms" in pending else None
        words = HistoryMessage(turn=turn, role="user", text=_text(pending, "user_text"), sent_at_ms=sent_at_ms)
        messages.insert(0, words)
    return messages


def _condition_failed(error: ClientError) -> bool:
    """A failed condition, also when it cancelled a transaction."""
    code = error.response.get("Error", {}).get("Code", "")
    if code == _CONDITION_FAILED:
        return True
    reasons = error.response.get("CancellationReasons", [])
    return code == "TransactionCanceledException" and any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)


class DynamoDBStore:
    """ConversationStore (store/base.py, where each method's contract is) in the DynamoDB table.

    Every method is one round trip unless it says otherwise.
    """

    def __init__(
        self,
        table_name: str,
        *,
        ttl_seconds: int,
        client: "DynamoDBClient | None" = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table_name = table_name
        self._ttl_seconds = ttl_seconds
        self._client = client
        self._clock = clock

    @property
    def client(self) -> "DynamoDBClient":
        """The boto3 client, made on first use (AWS_ENDPOINT_URL_DYNAMODB points it at DynamoDB Local)."""
        if self._client is None:
            import boto3

            from voipbin_ai import aws

            self._client = boto3.client("dynamodb", config=aws.DYNAMODB)
        return self._client

    # --- calls ------------------------------------------------------------------------------------

    def start_call(self, conversation_id: str, *, caller: str, callee: str, memory: str = "") -> bool:
        """One conditional put (the session must not exist)."""
        now = int(self._clock())
        item: Item = {
            **_session_key(conversation_id),
            "conversation_id": _s(conversation_id),
            "channel": _s("voice"),
            "status": _s(STATUS_ACTIVE),
            "turn": _n(0),
            "their_address": _s(caller),
            "our_address": _s(callee),
            "created_at": _n(now),
            TTL_ATTRIBUTE: _n(now + self._ttl_seconds),
        }
        if memory:
            item["memory"] = _s(memory)
        try:
            self._call(
                self.client.put_item,
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
            )
        except _ConditionFailed:
            return False
        return True

    def attach_call_media(self, conversation_id: str, *, transcribe_id: str, speaking_id: str) -> bool:
        """Record a live call's transcribe and speaking, and the transcribe -> call mapping, in one transaction.

        False when the call ended meanwhile (the caller should stop what it started).
        """
        now = int(self._clock())
        expires = _n(now + self._ttl_seconds)
        items: list[TransactWriteItemTypeDef] = [
            self._active_session_update(
                conversation_id,
                "transcribe_id = :t, speaking_id = :s",
                {":t": _s(transcribe_id), ":s": _s(speaking_id)},
                now,
            ),
            self._put(self._mapping_item(transcribe_id, conversation_id, expires)),
        ]
        try:
            self._call(self.client.transact_write_items, TransactItems=items)
        except _ConditionFailed:
            return False
        return True

    def map_transcribe(self, transcribe_id: str, conversation_id: str) -> None:
        """One put of the TRANSCRIBE# item."""
        expires = _n(int(self._clock()) + self._ttl_seconds)
        self._call(
            self.client.put_item,
            TableName=self.table_name,
            Item=self._mapping_item(transcribe_id, conversation_id, expires),
        )

    def conversation_of_transcribe(self, transcribe_id: str) -> str | None:
        """One get of the TRANSCRIBE# item."""
        response = self._call(self.client.get_item, TableName=self.table_name, Key=_transcribe_key(transcribe_id))
        item = response.get("Item")
        return _text(item, "conversation_id") if item else None

    def set_speaking(self, conversation_id: str, speaking_id: str) -> bool:
        """One update, while the session is active."""
        return self._update_active(conversation_id, "speaking_id = :s", {":s": _s(speaking_id)})

    # --- every channel ----------------------------------------------------------------------------

    def take_turn(
        self,
        conversation_id: str,
        *,
        channel: Channel,
        open_if_missing: bool,
        our_address: str = "",
        their_address: str = "",
        event_key: str | None = None,
        fresh_after_seconds: int | None = None,
        said_at_ms: int | None = None,
    ) -> Turn | None:
        """One update: ADD turn under the status (and event key, idleness and words' age) condition.

        The item a failed condition returns tells a replay of the same event, or an idle conversation (whose
        context a second update restarts), from an ended conversation.
        """
        now = int(self._clock())
        sets = ["updated_at = :now", "#ttl = :e", "last_turn_at = :now"]
        values: Item = {":one": _n(1), ":now": _n(now), ":e": _n(now + self._ttl_seconds), ":active": _s(STATUS_ACTIVE)}
        if open_if_missing:
            sets += [
                "conversation_id = if_not_exists(conversation_id, :cid)",
                "channel = if_not_exists(channel, :channel)",
                "#status = if_not_exists(#status, :active)",
                "created_at = if_not_exists(created_at, :now)",
                "our_address = if_not_exists(our_address, :ours)",
                "their_address = if_not_exists(their_address, :theirs)",
            ]
            values |= {
                ":cid": _s(conversation_id),
                ":channel": _s(channel),
                ":ours": _s(our_address),
                ":theirs": _s(their_address),
            }
            condition = "(attribute_not_exists(pk) OR #status = :active)"
        else:
            condition = "#status = :active"
        if event_key is not None:
            sets.append("turn_event = :event")
            values[":event"] = _s(event_key)
            condition += " AND (attribute_not_exists(turn_event) OR turn_event <> :event)"
        if fresh_after_seconds is not None:
            values[":cutoff"] = _n(now - fresh_after_seconds)
            condition += " AND (attribute_not_exists(last_turn_at) OR last_turn_at >= :cutoff)"
        if said_at_ms is not None:
            sets.append("turn_said_at_ms = :said")
            values[":said"] = _n(said_at_ms)
            condition += " AND (attribute_not_exists(turn_said_at_ms) OR turn_said_at_ms <= :said)"
        try:
            response = self._call(
                self.client.update_item,
                TableName=self.table_name,
                Key=_session_key(conversation_id),
                UpdateExpression=f"SET {', '.join(sets)} ADD turn :one",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except _ConditionFailed as failed:
            earlier = failed.item
            if earlier and event_key is not None and _text(earlier, "turn_event") == event_key:
                session = _session(earlier)
                return Turn(number=session.turn, session=session, replayed=True) if session.active else None
            if (
                earlier
                and fresh_after_seconds is not None
                and 0 < _number(earlier, "last_turn_at") < now - fresh_after_seconds
            ):
                return self._restart_context(conversation_id, earlier, event_key=event_key, now=now)
            return None
        session = _session(response["Attributes"])
        return Turn(number=session.turn, session=session)

    def _restart_context(
        self, conversation_id: str, earlier: Mapping[str, Any], *, event_key: str | None, now: int
    ) -> Turn | None:
        """The next turn of an idle conversation, as the first of a fresh context (ended or not).

        Conditional on the idle turn still being the latest; when another event restarted it first, that one's
        context is this turn's too.
        """
        values: Item = {
            ":one": _n(1),
            ":now": _n(now),
            ":e": _n(now + self._ttl_seconds),
            ":active": _s(STATUS_ACTIVE),
            ":turn": _n(_number(earlier, "turn")),
            ":seen": _n(_number(earlier, "last_turn_at")),
        }
        sets = (
            "updated_at = :now, #ttl = :e, last_turn_at = :now, #status = :active, "
            "context_turn = :turn, summary_turn = :turn"
        )
        if event_key is not None:
            sets += ", turn_event = :event"
            values[":event"] = _s(event_key)
        try:
            response = self._call(
                self.client.update_item,
                TableName=self.table_name,
                Key=_session_key(conversation_id),
                UpdateExpression=f"SET {sets} REMOVE summary, ended_at ADD turn :one",
                ConditionExpression="turn = :turn AND last_turn_at = :seen",
                ExpressionAttributeNames={"#status": "status", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except _ConditionFailed:
            return None
        session = _session(response["Attributes"])
        return Turn(number=session.turn, session=session)

    def history(self, conversation_id: str, *, limit: int) -> list[HistoryMessage]:
        """The last `limit` messages in the order written (in_the_order_written), one strongly consistent query.

        The query reads the session too (SESSION sorts right after the MSG# items): its pending reply stands
        in for history messages not written yet, or written before the reply grew.
        """
        response = self._call(
            self.client.query,
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :session",
            ExpressionAttributeValues={
                ":pk": _s(_conversation_pk(conversation_id)),
                ":first": _s(MESSAGE_PREFIX),
                ":session": _s(SESSION_SK),
            },
            ScanIndexForward=False,
            Limit=limit + 1,
            ConsistentRead=True,
        )
        items = response.get("Items", [])
        session = items[0] if items and items[0]["sk"]["S"] == SESSION_SK else None
        messages = {(m.turn, m.role): m for m in (_history_message(item) for item in items if item is not session)}
        for pending in _pending_messages(session):
            written = messages.get((pending.turn, pending.role))
            if written is None or written.text != pending.text:
                interrupted = pending.interrupted or (written is not None and written.interrupted)
                messages[pending.turn, pending.role] = pending.model_copy(update={"interrupted": interrupted})
        # A fresh context (context_turn > 0) leaves the turns before it out; a call's greeting is turn 0.
        context_turn = _number(session, "context_turn") if session else 0
        current = (message for message in messages.values() if not context_turn or message.turn > context_turn)
        return in_the_order_written(current)[-limit:]

    def record_reply(self, conversation_id: str, reply: ReplySoFar, *, speaking_until_ms: int | None = None) -> bool:
        """Record a turn's reply so far on the session, while the turn is the latest and the conversation active.

        Only when this returns True may the new piece be spoken or sent. One conditional write: the session's
        guard, its pending reply and, for a call, until when the reply may be playing. keep_reply copies the
        reply into the history afterwards.
        """
        now = int(self._clock())
        pending: dict[str, AttributeValueTypeDef] = {"turn": _n(reply.turn), "text": _s(reply.text)}
        if reply.user_text is not None:
            pending["user_text"] = _s(reply.user_text)
        if reply.user_sent_at_ms is not None:
            pending["user_sent_at_ms"] = _n(reply.user_sent_at_ms)
        assignments = "reply_turn = :turn, pending_reply = :pending"
        values: Item = {":turn": _n(reply.turn), ":pending": {"M": pending}}
        if speaking_until_ms is not None:
            assignments += ", speaking_until_ms = :until"
            values[":until"] = _n(speaking_until_ms)
        update = self._active_session_update(conversation_id, assignments, values, now, _LATEST_UNHALTED_TURN)
        try:
            self._call(self.client.update_item, **update["Update"])
        except _ConditionFailed:
            return False
        return True

    def keep_reply(self, conversation_id: str, reply: ReplySoFar, *, spoken: bool) -> None:
        """One transaction checked against the session.

        When the check fails, the messages are put again, marked interrupted if the reply was spoken.
        """
        now = int(self._clock())
        latest: TransactWriteItemTypeDef = {
            "ConditionCheck": {
                "TableName": self.table_name,
                "Key": _session_key(conversation_id),
                "ConditionExpression": f"{_LATEST_UNHALTED_TURN} AND #status = :active",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":turn": _n(reply.turn), ":active": _s(STATUS_ACTIVE)},
            }
        }
        messages = self._reply_messages(conversation_id, reply, now, interrupted=False)
        try:
            self._call(self.client.transact_write_items, TransactItems=[latest, *messages])
        except _ConditionFailed:
            cut = self._reply_messages(conversation_id, reply, now, interrupted=spoken)
            self._call(self.client.transact_write_items, TransactItems=cut)

    def record_user_message(self, conversation_id: str, turn: int, text: str, *, sent_at_ms: int | None) -> None:
        """One put of the MSG# item."""
        now = int(self._clock())
        self._call(
            self.client.put_item,
            TableName=self.table_name,
            Item=self._message_item(conversation_id, turn, "user", text, now, sent_at_ms=sent_at_ms),
        )

    def halt_reply(self, conversation_id: str, turn: int) -> None:
        """One update (halted_turn), while the session is active."""
        self._update_active(conversation_id, "halted_turn = :turn", {":turn": _n(turn)})

    def hear_caller(self, conversation_id: str, *, at_ms: int) -> None:
        """One update (heard_at_ms), while the session is active."""
        self._update_active(conversation_id, "heard_at_ms = :at", {":at": _n(at_ms)})

    def mark_interrupted(self, conversation_id: str, turn: int) -> None:
        """One update of the reply's MSG# item, if it was written."""
        try:
            self._call(
                self.client.update_item,
                TableName=self.table_name,
                Key=_message_key(conversation_id, turn, _ASSISTANT),
                UpdateExpression="SET interrupted = :yes",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )
        except _ConditionFailed:
            return  # nothing of that reply was recorded, so nothing was said

    def end_conversation(self, conversation_id: str, *, channel: Channel) -> Session:
        """One update, which writes the session when there was none."""
        now = int(self._clock())
        response = self._call(
            self.client.update_item,
            TableName=self.table_name,
            Key=_session_key(conversation_id),
            UpdateExpression=(
                "SET #status = :ended, ended_at = if_not_exists(ended_at, :now), updated_at = :now, #ttl = :e, "
                "conversation_id = if_not_exists(conversation_id, :cid), channel = if_not_exists(channel, :channel)"
            ),
            ExpressionAttributeNames={"#status": "status", "#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues={
                ":ended": _s(STATUS_ENDED),
                ":now": _n(now),
                ":e": _n(now + self._ttl_seconds),
                ":cid": _s(conversation_id),
                ":channel": _s(channel),
            },
            ReturnValues="ALL_NEW",
        )
        return _session(response["Attributes"])

    def save_summary(self, conversation_id: str, summary: str, *, through_turn: int) -> bool:
        """Keep the summary of the conversation's turns up to through_turn on its session.

        False when a summary of as many turns or more is there already (two turns summarized at once).
        """
        try:
            self._call(
                self.client.update_item,
                TableName=self.table_name,
                Key=_session_key(conversation_id),
                UpdateExpression="SET summary = :summary, summary_turn = :through",
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(summary_turn) OR summary_turn < :through)"
                ),
                ExpressionAttributeValues={":summary": _s(summary), ":through": _n(through_turn)},
            )
        except _ConditionFailed:
            return False
        return True

    # --- tools --------------------------------------------------------------------------------------

    def begin_tool_call(self, conversation_id: str, turn: int, call_key: str) -> ToolRecord | None:
        """One conditional put of the TOOL# item; the item a failed condition returns is the earlier claim."""
        now = int(self._clock())
        item: Item = {
            **_tool_key(conversation_id, turn, call_key),
            "done": {"BOOL": False},
            "created_at": _n(now),
            TTL_ATTRIBUTE: _n(now + self._ttl_seconds),
        }
        try:
            self._call(
                self.client.put_item,
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except _ConditionFailed as failed:
            earlier = failed.item or {}
            return ToolRecord(done=bool(earlier.get("done", {}).get("BOOL", False)), result=_text(earlier, "result"))
        return None

    def finish_tool_call(self, conversation_id: str, turn: int, call_key: str, result: str) -> None:
        """One update of the TOOL# item."""
        self._call(
            self.client.update_item,
            TableName=self.table_name,
            Key=_tool_key(conversation_id, turn, call_key),
            UpdateExpression="SET done = :yes, #result = :result",
            ExpressionAttributeNames={"#result": "result"},
            ExpressionAttributeValues={":yes": {"BOOL": True}, ":result": _s(result)},
        )

    def claim_tool_use(self, conversation_id: str, tool: str, *, limit: int) -> bool:
        """One conditional ADD on the session's uses#<tool> counter."""
        try:
            self._call(
                self.client.update_item,
                TableName=self.table_name,
                Key=_session_key(conversation_id),
                UpdateExpression="ADD #uses :one",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#uses) OR #uses < :limit)",
                ExpressionAttributeNames={"#uses": f"{_TOOL_USES_PREFIX}{tool}"},
                ExpressionAttributeValues={":one": _n(1), ":limit": _n(limit)},
            )
        except _ConditionFailed:
            return False
        return True

    # --- usage counters: rate limits and budgets ----------------------------------------------------

    def count_use(self, name: str, *, window_seconds: int, limit: int) -> bool:
        """One conditional ADD on the window's LIMIT# item."""
        window, expires = self._window(window_seconds)
        try:
            self._call(
                self.client.update_item,
                TableName=self.table_name,
                Key=_counter_key(name, window),
                UpdateExpression="ADD used :amount SET #ttl = :e",
                ConditionExpression="attribute_not_exists(used) OR used < :limit",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":amount": _n(1), ":limit": _n(limit), ":e": _n(expires)},
            )
        except _ConditionFailed:
            return False
        return True

    def add_usage(self, name: str, amount: int, *, window_seconds: int) -> None:
        """One ADD on the window's LIMIT# item."""
        window, expires = self._window(window_seconds)
        self._call(
            self.client.update_item,
            TableName=self.table_name,
            Key=_counter_key(name, window),
            UpdateExpression="ADD used :amount SET #ttl = :e",
            ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues={":amount": _n(amount), ":e": _n(expires)},
        )

    def usage(self, name: str, *, window_seconds: int) -> int:
        """One get of the window's LIMIT# item."""
        window, _ = self._window(window_seconds)
        response = self._call(self.client.get_item, TableName=self.table_name, Key=_counter_key(name, window))
        return _number(response.get("Item") or {}, "used")

    def _window(self, window_seconds: int) -> tuple[int, int]:
        """The current window's number, and when its counter may go (a window after it ends)."""
        window = int(self._clock()) // window_seconds
        return window, (window + 2) * window_seconds

    # --- contacts across channels -------------------------------------------------------------------

    def remember_contact(self, contact_id: str, summary: str) -> None:
        """One put of the CONTACT# item."""
        now = int(self._clock())
        self._call(
            self.client.put_item,
            TableName=self.table_name,
            Item={
                **_contact_key(contact_id),
                "summary": _s(summary),
                "updated_at": _n(now),
                TTL_ATTRIBUTE: _n(now + self._ttl_seconds),
            },
        )

    def contact_memory(self, contact_id: str) -> str:
        """One get of the CONTACT# item."""
        response = self._call(self.client.get_item, TableName=self.table_name, Key=_contact_key(contact_id))
        item = response.get("Item")
        return _text(item, "summary") if item else ""

    def get_session(self, conversation_id: str) -> Session | None:
        """One strongly consistent get."""
        response = self._call(
            self.client.get_item, TableName=self.table_name, Key=_session_key(conversation_id), ConsistentRead=True
        )
        item = response.get("Item")
        return _session(item) if item else None

    # --- items and errors -------------------------------------------------------------------------

    def _update_active(self, conversation_id: str, assignments: str, values: Item) -> bool:
        """SET `assignments` on a session while it is active; False when it is not (ended or unknown)."""
        try:
            self._call(
                self.client.update_item,
                TableName=self.table_name,
                Key=_session_key(conversation_id),
                UpdateExpression=f"SET {assignments}",
                ConditionExpression="#status = :active",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={**values, ":active": _s(STATUS_ACTIVE)},
            )
        except _ConditionFailed:
            return False
        return True

    def _active_session_update(
        self, conversation_id: str, assignments: str, values: Item, now: int, condition: str = ""
    ) -> "TransactWriteItemTypeDef":
        """A transaction's update of a session that applies only while it is active (and `condition` holds)."""
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": _session_key(conversation_id),
                "UpdateExpression": f"SET {assignments}, updated_at = :now, #ttl = :e",
                "ConditionExpression": " AND ".join(filter(None, (condition, "#status = :active"))),
                "ExpressionAttributeNames": {"#status": "status", "#ttl": TTL_ATTRIBUTE},
                "ExpressionAttributeValues": {
                    **values,
                    ":now": _n(now),
                    ":e": _n(now + self._ttl_seconds),
                    ":active": _s(STATUS_ACTIVE),
                },
            }
        }

    def _put(self, item: Item) -> "TransactWriteItemTypeDef":
        return {"Put": {"TableName": self.table_name, "Item": item}}

    def _mapping_item(self, transcribe_id: str, conversation_id: str, expires: "AttributeValueTypeDef") -> Item:
        return {**_transcribe_key(transcribe_id), "conversation_id": _s(conversation_id), TTL_ATTRIBUTE: expires}

    def _reply_messages(
        self, conversation_id: str, reply: ReplySoFar, now: int, *, interrupted: bool
    ) -> list["TransactWriteItemTypeDef"]:
        """Puts of a reply's history messages: the reply, and the user's words when they go with it."""
        answer = self._message_item(conversation_id, reply.turn, "assistant", reply.text, now)
        if interrupted:
            answer["interrupted"] = {"BOOL": True}
        puts = [self._put(answer)]
        if reply.user_text is not None:
            words = self._message_item(
                conversation_id, reply.turn, "user", reply.user_text, now, sent_at_ms=reply.user_sent_at_ms
            )
            puts.append(self._put(words))
        return puts

    def _message_item(
        self, conversation_id: str, turn: int, role: str, text: str, now: int, *, sent_at_ms: int | None = None
    ) -> Item:
        slot = _USER if role == "user" else _ASSISTANT
        item = {
            **_message_key(conversation_id, turn, slot),
            "turn": _n(turn),
            "role": _s(role),
            "text": _s(text),
            "created_at": _n(now),
            TTL_ATTRIBUTE: _n(now + self._ttl_seconds),
        }
        if sent_at_ms is not None:
            item["sent_at_ms"] = _n(sent_at_ms)
        return item

    def _call[ResultT](self, operation: Callable[..., ResultT], **kwargs: Any) -> ResultT:
        """One DynamoDB call; a failed condition is _ConditionFailed, anything else a StoreError."""
        try:
            return operation(**kwargs)
        except ClientError as error:
            if _condition_failed(error):
                raise _ConditionFailed(cast(Mapping[str, Any] | None, error.response.get("Item"))) from error
            raise StoreError(f"DynamoDB {error.operation_name} failed: {error}") from error
        except BotoCoreError as error:
            raise StoreError(f"DynamoDB unreachable: {error}") from error


class _ConditionFailed(Exception):
    """A conditional write did not apply: an expected outcome, turned into a return value by each method.

    item is the item as it was, when the request asked for it (ReturnValuesOnConditionCheckFailure).
    """

    def __init__(self, item: Mapping[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.item = item


@holds_connections
@lru_cache(maxsize=1)
def get_store() -> DynamoDBStore:
    """The container's store, from the settings; the boto3 client is made on first use and then reused."""
    settings = store_settings()
    return DynamoDBStore(settings.table_name, ttl_seconds=settings.session_ttl_seconds)
