"""The web chat's gate: sessions only this server issued, per-minute limits and the day's token budget."""

from collections.abc import Iterator, Sequence
from typing import Any, cast

import pytest

from voipbin_ai.ai.core import Conversation, Engine
from voipbin_ai.ai.llm import LlmClient, TextDelta, ToolCallRequest, Usage
from voipbin_ai.ai.tools import ToolBox, ToolContext
from voipbin_ai.config import DEFAULT_AGENT_FILE
from voipbin_ai.exceptions import InvalidChatSessionError
from voipbin_ai.logic.chat import issue_session, verified_session
from voipbin_ai.models.agent import AgentConfig
from voipbin_ai.store.dynamodb import ConversationStore

KEY = b"chat-session-key-for-tests"


def test_an_issued_session_verifies_and_its_conversation_id_holds_no_signature() -> None:
    session_id = issue_session(KEY)
    random_id, _, signature = session_id.partition(".")

    assert verified_session(KEY, session_id) == random_id
    assert len(random_id) >= 22 and signature not in random_id
    assert issue_session(KEY) != session_id


@pytest.mark.parametrize(
    "forge",
    [
        lambda issued: issued.partition(".")[0],  # no signature
        lambda issued: issued.partition(".")[0] + ".AAAAAAAAAAAAAAAAAAAAAAAA",
        lambda issued: "x" + issued,  # another id under the same signature
        lambda issued: "." + issued.partition(".")[2],
        lambda issued: "browser-session-1",
    ],
)
def test_a_session_not_issued_with_this_key_is_refused(forge: Any) -> None:
    with pytest.raises(InvalidChatSessionError):
        verified_session(KEY, forge(issue_session(KEY)))
    with pytest.raises(InvalidChatSessionError):
        verified_session(b"another deployment's key", issue_session(KEY))


def test_counters_fill_their_window_and_start_again_in_the_next(moto_table: str) -> None:
    now = [1_800_000_000.0]
    store = ConversationStore(moto_table, ttl_seconds=3600, clock=lambda: now[0])

    assert [store.count_use("chat:abc", window_seconds=60, limit=2) for _ in range(3)] == [True, True, False]
    now[0] += 60
    assert store.count_use("chat:abc", window_seconds=60, limit=2)
    store.add_usage("chat-tokens", 700, window_seconds=86400)
    store.add_usage("chat-tokens", 50, window_seconds=86400)
    assert store.usage("chat-tokens", window_seconds=86400) == 750
    assert store.usage("chat-other", window_seconds=86400) == 0


class _Llm:
    """An LLM that answers each request with the scripted events, in order."""

    def __init__(self, *answers: Sequence[TextDelta | ToolCallRequest | Usage]) -> None:
        self._answers = list(answers)

    def stream(self, *_: Any, **__: Any) -> Iterator[TextDelta | ToolCallRequest | Usage]:
        yield from self._answers.pop(0)


def _engine(llm: _Llm) -> Engine:
    agent = AgentConfig.model_validate_json(DEFAULT_AGENT_FILE.read_text())
    store = cast(ConversationStore, None)  # no tool is called
    tools = ToolBox([], store=store, limits=agent.limits)
    return Engine(agent, llm=cast(LlmClient, llm), tools=tools, store=store)


def test_a_reply_counts_the_tokens_the_provider_reports() -> None:
    reply = _engine(_Llm([TextDelta("Yes."), Usage(tokens=412)])).reply(_chat(), "Open?")

    assert list(reply.pieces) == ["Yes."] and reply.tokens == 412


def test_a_provider_that_reports_no_tokens_is_estimated_not_free() -> None:
    reply = _engine(_Llm([TextDelta("Yes, we are open until six.")])).reply(_chat(), "Open?")

    list(reply.pieces)
    assert reply.tokens > 100  # the system prompt alone is hundreds of characters


def _chat() -> Conversation:
    return Conversation(context=ToolContext(conversation_id="chat:t", channel="chat", turn=1))
