"""Summaries end to end: a call's published once on the bus and e-mailed once, however often its hangup comes,
and an idle LINE thread's after its idle time. Asserts on what the local bus received and the simulator e-mailed.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from local.fake_openai import RecordedRequest, Script
from local.stack import cold_start
from tests.e2e.conftest import CALLER, OURS, Stack, answer
from tests.helpers import wait_until
from voipbin_ai.bus import OWN_SOURCE
from voipbin_ai.models.session import call_conversation_id, voipbin_conversation_id
from voipbin_ai.models.summary import CALL_SUMMARIZED, CONVERSATION_SUMMARIZED, SummaryParts

pytestmark = pytest.mark.e2e

FRONT_DESK = "frontdesk@example.com"
PARTS = SummaryParts(
    call_type="opening hours inquiry",
    summary="The caller asked when the clinic is open.",
    key_points=("Opening hours",),
    decisions=(),
    action_items=("Front desk: call back about a Saturday slot",),
)


def structured(request: RecordedRequest) -> Script:
    """The fake LLM's answers, with the summary's parts when they are asked for as structured output."""
    if "response_format" in (request.body or {}):
        return Script.text(PARTS.model_dump_json())
    return answer(request)


@pytest.fixture
def summarized(e2e: Stack, agent_file: Path) -> Stack:
    """Every channel summarized and e-mailed to the front desk; the LLM writes the parts."""
    agent = json.loads(agent_file.read_text())
    agent["summary"] = {"email_to": FRONT_DESK}
    agent_file.write_text(json.dumps(agent))
    cold_start()  # the containers read their agent anew
    e2e.llm.default = structured
    return e2e


def published(e2e: Stack, detail_type: str) -> list[dict[str, Any]]:
    return [
        event["detail"]
        for event in e2e.stack.bus.published
        if event["source"] == OWN_SOURCE and event["detail-type"] == detail_type
    ]


def forget_the_events_that_ran(e2e: Stack) -> None:
    """Drop every idempotency record, as their hour's TTL does: a late redelivery runs its function again."""
    items = e2e.store.client.scan(TableName=e2e.store.table_name)["Items"]
    for item in items:
        if item["pk"]["S"].startswith("idempotency#"):
            e2e.store.client.delete_item(TableName=e2e.store.table_name, Key={"pk": item["pk"], "sk": item["sk"]})


def test_a_call_hung_up_twice_is_summarized_on_the_bus_and_emailed_once(summarized: Stack) -> None:
    e2e = summarized
    call = e2e.voipbin.add_call(CALLER, OURS)
    e2e.webhook("call_progressing", call)
    (transcribe,) = [t for t in e2e.voipbin.resources("transcribes") if t["reference_id"] == call["id"]]
    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe["id"], "When are you open?"))
    hangup = {**call, "status": "hangup", "hangup_by": "remote", "hangup_reason": "normal"}

    e2e.webhook("call_hangup", hangup)
    e2e.webhook("call_hangup", hangup)  # a duplicate: Powertools Idempotency skips it
    forget_the_events_that_ran(e2e)
    e2e.webhook("call_hangup", hangup)  # a redelivery it no longer knows of: the store's claim stops it

    (speaking,) = [s for s in e2e.voipbin.resources("speakings") if s["reference_id"] == call["id"]]
    assert len(e2e.voipbin.requests("POST", f"/speakings/{speaking['id']}/stop")) == 2  # the redelivery ran
    (summary,) = published(e2e, CALL_SUMMARIZED)
    assert {key: summary[key] for key in ("conversation_id", "channel", "voipbin_id", "our_address", "customer")} == {
        "conversation_id": call_conversation_id(call["id"]),
        "channel": "voice",
        "voipbin_id": call["id"],
        "our_address": OURS,
        "customer": "+1******4567",
    }
    assert summary["turns"] == 1 and summary["started_at"] and summary["ended_at"]
    assert SummaryParts.model_validate({key: summary[key] for key in SummaryParts.model_fields}) == PARTS
    (email,) = e2e.voipbin.sent_emails()
    assert [destination["target"] for destination in email["destinations"]] == [FRONT_DESK]
    assert "Front desk: call back about a Saturday slot" in email["content"]
    assert CALLER not in json.dumps(summary) and CALLER not in email["content"]
    asked = [r for r in e2e.llm.requests("/v1/chat/completions") if "response_format" in (r.body or {})]
    assert len(asked) == 1
    session = e2e.store.get_session(call_conversation_id(call["id"]))
    assert session is not None and session.summary == PARTS.summary  # the memory's summary, from the same answer


def test_an_idle_line_thread_is_summarized_once_its_idle_time_has_passed(
    summarized: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voipbin_ai.config import channel_settings

    e2e = summarized
    monkeypatch.setenv("CONVERSATION_IDLE_HOURS", "0.0005")  # 1.8 s
    channel_settings.cache_clear()
    conversation = e2e.voipbin.add_conversation("line", "U4af4980629d3c1a7e8b2f5c6d9e0a1b2", peer_name="Jane")

    # The driver waits until the stack is idle: the answer, then the idle check once due.
    e2e.webhook("conversation_message_created", e2e.voipbin.add_conversation_message(conversation["id"], "Open today?"))

    assert wait_until(lambda: bool(published(e2e, CONVERSATION_SUMMARIZED)))
    (summary,) = published(e2e, CONVERSATION_SUMMARIZED)
    assert (summary["conversation_id"], summary["voipbin_id"]) == (
        voipbin_conversation_id(conversation["id"]),
        conversation["id"],
    )
    assert (summary["channel"], summary["turns"], summary["call_type"]) == ("line", 1, PARTS.call_type)
    assert summary["customer"] == "U" + "*" * 28 + "a1b2"
    (email,) = e2e.voipbin.sent_emails()
    assert email["subject"] == f"LINE conversation summary, {summary['customer']}: {PARTS.call_type}"
    assert [json.loads(queued["body"])["kind"] for queued in e2e.stack.queues.sent_to("DelayedActionsQueue")] == [
        "idle_summary"
    ]
    assert published(e2e, CALL_SUMMARIZED) == []
