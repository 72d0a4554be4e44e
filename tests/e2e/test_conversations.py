"""VoIPBin's conversation channels end to end: LINE and WhatsApp answered in their conversation, echoes never."""

from typing import Any

import pytest

from local.fake_openai import Script
from tests.e2e.conftest import SUMMARY, Stack

pytestmark = pytest.mark.e2e

LINE_USER = "U4af4980629d3c1a7e8b2f5c6d9e0a1b2"
WHATSAPP_USER = "15551234567"


def sent(e2e: Stack, conversation: dict[str, Any]) -> list[dict[str, Any]]:
    return [request.body for request in e2e.voipbin.requests("POST", f"/conversations/{conversation['id']}/messages")]


def write(e2e: Stack, conversation: dict[str, Any], text: str) -> dict[str, Any]:
    """The customer writes; VoIPBin sends its conversation_message_created (incoming), signed."""
    message = e2e.voipbin.add_conversation_message(conversation["id"], text)
    assert e2e.webhook("conversation_message_created", message) == 200
    return message


def test_a_line_message_is_answered_through_its_conversation(e2e: Stack) -> None:
    conversation = e2e.voipbin.add_conversation("line", LINE_USER, peer_name="Jane")
    e2e.llm.enqueue(Script.text("Yes, **Saturday** from 9 to 13."))

    write(e2e, conversation, "Are you open on Saturday?")

    assert sent(e2e, conversation) == [{"text": "Yes, Saturday from 9 to 13.", "medias": []}]
    (reply,) = e2e.replies()
    assert "You are replying on LINE" in reply.messages[0]["content"]
    assert e2e.voipbin.requests("POST", "/messages") == []  # not an SMS


def test_a_whatsapp_thread_is_answered_in_whatsapps_formatting_with_its_history(e2e: Stack) -> None:
    conversation = e2e.voipbin.add_conversation("whatsapp", WHATSAPP_USER)
    e2e.llm.enqueue(Script.text("A check-up is **$80**."))

    write(e2e, conversation, "How much is a check-up?")
    write(e2e, conversation, "And a cleaning?")

    assert [body["text"] for body in sent(e2e, conversation)] == [
        "A check-up is *$80*.",
        "You asked: And a cleaning. We are open from eight to six.",
    ]
    second = e2e.replies()[-1].messages
    assert SUMMARY in second[1]["content"]  # the memory of their number the first exchange left (the fake's summary)
    assert [m["content"] for m in second[2:]] == ["How much is a check-up?", "A check-up is *$80*.", "And a cleaning?"]


def test_our_own_reply_coming_back_is_never_answered(e2e: Stack) -> None:
    conversation = e2e.voipbin.add_conversation("line", LINE_USER)
    write(e2e, conversation, "Hi")
    (echo,) = [m for m in e2e.voipbin.resources("conversation_messages") if m["direction"] == "outgoing"]
    assert echo["text"] == sent(e2e, conversation)[0]["text"]

    # VoIPBin sends our reply back: created (progressing), then updated (done).
    assert e2e.webhook("conversation_message_created", {**echo, "status": "progressing"}) == 200
    assert e2e.webhook("conversation_message_updated", echo) == 200

    assert len(sent(e2e, conversation)) == 1
    assert len(e2e.replies()) == 1
    assert [event["detail-type"] for event in e2e.stack.bus.published].count("conversation_message_updated") == 0


def test_an_sms_copy_in_a_conversation_is_still_one_reply(e2e: Stack) -> None:
    from tests.e2e.test_sms_and_chat import inbound_sms

    message = inbound_sms("Hello?")
    copy = {
        "id": message["id"],
        "customer_id": message["customer_id"],
        "conversation_id": "64558b45-40a8-43db-b814-9c0dbf6d47b5",
        "direction": "incoming",
        "status": "done",
        "reference_type": "message",
        "reference_id": message["id"],
        "source": message["source"],
        "destination": message["targets"][0]["destination"],
        "text": message["text"],
        "tm_create": message["tm_create"],
    }

    e2e.webhook("message_created", message)
    e2e.webhook("conversation_message_created", copy)

    assert len(e2e.voipbin.requests("POST", "/messages")) == 1
    assert e2e.voipbin.requests("POST", "/conversations/") == []
