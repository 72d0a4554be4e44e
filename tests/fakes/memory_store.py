"""The conversation store in memory: the DynamoDB store's behaviour, for fast tests of the engine and logic.

Every method does what its namesake in store/dynamodb.py does, conditions included; the store's own tests
(tests/unit/test_store.py) run against both, so the two cannot drift apart. A lock makes each method
atomic, as each DynamoDB request is.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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


@dataclass
class _SessionItem:
    """A session as the table holds it: the domain fields and the guards that are not part of the domain."""

    fields: dict[str, Any]
    turn_event: str | None = None
    turn_said_at_ms: int = 0
    halted_turn: int | None = None
    summary_turn: int | None = None
    pending_reply: ReplySoFar | None = None
    tool_uses: dict[str, int] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(self.fields.get("status") == STATUS_ACTIVE)

    def latest_unhalted(self, turn: int) -> bool:
        return self.active and self.fields.get("turn") == turn and self.halted_turn != turn

    def session(self) -> Session:
        return Session.model_validate(
            {**self.fields, "summary_turn": self.summary_turn or 0, "tool_uses": dict(self.tool_uses)}
        )


class InMemoryStore:
    """A ConversationStore (store/base.py) in a dict."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._sessions: dict[str, _SessionItem] = {}
        self._messages: dict[tuple[str, int, int], HistoryMessage] = {}
        self._tools: dict[tuple[str, int, str], ToolRecord] = {}
        self._transcribes: dict[str, str] = {}
        self._contacts: dict[str, str] = {}
        self._counters: dict[tuple[str, int], int] = {}

    # --- calls --------------------------------------------------------------------------------------

    def start_call(self, conversation_id: str, *, caller: str, callee: str, memory: str = "") -> bool:
        with self._lock:
            if conversation_id in self._sessions:
                return False
            self._sessions[conversation_id] = _SessionItem(
                {
                    "conversation_id": conversation_id,
                    "channel": "voice",
                    "status": STATUS_ACTIVE,
                    "turn": 0,
                    "their_address": caller,
                    "our_address": callee,
                    "created_at": self._now(),
                    "memory": memory,
                }
            )
            return True

    def attach_call_media(self, conversation_id: str, *, transcribe_id: str, speaking_id: str) -> bool:
        with self._lock:
            item = self._active(conversation_id)
            if item is None:
                return False
            item.fields |= {"transcribe_id": transcribe_id, "speaking_id": speaking_id}
            self._transcribes[transcribe_id] = conversation_id
            return True

    def map_transcribe(self, transcribe_id: str, conversation_id: str) -> None:
        with self._lock:
            self._transcribes[transcribe_id] = conversation_id

    def conversation_of_transcribe(self, transcribe_id: str) -> str | None:
        with self._lock:
            return self._transcribes.get(transcribe_id)

    def set_speaking(self, conversation_id: str, speaking_id: str) -> bool:
        with self._lock:
            item = self._active(conversation_id)
            if item is None:
                return False
            item.fields["speaking_id"] = speaking_id
            return True

    # --- every channel ------------------------------------------------------------------------------

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
        with self._lock:
            item = self._sessions.get(conversation_id)
            now = int(self._clock())
            replay = item is not None and event_key is not None and item.turn_event == event_key
            if item is not None and not replay and fresh_after_seconds is not None:
                last = item.fields.get("last_turn_at", 0)
                if 0 < last < now - fresh_after_seconds:
                    item.fields.update(status=STATUS_ACTIVE, context_turn=item.fields["turn"], summary="")
                    item.fields.pop("ended_at", None)
                    item.summary_turn = item.fields["turn"]
            if item is not None and (not item.active or (event_key is not None and item.turn_event == event_key)):
                if event_key is None or item.turn_event != event_key:
                    return None
                session = item.session()
                return Turn(number=session.turn, session=session, replayed=True) if session.active else None
            if item is not None and said_at_ms is not None and said_at_ms < item.turn_said_at_ms:
                return None
            if item is None:
                if not open_if_missing:
                    return None
                item = _SessionItem(
                    {
                        "conversation_id": conversation_id,
                        "channel": channel,
                        "status": STATUS_ACTIVE,
                        "turn": 0,
                        "created_at": self._now(),
                        "our_address": our_address,
                        "their_address": their_address,
                    }
                )
                self._sessions[conversation_id] = item
            item.fields["turn"] += 1
            item.fields["last_turn_at"] = now
            if said_at_ms is not None:
                item.turn_said_at_ms = said_at_ms
            if event_key is not None:
                item.turn_event = event_key
            session = item.session()
            return Turn(number=session.turn, session=session)

    def history(self, conversation_id: str, *, limit: int) -> list[HistoryMessage]:
        with self._lock:
            keys = sorted(key for key in self._messages if key[0] == conversation_id)[-limit:]
            messages = {(m.turn, m.role): m for m in (self._messages[key] for key in keys)}
            item = self._sessions.get(conversation_id)
            for pending in self._pending_messages(item):
                written = messages.get((pending.turn, pending.role))
                if written is None or written.text != pending.text:
                    interrupted = pending.interrupted or (written is not None and written.interrupted)
                    messages[pending.turn, pending.role] = pending.model_copy(update={"interrupted": interrupted})
            context_turn = item.fields.get("context_turn", 0) if item else 0
            current = (m for m in messages.values() if not context_turn or m.turn > context_turn)
            return in_the_order_written(current)[-limit:]

    def record_reply(self, conversation_id: str, reply: ReplySoFar, *, speaking_until_ms: int | None = None) -> bool:
        with self._lock:
            item = self._sessions.get(conversation_id)
            if item is None or not item.latest_unhalted(reply.turn):
                return False
            item.fields["reply_turn"] = reply.turn
            item.pending_reply = reply
            if speaking_until_ms is not None:
                item.fields["speaking_until_ms"] = speaking_until_ms
            return True

    def keep_reply(self, conversation_id: str, reply: ReplySoFar, *, spoken: bool) -> None:
        with self._lock:
            item = self._sessions.get(conversation_id)
            latest = item is not None and item.latest_unhalted(reply.turn)
            self._put_reply(conversation_id, reply, interrupted=spoken and not latest)

    def record_user_message(self, conversation_id: str, turn: int, text: str, *, sent_at_ms: int | None) -> None:
        with self._lock:
            words = HistoryMessage(turn=turn, role="user", text=text, sent_at_ms=sent_at_ms)
            self._messages[conversation_id, turn, 0] = words

    def halt_reply(self, conversation_id: str, turn: int) -> None:
        with self._lock:
            item = self._active(conversation_id)
            if item is not None:
                item.halted_turn = turn

    def hear_caller(self, conversation_id: str, *, at_ms: int) -> None:
        with self._lock:
            item = self._active(conversation_id)
            if item is not None:
                item.fields["heard_at_ms"] = at_ms

    def mark_interrupted(self, conversation_id: str, turn: int) -> None:
        with self._lock:
            key = (conversation_id, turn, 1)
            if key in self._messages:
                self._messages[key] = self._messages[key].model_copy(update={"interrupted": True})

    def end_conversation(self, conversation_id: str, *, channel: Channel) -> Session:
        with self._lock:
            item = self._sessions.setdefault(
                conversation_id, _SessionItem({"conversation_id": conversation_id, "channel": channel})
            )
            item.fields["status"] = STATUS_ENDED
            item.fields.setdefault("ended_at", self._now())
            return item.session()

    def save_summary(self, conversation_id: str, summary: str, *, through_turn: int) -> bool:
        with self._lock:
            item = self._sessions.get(conversation_id)
            if item is None or (item.summary_turn is not None and item.summary_turn >= through_turn):
                return False
            item.fields["summary"] = summary
            item.summary_turn = through_turn
            return True

    # --- tools --------------------------------------------------------------------------------------

    def begin_tool_call(self, conversation_id: str, turn: int, call_key: str) -> ToolRecord | None:
        with self._lock:
            key = (conversation_id, turn, call_key)
            if key in self._tools:
                return self._tools[key]
            self._tools[key] = ToolRecord(done=False)
            return None

    def finish_tool_call(self, conversation_id: str, turn: int, call_key: str, result: str) -> None:
        with self._lock:
            self._tools[conversation_id, turn, call_key] = ToolRecord(done=True, result=result)

    def claim_tool_use(self, conversation_id: str, tool: str, *, limit: int) -> bool:
        with self._lock:
            item = self._sessions.get(conversation_id)
            if item is None or item.tool_uses.get(tool, 0) >= limit:
                return False
            item.tool_uses[tool] = item.tool_uses.get(tool, 0) + 1
            return True

    # --- usage counters -----------------------------------------------------------------------------

    def count_use(self, name: str, *, window_seconds: int, limit: int) -> bool:
        with self._lock:
            key = (name, int(self._clock()) // window_seconds)
            if self._counters.get(key, 0) >= limit:
                return False
            self._counters[key] = self._counters.get(key, 0) + 1
            return True

    def add_usage(self, name: str, amount: int, *, window_seconds: int) -> None:
        with self._lock:
            key = (name, int(self._clock()) // window_seconds)
            self._counters[key] = self._counters.get(key, 0) + amount

    def usage(self, name: str, *, window_seconds: int) -> int:
        with self._lock:
            return self._counters.get((name, int(self._clock()) // window_seconds), 0)

    # --- contacts -----------------------------------------------------------------------------------

    def remember_contact(self, contact_id: str, summary: str) -> None:
        with self._lock:
            self._contacts[contact_id] = summary

    def contact_memory(self, contact_id: str) -> str:
        with self._lock:
            return self._contacts.get(contact_id, "")

    def get_session(self, conversation_id: str) -> Session | None:
        with self._lock:
            item = self._sessions.get(conversation_id)
            return item.session() if item is not None else None

    # --- items --------------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(int(self._clock()), UTC)

    def _active(self, conversation_id: str) -> _SessionItem | None:
        item = self._sessions.get(conversation_id)
        return item if item is not None and item.active else None

    def _put_reply(self, conversation_id: str, reply: ReplySoFar, *, interrupted: bool) -> None:
        answer = HistoryMessage(turn=reply.turn, role="assistant", text=reply.text, interrupted=interrupted)
        self._messages[conversation_id, reply.turn, 1] = answer
        if reply.user_text is not None:
            words = HistoryMessage(turn=reply.turn, role="user", text=reply.user_text, sent_at_ms=reply.user_sent_at_ms)
            self._messages[conversation_id, reply.turn, 0] = words

    @staticmethod
    def _pending_messages(item: _SessionItem | None) -> list[HistoryMessage]:
        pending = item.pending_reply if item is not None else None
        if item is None or pending is None:
            return []
        halted = item.halted_turn == pending.turn
        messages = [HistoryMessage(turn=pending.turn, role="assistant", text=pending.text, interrupted=halted)]
        if pending.user_text is not None:
            words = HistoryMessage(
                turn=pending.turn, role="user", text=pending.user_text, sent_at_ms=pending.user_sent_at_ms
            )
            messages.insert(0, words)
        return messages
