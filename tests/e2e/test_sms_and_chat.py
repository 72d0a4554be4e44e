"""SMS threads and the web chat end to end: one reply per text, never to ourselves, one memory per contact."""

import copy
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from local.backing import agents_file
from local.fake_openai import Script
from local.voipbin_state import go_time
from tests.e2e.conftest import CALLER, OURS, SUMMARY, Stack
from tests.helpers import PHONE_IDS, WEBHOOK_SAMPLES, granted_dynamodb, load_json, wait_until
from tests.store_calls import dynamodb_access

pytestmark = pytest.mark.e2e


def seconds_ago(seconds: float) -> str:
    """A VoIPBin timestamp this many seconds before now."""
    return go_time(datetime.now(UTC) - timedelta(seconds=seconds))


def inbound_sms(text: str, *, message_id: str | None = None, written_at: str | None = None) -> dict[str, Any]:
    """An inbound SMS from CALLER to OURS, as message_created carries it (tm_create: when it was written, now)."""
    data = copy.deepcopy(load_json(WEBHOOK_SAMPLES / "message_created.inbound_sms.json")["data"])
    data.update(id=message_id or str(uuid.uuid4()), text=text, tm_create=written_at or seconds_ago(0))
    return dict(data)


def sent(e2e: Stack) -> list[dict[str, Any]]:
    return [request.body for request in e2e.voipbin.requests("POST", "/messages")]


def test_an_sms_is_answered_from_the_number_that_received_it(e2e: Stack) -> None:
    e2e.webhook("message_created", inbound_sms("Are you open on Saturday?"))

    assert sent(e2e) == [
        {
            "source": {"type": "tel", "target": OURS},
            "destinations": [{"type": "tel", "target": CALLER}],
            "text": "You asked: Are you open on Saturday. We are open from eight to six.",
        }
    ]
    (reply,) = e2e.replies()
    assert "You are replying by SMS." in reply.messages[0]["content"]


def test_both_webhooks_of_one_sms_get_one_reply(e2e: Stack) -> None:
    message = inbound_sms("Hello?")
    conversation_copy = copy.deepcopy(load_json(WEBHOOK_SAMPLES / "conversation_message_created.inbound_sms.json"))
    conversation_copy["data"].update(id=message["id"], tm_create=message["tm_create"])

    e2e.webhook("message_created", message)
    e2e.webhook("conversation_message_created", conversation_copy["data"])
    e2e.webhook("message_created", message)  # and VoIPBin's retry of the first

    assert len(sent(e2e)) == 1


def test_our_own_outbound_sms_coming_back_is_never_answered(e2e: Stack) -> None:
    e2e.webhook("message_created", inbound_sms("Hi"))
    (ours,) = e2e.voipbin.sent_messages()
    assert ours["direction"] == "outbound"

    e2e.webhook("message_created", ours)
    e2e.webhook("message_created", {**inbound_sms("Loop?"), "source": {"type": "tel", "target": OURS}})

    assert len(sent(e2e)) == 1
    assert len(e2e.replies()) == 1


def test_a_text_from_another_of_our_numbers_is_never_answered(
    e2e: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = agents_file(tmp_path, {"ava": {}}, numbers={OURS: "ava", "+15550001111": "ava"}, default=None)
    monkeypatch.setenv("AGENT_CONFIG_FILE", str(ours))

    e2e.webhook("message_created", {**inbound_sms("Ping"), "source": {"type": "tel", "target": "+15550001111"}})

    assert sent(e2e) == []


def test_a_burst_of_texts_gets_one_reply_to_the_latest(e2e: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from voipbin_ai.config import channel_settings

    monkeypatch.setenv("SMS_BURST_SECONDS", "3")  # wide enough for all three to arrive on a loaded machine
    channel_settings.cache_clear()
    written = {
        "Hi": seconds_ago(5),
        "I need to move my appointment": seconds_ago(2),
        "to Friday please": seconds_ago(0),
    }

    # VoIPBin keeps no order: the texts arrive, and take their turns, in another order than written.
    for text in ("to Friday please", "Hi", "I need to move my appointment"):
        e2e.webhook("message_created", inbound_sms(text, written_at=written[text]), wait=False)
    e2e.stack.wait_idle()

    (reply,) = sent(e2e)
    assert reply["text"] == "You asked: to Friday please. We are open from eight to six."
    # Each text queued its answer for the burst window; only the latest turn's was answered.
    actions = e2e.stack.queues.sent_to("DelayedActionsQueue")
    assert sorted(json.loads(queued["body"])["turn"] for queued in actions) == [1, 2, 3]
    assert {queued["delay_seconds"] for queued in actions} == {3}
    (request,) = e2e.replies()
    assert [m["content"] for m in request.messages[1:]] == list(written)


def test_a_caller_who_later_texts_meets_an_agent_that_remembers(e2e: Stack) -> None:
    e2e.store.remember_contact(PHONE_IDS.contact(CALLER), SUMMARY)  # what the call's hangup leaves behind

    e2e.webhook("message_created", inbound_sms("Me again"))

    (request,) = e2e.replies()
    assert SUMMARY in request.messages[1]["content"]  # as a quoted note after the system prompt


def test_a_texter_who_later_calls_meets_an_agent_that_remembers(e2e: Stack) -> None:
    e2e.webhook("message_created", inbound_sms("Can I move my appointment?"))
    assert e2e.store.contact_memory(PHONE_IDS.contact(CALLER)) == SUMMARY

    call = e2e.voipbin.add_call(CALLER, OURS)
    e2e.webhook("call_progressing", call)
    (transcribe,) = e2e.voipbin.resources("transcribes")
    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe["id"], "Hi, it's me"))

    assert SUMMARY in e2e.replies()[-1].messages[1]["content"]  # as a quoted note after the system prompt


def test_web_chat_answers_through_post_chat(e2e: Stack) -> None:
    e2e.llm.enqueue(Script.text("**Yes!** We are open:\n- Mon-Fri 8-18"))

    first = e2e.chat({"message": "Open today?"})
    session_id = first.json()["session_id"]
    second = e2e.chat({"session_id": session_id, "message": "And tomorrow?"})

    assert first.status_code == 200
    assert first.json() == {"response": "**Yes!** We are open:\n- Mon-Fri 8-18", "session_id": session_id}
    assert second.json() == {
        "response": "You asked: And tomorrow. We are open from eight to six.",
        "session_id": session_id,
    }
    chat_rules = "You are chatting on the clinic's website."
    assert all(chat_rules in request.messages[0]["content"] for request in e2e.replies())
    assert [m["content"] for m in e2e.replies()[-1].messages[1:]] == [
        "Open today?",
        "**Yes!** We are open:\n- Mon-Fri 8-18",
        "And tomorrow?",
    ]
    assert e2e.voipbin.requests() == []  # the chat never touches VoIPBin


def test_a_session_id_not_issued_by_the_server_is_refused(e2e: Stack) -> None:
    issued = e2e.chat({"message": "Hi"}).json()["session_id"]
    random_id, _, signature = issued.partition(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")

    for session_id in ("browser-session-1", f"{random_id}.{flipped}", f"{random_id}x.{signature}", random_id):
        response = e2e.chat({"session_id": session_id, "message": "What did I say before?"})
        assert response.status_code == 401, session_id
        assert "without session_id" in response.json()["message"]

    assert len(e2e.replies()) == 1


def test_a_chatty_session_and_a_chatty_address_get_429(e2e: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from voipbin_ai.config import chat_settings

    monkeypatch.setenv("CHAT_SESSION_MESSAGES_PER_MINUTE", "2")
    monkeypatch.setenv("CHAT_ADDRESS_MESSAGES_PER_MINUTE", "3")
    chat_settings.cache_clear()
    # The limits count per minute: start early in one, so that every message falls in it.
    assert wait_until(lambda: time.time() % 60 < 45, timeout=20)

    session_id = e2e.chat({"message": "1"}).json()["session_id"]
    assert e2e.chat({"session_id": session_id, "message": "2"}).status_code == 200
    refused = e2e.chat({"session_id": session_id, "message": "3"})
    other = e2e.chat({"message": "4"})  # a new session from the same address
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert other.status_code == 200
    # Three of the address's messages counted (the session refused one first): a fourth new session is refused.
    assert e2e.chat({"message": "5"}).status_code == 429

    assert [request.messages[-1]["content"] for request in e2e.replies()] == ["1", "2", "4"]


def test_a_spent_chat_budget_is_429_while_calls_are_answered(e2e: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from voipbin_ai.config import chat_settings

    monkeypatch.setenv("CHAT_DAILY_TOKEN_BUDGET", "30")
    chat_settings.cache_clear()

    session_id = e2e.chat({"message": "Open today?"}).json()["session_id"]  # the fake counts more than 30
    spent = e2e.chat({"session_id": session_id, "message": "And tomorrow?"})
    call = e2e.voipbin.add_call(CALLER, OURS)
    e2e.webhook("call_progressing", call)
    (transcribe,) = e2e.voipbin.resources("transcribes")
    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe["id"], "Are you open?"))

    assert spent.status_code == 429 and "rest of the day" in spent.json()["message"]
    assert [request.messages[-1]["content"] for request in e2e.replies()] == ["Open today?", "Are you open?"]


@pytest.mark.parametrize(
    "body",
    [
        {"session_id": "browser-session-1"},
        {"session_id": "x", "message": "hi"},
        {"message": ""},
        {"message": "hi", "extra": 1},
        "not an object",
    ],
)
def test_web_chat_refuses_a_bad_body(e2e: Stack, body: Any) -> None:
    response = e2e.chat(body)

    assert response.status_code == 422
    assert e2e.replies() == []


def test_a_text_replayed_hours_later_is_not_answered_again(e2e: Stack) -> None:
    captured = inbound_sms("Cancel my appointment", written_at=seconds_ago(3 * 3600))

    assert e2e.webhook("message_created", captured) == 200  # signed and well formed: VoIPBin must not retry

    assert sent(e2e) == []
    assert e2e.replies() == []


HOSTILE_BODIES = [
    "{}".encode("utf-16"),  # JSON, but not UTF-8
    b'{"type": "transcript_created", "data": {"message": "\xed\xa0\x80"}}',  # a UTF-8-encoded lone surrogate
    b"[" * 30_000 + b"]" * 30_000,  # deeper than the parser goes
    b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    b"\xff\xfe\x00",
]


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=["utf-16", "surrogate", "deep-array", "deep-object", "bytes"])
def test_a_hostile_body_is_a_400_at_the_ingress_and_at_chat(e2e: Stack, body: bytes) -> None:
    assert e2e.post_raw("IngressFunction", body, signed=True).status_code == 400
    assert e2e.post_raw("WebChatFunction", body).status_code == 400
    assert e2e.stack.bus.published == []
    assert e2e.replies() == []


def test_web_chat_needs_only_what_its_policy_grants(e2e: Stack) -> None:
    actions, leading_keys = granted_dynamodb("WebChatFunction")
    assert leading_keys == ["CONV#chat:*", "LIMIT#chat*"]

    with dynamodb_access() as accessed:
        session_id = e2e.chat({"message": "Open today?"}).json()["session_id"]
        for message in ("And tomorrow?", "Thanks"):
            assert e2e.chat({"session_id": session_id, "message": message}).status_code == 200

    assert accessed
    assert {action for action, _ in accessed} <= actions
    assert all(any(fnmatch(key, pattern) for pattern in leading_keys) for _, key in accessed)


def test_the_event_functions_need_only_what_their_policy_grants(e2e: Stack) -> None:
    actions, leading_keys = granted_dynamodb("InboundSmsFunction")  # the event functions share one policy

    with dynamodb_access() as accessed:
        e2e.webhook("message_created", inbound_sms("Are you open on Saturday?"))
        e2e.webhook("message_created", inbound_sms("Are you open on Saturday?"))  # a new message: a new turn

    assert leading_keys is None
    assert accessed
    assert {action for action, _ in accessed} <= actions
