"""A phone call end to end, as the simulator sees it: in order, delivered twice, reordered, and failing."""

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from local.backing import agents_file
from local.fake_openai import Script
from local.voipbin_state import go_time
from tests.e2e.conftest import CALLER, OURS, SUMMARY, Stack
from tests.helpers import PHONE_IDS, LogCapture, granted_dynamodb, wait_until
from tests.store_calls import dynamodb_access
from voipbin_ai.bus import OWN_SOURCE, WARM_UP
from voipbin_ai.models.session import ReplySoFar, call_conversation_id
from voipbin_ai.store.dynamodb import DynamoDBStore

pytestmark = pytest.mark.e2e

GREETING = "Hello, this is Ava from Example Dental Clinic. How can I help you today?"


def answered_call(e2e: Stack, *, deliveries: int = 1) -> tuple[dict[str, Any], str, str]:
    """A call answered through call_progressing: (the call, its transcribe id, its speaking id)."""
    call = e2e.voipbin.add_call(CALLER, OURS)
    for _ in range(deliveries):
        assert e2e.webhook("call_progressing", call) == 200
    transcribes = [t for t in e2e.voipbin.resources("transcribes") if t["reference_id"] == call["id"]]
    speakings = [s for s in e2e.voipbin.resources("speakings") if s["reference_id"] == call["id"]]
    assert len(transcribes) == 1 and len(speakings) == 1
    return call, transcribes[0]["id"], speakings[0]["id"]


def hung_up(call: dict[str, Any]) -> dict[str, Any]:
    return {**call, "status": "hangup", "hangup_by": "remote", "hangup_reason": "normal"}


def test_a_whole_call_in_order(e2e: Stack) -> None:
    call, transcribe_id, speaking_id = answered_call(e2e)

    (transcribe,) = e2e.voipbin.requests("POST", "/transcribes")
    assert transcribe.body == {
        "reference_type": "call",
        "reference_id": call["id"],
        "language": "en-US",
        "direction": "in",
    }
    assert e2e.voipbin.said_texts(speaking_id) == [GREETING]

    for question in ("What are your hours?", "Do you take new patients?"):
        e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe_id, question))
    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe_id, "That was me.", direction="out"))
    e2e.webhook("call_hangup", hung_up(call))

    assert e2e.voipbin.said_texts(speaking_id) == [
        GREETING,
        "You asked: What are your hours.",
        "We are open from eight to six.",
        "You asked: Do you take new patients.",
        "We are open from eight to six.",
    ]
    assert e2e.paths("POST", "/speakings/")[-1] == f"/v1.0/speakings/{speaking_id}/stop"
    # The second turn's prompt holds the first turn and the greeting, oldest first.
    first, second = e2e.replies()
    assert [m["content"] for m in second.messages[1:]] == [
        GREETING,
        "What are your hours?",
        "You asked: What are your hours. We are open from eight to six.",
        "Do you take new patients?",
    ]
    assert first.messages[-1]["content"] == "What are your hours?"
    session = e2e.store.get_session(call_conversation_id(call["id"]))
    assert session is not None and not session.active and session.summary == SUMMARY
    assert e2e.store.contact_memory(PHONE_IDS.contact(CALLER)) == SUMMARY


def test_every_event_delivered_twice_is_acted_on_once(e2e: Stack) -> None:
    call, transcribe_id, speaking_id = answered_call(e2e, deliveries=2)
    transcript = e2e.voipbin.add_transcript(transcribe_id, "What are your hours?")
    e2e.webhook("transcript_created", transcript)
    e2e.webhook("transcript_created", transcript)
    e2e.webhook("call_hangup", hung_up(call))
    e2e.webhook("call_hangup", hung_up(call))

    posts = e2e.paths("POST", "/")
    assert posts.count("/v1.0/speakings") == 1
    assert posts.count("/v1.0/transcribes") == 1
    assert posts.count(f"/v1.0/speakings/{speaking_id}/stop") == 1
    assert e2e.voipbin.said_texts(speaking_id) == [
        GREETING,
        "You asked: What are your hours.",
        "We are open from eight to six.",
    ]
    assert len(e2e.replies()) == 1


def test_an_early_hangup_wins_over_a_late_call_progressing(e2e: Stack) -> None:
    call = e2e.voipbin.add_call(CALLER, OURS)

    e2e.webhook("call_hangup", hung_up(call))
    e2e.webhook("call_progressing", call)

    assert e2e.voipbin.requests("POST") == []
    assert e2e.voipbin.said_texts() == []


def test_a_transcript_before_its_transcribe_is_known_is_answered(e2e: Stack) -> None:
    call, transcribe_id, speaking_id = answered_call(e2e)
    # As if the transcript came before call_progressing stored the mapping, in a fresh container.
    e2e.store.client.delete_item(
        TableName=e2e.store.table_name, Key={"pk": {"S": f"TRANSCRIBE#{transcribe_id}"}, "sk": {"S": "CALL"}}
    )
    from voipbin_ai.logic import calls

    calls._known.clear()

    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe_id, "Are you open today?"))

    assert e2e.paths("GET", "/transcribes/") == [f"/v1.0/transcribes/{transcribe_id}"]
    assert e2e.voipbin.said_texts(speaking_id)[1:] == [
        "You asked: Are you open today.",
        "We are open from eight to six.",
    ]
    assert e2e.store.conversation_of_transcribe(transcribe_id) == call_conversation_id(call["id"])


def test_speech_started_in_the_middle_of_a_reply_flushes_it_at_once(e2e: Stack) -> None:
    call, transcribe_id, speaking_id = answered_call(e2e)
    # The reply stops streaming after its first sentence until the caller has barged in.
    reply = Script.text("First I will explain. " + "Then more words follow. " * 3, hold_after=6)
    e2e.llm.enqueue(reply)
    say_path = f"/v1.0/speakings/{speaking_id}/say"

    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe_id, "Tell me all"), wait=False)
    assert wait_until(lambda: len(e2e.voipbin.requests("POST", say_path)) == 2)  # the greeting and one sentence
    e2e.webhook("transcribe_speech_started", e2e.voipbin.speech_started(transcribe_id), wait=False)

    def cut_off() -> bool:  # the barge-in's last step: the reply so far is marked interrupted
        *_, last = e2e.store.history(call_conversation_id(call["id"]), limit=10)
        return last.role == "assistant" and last.interrupted

    assert wait_until(cut_off)
    reply.release.set()
    e2e.stack.wait_idle()

    # The turn flushed the greeting first; the barge-in flushed the reply while it was being said.
    says = e2e.voipbin.requests("POST", say_path)
    assert [say.body["text"] for say in says[1:]] == ["First I will explain."]  # nothing after the barge-in
    flushes = e2e.voipbin.requests("POST", f"/speakings/{speaking_id}/flush")
    assert any(flush.received_at > says[1].received_at for flush in flushes)  # cut while it was being said
    reply_message = e2e.store.history(call_conversation_id(call["id"]), limit=10)[-1]
    assert reply_message.role == "assistant" and reply_message.interrupted


def test_a_new_utterance_supersedes_the_reply_in_progress(e2e: Stack) -> None:
    call, transcribe_id, speaking_id = answered_call(e2e)
    # The first reply stops streaming after "One." until the next utterance has been answered.
    first = Script.text("One. Two. Three. Four. Five. Six. Seven. Eight.", hold_after=3)
    e2e.llm.enqueue(first)

    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe_id, "Count for me"), wait=False)
    assert wait_until(lambda: "One." in e2e.voipbin.said_texts(speaking_id))
    e2e.webhook(
        "transcript_created", e2e.voipbin.add_transcript(transcribe_id, "Stop, what are your hours?"), wait=False
    )
    assert wait_until(lambda: "We are open from eight to six." in e2e.voipbin.said_texts(speaking_id))
    first.release.set()
    e2e.stack.wait_idle()

    said = e2e.voipbin.said_texts(speaking_id)
    assert said[-2:] == ["You asked: Stop, what are your hours.", "We are open from eight to six."]
    assert "Two." not in said  # the old reply stopped at its next sentence
    history = e2e.store.history(call_conversation_id(call["id"]), limit=10)
    old_reply = [m for m in history if m.role == "assistant" and m.text.startswith("One.")]
    assert old_reply and old_reply[0].interrupted


def test_a_404_from_say_mid_call_recreates_the_speaking_once(e2e: Stack) -> None:
    call, transcribe_id, speaking_id = answered_call(e2e)
    assert e2e.rest("POST", f"/speakings/{speaking_id}/stop").status_code == 200  # gone, as after a glitch

    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe_id, "Hello?"))

    speakings = [s for s in e2e.voipbin.resources("speakings") if s["reference_id"] == call["id"]]
    assert len(speakings) == 2
    (new,) = [s["id"] for s in speakings if s["id"] != speaking_id]
    assert e2e.voipbin.said_texts(new) == ["You asked: Hello.", "We are open from eight to six."]
    session = e2e.store.get_session(call_conversation_id(call["id"]))
    assert session is not None and session.speaking_id == new


def test_a_tts_pod_lost_mid_reply_is_recovered_with_the_reply_said_exactly_once(e2e: Stack) -> None:
    call, transcribe_id, speaking_id = answered_call(e2e)
    sentences = ["First I will explain.", "Then I check the calendar.", "Then I book you in."]
    # The reply stops streaming after its first sentence until the pod holding the speaking is gone.
    reply = Script.text(" ".join(sentences), hold_after=6)
    e2e.llm.enqueue(reply)

    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe_id, "Book me in"), wait=False)
    assert wait_until(lambda: e2e.voipbin.said_texts(speaking_id)[1:] == sentences[:1])
    e2e.voipbin.lose_tts_pod(speaking_id)
    reply.release.set()
    e2e.stack.wait_idle()

    speakings = [s for s in e2e.voipbin.resources("speakings") if s["reference_id"] == call["id"]]
    (new,) = [s["id"] for s in speakings if s["id"] != speaking_id]
    assert e2e.voipbin.said_texts(speaking_id) == [GREETING, sentences[0]]
    assert e2e.voipbin.said_texts(new) == sentences[1:]
    assert e2e.voipbin.said_texts() == [GREETING, *sentences]  # said once each, nothing lost
    assert e2e.paths("DELETE", "/speakings/") == [f"/v1.0/speakings/{speaking_id}"]
    session = e2e.store.get_session(call_conversation_id(call["id"]))
    assert session is not None and session.speaking_id == new
    # The next turn and the hangup use the new speaking.
    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe_id, "Thanks"))
    e2e.webhook("call_hangup", hung_up(call))
    assert e2e.voipbin.said_texts(new)[-2:] == ["You asked: Thanks.", "We are open from eight to six."]
    assert e2e.paths("POST", "/speakings/")[-1] == f"/v1.0/speakings/{new}/stop"


def test_an_llm_timeout_speaks_the_fallback(e2e: Stack) -> None:
    _, transcribe_id, speaking_id = answered_call(e2e)
    e2e.llm.enqueue(Script.text("Much too late.", ttft=3.0))

    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe_id, "Hello?"))

    assert e2e.voipbin.said_texts(speaking_id)[1:] == ["Sorry, give me a moment. Could you say that again?"]


def test_end_call_says_goodbye_then_hangs_up(e2e: Stack) -> None:
    from local.fake_openai import ToolCall

    call, transcribe_id, speaking_id = answered_call(e2e)
    e2e.llm.enqueue(Script.tools(ToolCall("end_call"), text="Goodbye!"), Script.text(""))

    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe_id, "That's all, bye"))

    assert e2e.voipbin.said_texts(speaking_id)[-1] == "Goodbye!"
    (hangup,) = e2e.voipbin.requests("POST", f"/calls/{call['id']}/hangup")
    (goodbye,) = [
        r for r in e2e.voipbin.requests("POST", f"/speakings/{speaking_id}/say") if r.body == {"text": "Goodbye!"}
    ]
    assert goodbye.received_at < hangup.received_at
    # The hang-up waited in the delayed-actions queue until what was said had played (whole seconds).
    (queued,) = e2e.stack.queues.sent_to("DelayedActionsQueue")  # no silence check after a goodbye
    assert json.loads(queued["body"])["tool"] == "end_call"
    assert 1 <= queued["delay_seconds"] <= 15


def test_a_silent_caller_is_reprompted_then_told_goodbye_and_hung_up(e2e: Stack, agent_file: Path) -> None:
    from local.stack import cold_start

    agent = json.loads(agent_file.read_text())
    agent["greeting"] = "Hello!"
    agent["silence"] = {"reprompt_seconds": 1, "max_reprompts": 1, "reprompt": "Still there?", "goodbye": "Bye now!"}
    agent_file.write_text(json.dumps(agent))
    cold_start()  # the containers read their agent anew
    call = e2e.voipbin.add_call(CALLER, OURS)

    e2e.webhook("call_progressing", call, wait=False)  # the stack is idle only once the caller is hung up on

    assert wait_until(lambda: bool(e2e.voipbin.requests("POST", f"/calls/{call['id']}/hangup")), timeout=30)
    e2e.stack.wait_idle()
    (speaking,) = [s for s in e2e.voipbin.resources("speakings") if s["reference_id"] == call["id"]]
    assert e2e.voipbin.said_texts(speaking["id"]) == ["Hello!", "Still there?", "Bye now!"]
    assert len(e2e.voipbin.requests("POST", f"/calls/{call['id']}/hangup")) == 1
    kinds = [json.loads(queued["body"])["kind"] for queued in e2e.stack.queues.sent_to("DelayedActionsQueue")]
    assert kinds == ["silence", "silence", "after_reply"]  # the greeting's check, the re-prompt's, the hang-up
    (greeting,) = e2e.store.history(call_conversation_id(call["id"]), limit=10)
    assert greeting.text == "Hello! Still there? Bye now!"  # the LLM would see them as the agent's words


def test_a_caller_who_speaks_is_reprompted_only_after_the_reply(e2e: Stack, agent_file: Path) -> None:
    from local.stack import cold_start

    agent = json.loads(agent_file.read_text())
    agent["greeting"] = "Hello!"
    agent["silence"] = {"reprompt_seconds": 2, "max_reprompts": 1, "reprompt": "Still there?", "goodbye": "Bye now!"}
    agent_file.write_text(json.dumps(agent))
    cold_start()
    call = e2e.voipbin.add_call(CALLER, OURS)
    e2e.webhook("call_progressing", call, wait=False)
    assert wait_until(lambda: bool([s for s in e2e.voipbin.resources("speakings") if s["reference_id"] == call["id"]]))
    (speaking,) = [s for s in e2e.voipbin.resources("speakings") if s["reference_id"] == call["id"]]
    assert wait_until(lambda: e2e.voipbin.said_texts(speaking["id"]) == ["Hello!"])
    (transcribe,) = [t for t in e2e.voipbin.resources("transcribes") if t["reference_id"] == call["id"]]

    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe["id"], "Hours?"), wait=False)

    assert wait_until(lambda: "Still there?" in e2e.voipbin.said_texts(speaking["id"]), timeout=30)
    # The greeting's check came due after the caller spoke and said nothing; the reply's re-prompted once.
    assert e2e.voipbin.said_texts(speaking["id"]) == [
        "Hello!",
        "You asked: Hours.",
        "We are open from eight to six.",
        "Still there?",
    ]
    e2e.webhook("call_hangup", hung_up(call))


def test_a_model_that_keeps_calling_send_sms_texts_the_caller_twice_in_all(e2e: Stack, agent_file: Path) -> None:
    from local.fake_openai import ToolCall
    from local.stack import cold_start

    # Three rounds of tool calls before the first word: the short deadline of the other tests would time
    # out on a loaded machine, and this test is about the texts, not the deadline.
    agent = json.loads(agent_file.read_text())
    agent["channels"]["voice"]["deadline_seconds"] = 30.0
    agent_file.write_text(json.dumps(agent))
    cold_start()  # the containers read their agent anew
    _, transcribe_id, speaking_id = answered_call(e2e)
    flood = [ToolCall("send_sms", json.dumps({"text": f"Detail {n}"})) for n in range(5)]
    for question in ("Text me each detail separately", "Once more, every detail"):
        e2e.llm.enqueue(*(Script.tools(*flood) for _ in range(3)), Script.text("Done."))
        e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe_id, question))

    assert e2e.voipbin.said_texts(speaking_id)[1:] == ["Done.", "Done."]
    texts = e2e.voipbin.requests("POST", "/messages")
    assert [text.body["text"] for text in texts] == ["Detail 0", "Detail 1"]
    assert {text.body["destinations"][0]["target"] for text in texts} == {CALLER}


def test_a_call_to_a_number_not_served_is_left_alone(
    e2e: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    only_another = agents_file(tmp_path, {"ava": {}}, numbers={"+15550000000": "ava"}, default=None)
    monkeypatch.setenv("AGENT_CONFIG_FILE", str(only_another))

    e2e.webhook("call_progressing", e2e.voipbin.add_call(CALLER, OURS))

    assert e2e.voipbin.requests("POST") == []


def test_every_log_line_of_a_call_carries_its_id_and_each_turn_its_latency_metrics(
    e2e: Stack, logs: LogCapture, capsys: pytest.CaptureFixture[str]
) -> None:
    call, transcribe_id, _ = answered_call(e2e)
    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe_id, "What are your hours?"))
    e2e.webhook("call_hangup", hung_up(call))

    # The ingress knows no conversation. In this one process the functions share one logger, so an ingress
    # line can carry the keys of a function running beside it: its lines are told apart by where they are.
    records = [
        r
        for r in logs.records()
        if r.get("function_name") != "IngressFunction" and not r["location"].startswith("receive_webhook:")
    ]
    assert records
    conversation = call_conversation_id(call["id"])
    for record in records:
        assert (
            record.get("call_id") == call["id"]
            or record.get("conversation_id") == conversation
            or (record.get("transcribe_id") == transcribe_id)
        ), record
    logs.assert_no_personal_data(CALLER, OURS, "What are your hours?", "test-token", "test-key")
    (turn,) = [r for r in records if r["message"] == "Voice turn"]
    assert turn["conversation_id"] == conversation and turn["pieces_said"] == 2
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    stages = {name for blob in emitted for name in ("TurnReceivedMs", "LlmFirstTokenMs", "FirstSayMs") if name in blob}
    assert stages == {"TurnReceivedMs", "LlmFirstTokenMs", "FirstSayMs"}


def test_answering_finds_the_live_speaking_and_tolerates_a_running_transcribe(e2e: Stack) -> None:
    call = e2e.voipbin.add_call(CALLER, OURS)
    # Left over from an earlier attempt: a live speaking (a second create answers 500) and a progressing
    # transcribe (a second create answers 409).
    body = {"reference_type": "call", "reference_id": call["id"], "language": "en-US", "direction": "in"}
    headers = {"Authorization": f"Bearer {e2e.voipbin.token}"}
    live = httpx2.post(f"{e2e.voipbin.base_url}/speakings", json=body, headers=headers).json()
    transcribe = httpx2.post(f"{e2e.voipbin.base_url}/transcribes", json=body, headers=headers).json()

    e2e.webhook("call_progressing", call)

    assert e2e.voipbin.said_texts(live["id"]) == [GREETING]
    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe["id"], "Hello?"))
    assert e2e.voipbin.said_texts(live["id"])[1:] == ["You asked: Hello.", "We are open from eight to six."]


def test_a_transcript_before_the_answering_recorded_its_speaking_is_still_answered(e2e: Stack) -> None:
    call = e2e.voipbin.add_call(CALLER, OURS)
    # call_progressing has opened the conversation and started the transcribe, and not yet recorded them.
    e2e.store.start_call(call_conversation_id(call["id"]), caller=CALLER, callee=OURS)
    body = {"reference_type": "call", "reference_id": call["id"], "language": "en-US", "direction": "in"}
    headers = {"Authorization": f"Bearer {e2e.voipbin.token}"}
    transcribe = httpx2.post(f"{e2e.voipbin.base_url}/transcribes", json=body, headers=headers).json()

    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe["id"], "Hello?"))

    (speaking,) = e2e.voipbin.resources("speakings")
    assert e2e.voipbin.said_texts(speaking["id"]) == ["You asked: Hello.", "We are open from eight to six."]
    session = e2e.store.get_session(call_conversation_id(call["id"]))
    assert session is not None and session.speaking_id == speaking["id"]


def test_a_reply_whose_first_say_fails_is_said_by_the_retry(e2e: Stack) -> None:
    from local.voipbin_simulator import Fault
    from voipbin_ai.voipbin.client import DEFAULT_MAX_ATTEMPTS

    _, transcribe_id, speaking_id = answered_call(e2e)
    # VoIPBin unavailable for every attempt of the first delivery's first /say: the event fails, Lambda
    # retries it, and the retry must say the reply (the turn was recorded, not said).
    e2e.voipbin.inject("POST", f"/speakings/{speaking_id}/say", *[Fault.error(503)] * DEFAULT_MAX_ATTEMPTS)

    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe_id, "Hello?"))

    assert e2e.voipbin.said_texts(speaking_id)[1:] == ["You asked: Hello.", "We are open from eight to six."]
    assert e2e.stack.invocations["TranscriptCreatedFunction"] == 1 + 2  # the warm-up, the delivery, its retry


def test_answering_a_call_warms_up_the_reply_function_once(e2e: Stack) -> None:
    _, _, speaking_id = answered_call(e2e, deliveries=2)  # the redelivery answers nothing, so warms nothing

    warm_ups = [event for event in e2e.stack.bus.published if event["detail-type"] == WARM_UP]
    assert [event["source"] for event in warm_ups] == [OWN_SOURCE]
    assert e2e.stack.invocations["TranscriptCreatedFunction"] == 1  # it reached the function
    assert e2e.replies() == []  # the warm-up asked the LLM nothing
    assert len(e2e.voipbin.requests("POST", f"/speakings/{speaking_id}/say")) == 1  # and said nothing: the greeting


def test_the_history_is_read_beside_taking_the_turn(e2e: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    _, transcribe_id, speaking_id = answered_call(e2e)
    reading = threading.Event()
    overlapped: list[bool] = []
    history, take_turn = DynamoDBStore.history, DynamoDBStore.take_turn

    def reading_history(self: DynamoDBStore, conversation_id: str, *, limit: int) -> Any:
        reading.set()
        return history(self, conversation_id, limit=limit)

    def taking_turn(self: DynamoDBStore, *args: Any, **kwargs: Any) -> Any:
        overlapped.append(reading.wait(timeout=10))  # in sequence, the read would only start after this
        return take_turn(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBStore, "history", reading_history)
    monkeypatch.setattr(DynamoDBStore, "take_turn", taking_turn)
    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe_id, "Hello?"))

    assert overlapped == [True]
    assert e2e.voipbin.said_texts(speaking_id)[1:] == ["You asked: Hello.", "We are open from eight to six."]


def test_each_piece_is_said_before_its_history_is_written(e2e: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    _, transcribe_id, speaking_id = answered_call(e2e)
    said_before_kept: list[bool] = []
    keep_reply = DynamoDBStore.keep_reply

    def keeping_reply(self: DynamoDBStore, conversation_id: str, reply: ReplySoFar, *, spoken: bool) -> None:
        pieces = len(reply.text.split(". "))
        said = wait_until(lambda: len(e2e.voipbin.said_texts(speaking_id)) == 1 + pieces)  # after the greeting
        said_before_kept.append(said)  # in sequence, the /say would only be sent after this returns
        keep_reply(self, conversation_id, reply, spoken=spoken)

    monkeypatch.setattr(DynamoDBStore, "keep_reply", keeping_reply)
    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe_id, "Hello?"))

    assert said_before_kept == [True, True]
    history = e2e.store.history(call_conversation_id(e2e.voipbin.resources("calls")[0]["id"]), limit=10)
    assert [(m.role, m.text) for m in history][-2:] == [
        ("user", "Hello?"),
        ("assistant", "You asked: Hello. We are open from eight to six."),
    ]


def test_a_transcript_replayed_hours_later_is_not_answered(e2e: Stack) -> None:
    _, transcribe_id, speaking_id = answered_call(e2e)
    captured = e2e.voipbin.add_transcript(transcribe_id, "Read me my test results.")
    captured["tm_create"] = go_time(datetime.now(UTC) - timedelta(hours=2))

    assert e2e.webhook("transcript_created", captured) == 200  # signed and well formed: VoIPBin must not retry

    assert e2e.replies() == []
    assert e2e.voipbin.said_texts(speaking_id) == [GREETING]


def test_a_call_needs_only_what_the_event_functions_policy_grants(e2e: Stack) -> None:
    actions, _ = granted_dynamodb("TranscriptCreatedFunction")

    with dynamodb_access() as accessed:
        call, transcribe_id, _ = answered_call(e2e)
        e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe_id, "What are your hours?"))
        e2e.webhook("call_hangup", hung_up(call))

    # Each one used and none missing; DeleteItem removes an idempotency record when its handler fails.
    assert {action for action, _ in accessed} | {"dynamodb:DeleteItem"} == actions
