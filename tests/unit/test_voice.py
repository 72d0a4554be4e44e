"""A caller's turn (logic/voice.py) on the in-process fakes: the reply said sentence by sentence, latest turn wins.

Asserts on what the simulator was asked to say and flush, and what the store keeps.
"""

from collections.abc import Callable
from datetime import timedelta

import pytest

from local.fake_openai import Script, ToolCall
from local.voipbin_simulator import Fault, VoipbinSimulator
from tests.fakes.in_process import DEFAULT_AGENT, Fakes, RecordingLater, agent_with
from tests.fakes.memory_store import InMemoryStore
from tests.fakes.scripted_llm import FakeClock, ScriptedLlm
from voipbin_ai.logic.calls import answer_call, end_call
from voipbin_ai.logic.later import run_delayed
from voipbin_ai.logic.services import Services
from voipbin_ai.logic.voice import reply_to_transcript
from voipbin_ai.models.session import call_conversation_id
from voipbin_ai.models.voipbin import Call, Transcript
from voipbin_ai.voipbin.client import VoipbinClient, VoipbinServerError

CALLER, OURS = "+15551234567", "+15559876543"
REPLY = "We open at eight. We close at six."


class Phone:
    """An answered call, with its greeting played out."""

    def __init__(self, simulator: VoipbinSimulator, services: Services, store: InMemoryStore, clock: FakeClock) -> None:
        self.simulator, self.services, self.store, self.clock = simulator, services, store, clock
        self.call = Call.model_validate(simulator.add_call(CALLER, OURS))
        assert answer_call(self.call, services)
        self.conversation_id = call_conversation_id(self.call.id)
        self.transcribe_id = simulator.resources("transcribes")[0]["id"]
        self.speaking_id = simulator.resources("speakings")[0]["id"]
        self.heard()

    def heard(self) -> None:
        """Let what was said end playing."""
        self.clock.advance(60)

    def says(self, words: str, *, event_key: str | None = None) -> Transcript:
        transcript = Transcript.model_validate(self.simulator.add_transcript(self.transcribe_id, words))
        reply_to_transcript(transcript, event_key=event_key or transcript.id, started_at=0.0, services=self.services)
        return transcript

    def said(self) -> list[str]:
        """What the agent said after the greeting, on any speaking of the call."""
        return self.simulator.said_texts()[1:]


@pytest.fixture
def phone(simulator: VoipbinSimulator, services: Services, memory_store: InMemoryStore, wall_clock: FakeClock) -> Phone:
    return Phone(simulator, services, memory_store, wall_clock)


def test_the_reply_is_said_sentence_by_sentence_and_kept(
    phone: Phone, llm: ScriptedLlm, memory_store: InMemoryStore
) -> None:
    llm.enqueue(Script.text(REPLY))

    phone.says("When are you open?")

    assert phone.said() == ["We open at eight.", "We close at six."]
    history = memory_store.history(phone.conversation_id, limit=10)
    assert [(message.role, message.text) for message in history][1:] == [
        ("user", "When are you open?"),
        ("assistant", REPLY),
    ]


def test_each_turn_counts_among_the_voice_turns_and_a_failed_llm_among_the_fallbacks(
    phone: Phone, llm: ScriptedLlm, emitted: Callable[[], dict[str, list[float]]]
) -> None:
    llm.enqueue(Script.text(REPLY), Script.failure(500))

    phone.says("When are you open?")
    phone.heard()
    phone.says("And on Sundays?")

    # The dashboard's and FallbackRateAlarm's rate: fallbacks over turns.
    assert emitted()["VoiceTurns"] == [1.0, 1.0]
    assert emitted()["FallbackReplies"] == [1.0]
    assert len(emitted()["FirstSayMs"]) == 2


def test_our_own_voice_transcribed_is_not_answered(phone: Phone, llm: ScriptedLlm) -> None:
    transcript = Transcript.model_validate(phone.simulator.add_transcript(phone.transcribe_id, "Hi", direction="out"))

    reply_to_transcript(transcript, event_key=transcript.id, started_at=0.0, services=phone.services)

    assert llm.requests == [] and phone.said() == []


def test_nothing_is_said_after_the_hangup(phone: Phone, llm: ScriptedLlm) -> None:
    end_call(phone.call, phone.services)

    phone.says("Hello?")

    assert phone.said() == []
    assert [request.stream for request in llm.requests] == []


def test_a_hangup_mid_reply_stops_it_at_the_next_sentence(phone: Phone, llm: ScriptedLlm) -> None:
    llm.enqueue(Script.text(REPLY))
    llm.interject(6, lambda: end_call(phone.call, phone.services))  # after "We open at eight."

    phone.says("When are you open?")

    assert phone.said() == ["We open at eight."]


def test_a_newer_turn_takes_over_and_the_cut_reply_is_kept_interrupted(
    phone: Phone, llm: ScriptedLlm, memory_store: InMemoryStore
) -> None:
    llm.enqueue(Script.text(REPLY), Script.text("Yes, on Saturdays too."))
    llm.interject(6, lambda: phone.says("And on Saturdays?"))

    phone.says("When are you open?")

    assert phone.said() == ["We open at eight.", "Yes, on Saturdays too."]
    first = [message for message in memory_store.history(phone.conversation_id, limit=10) if message.turn == 1]
    assert [(message.role, message.interrupted) for message in first] == [("user", False), ("assistant", True)]


def test_a_duplicate_of_answered_words_during_a_newer_reply_cuts_nothing(
    phone: Phone, llm: ScriptedLlm, fakes: Fakes
) -> None:
    llm.enqueue(Script.text("Sure."), Script.text(REPLY))
    first = phone.says("Can I book?")
    phone.heard()
    # The first words' webhook delivered again while the second reply is being said: its turn is taken
    # beside the claim, before the claim turns the duplicate away, so the turn itself must refuse it.
    llm.interject(6, lambda: reply_to_transcript(first, event_key=first.id, started_at=0.0, services=phone.services))

    phone.says("When are you open?")

    assert phone.said() == ["Sure.", "We open at eight.", "We close at six."]
    assert fakes.claims.skipped == [first.id]
    session = phone.store.get_session(phone.conversation_id)
    assert session is not None and session.turn == 2


def test_words_delivered_after_newer_words_take_no_turn(phone: Phone, llm: ScriptedLlm) -> None:
    llm.enqueue(Script.text(REPLY))
    newer = phone.says("When are you open?")
    older = Transcript.model_validate(phone.simulator.add_transcript(phone.transcribe_id, "Hello?"))
    said_before = newer.tm_create - timedelta(seconds=2) if newer.tm_create else None
    older = older.model_copy(update={"tm_create": said_before})

    reply_to_transcript(older, event_key=older.id, started_at=0.0, services=phone.services)

    assert phone.said() == ["We open at eight.", "We close at six."]
    assert len(llm.requests) == 1


def test_a_reply_still_playing_is_flushed_before_the_next_is_said(phone: Phone, llm: ScriptedLlm) -> None:
    llm.enqueue(Script.text("Sure."), Script.text("Of course."))
    phone.says("Can I book?")  # "Sure." is still playing when the caller goes on

    phone.says("For Monday?")

    requests = [request.path.rsplit("/", 1)[-1] for request in phone.simulator.requests("POST", "/speakings/")]
    assert requests[-3:] == ["say", "flush", "say"]
    assert phone.said() == ["Sure.", "Of course."]


def test_a_speaking_gone_is_made_again_and_the_reply_said_there(
    phone: Phone, llm: ScriptedLlm, voipbin: VoipbinClient
) -> None:
    voipbin.stop_speaking(phone.speaking_id)  # VoIPBin lost it: /say answers 404
    llm.enqueue(Script.text("Hello again."))

    phone.says("Hello?")

    assert phone.said() == ["Hello again."]
    speakings = phone.simulator.resources("speakings")
    assert len(speakings) == 2
    assert phone.simulator.said_texts(speakings[1]["id"]) == ["Hello again."]


def test_a_tts_pod_lost_mid_reply_is_replaced_and_the_rest_said_there_once(
    phone: Phone, llm: ScriptedLlm, memory_store: InMemoryStore
) -> None:
    llm.enqueue(Script.text(REPLY), Script.text("Yes, on Saturdays too."))
    llm.interject(6, lambda: phone.simulator.lose_tts_pod(phone.speaking_id))  # after "We open at eight."

    phone.says("When are you open?")

    old, new = phone.simulator.resources("speakings")
    assert phone.simulator.said_texts(old["id"])[1:] == ["We open at eight."]
    assert phone.simulator.said_texts(new["id"]) == ["We close at six."]
    assert "tm_delete" in old  # deleted, or VoIPBin would refuse the new one
    session = memory_store.get_session(phone.conversation_id)
    assert session is not None and session.speaking_id == new["id"]
    phone.says("And on Saturdays?")  # "We close at six." still plays: the next turn flushes the new one
    assert phone.simulator.said_texts(new["id"])[1:] == ["Yes, on Saturdays too."]
    assert len(phone.simulator.requests("POST", f"/speakings/{new['id']}/flush")) == 1
    assert phone.simulator.requests("POST", f"/speakings/{old['id']}/flush") == []


def test_a_flush_that_finds_the_pod_lost_replaces_the_speaking_before_the_reply(
    phone: Phone, llm: ScriptedLlm, memory_store: InMemoryStore
) -> None:
    llm.enqueue(Script.text("Sure."), Script.text("Of course."))
    phone.says("Can I book?")  # "Sure." is still playing when the caller goes on
    phone.simulator.lose_tts_pod(phone.speaking_id)
    before = len(phone.simulator.requests())

    phone.says("For Monday?")

    (new,) = [s["id"] for s in phone.simulator.resources("speakings") if s["id"] != phone.speaking_id]
    old = f"/speakings/{phone.speaking_id}"
    assert [(r.method, r.path.removeprefix("/v1.0")) for r in phone.simulator.requests()[before:]] == [
        ("POST", f"{old}/flush"),
        ("DELETE", old),
        ("POST", "/speakings"),
        ("POST", f"/speakings/{new}/say"),
    ]
    assert phone.said() == ["Sure.", "Of course."]


def test_a_speaking_lost_again_in_the_same_turn_cuts_the_reply_short(phone: Phone, llm: ScriptedLlm) -> None:
    phone.simulator.lose_tts_pod(phone.speaking_id)  # found by the first /say
    llm.enqueue(Script.text(REPLY))
    llm.interject(6, lambda: phone.simulator.lose_tts_pod(phone.simulator.resources("speakings")[-1]["id"]))

    phone.says("When are you open?")

    assert phone.said() == ["We open at eight."]
    assert len(phone.simulator.resources("speakings")) == 2  # replaced once per turn


def test_a_hangup_while_the_speaking_is_replaced_says_nothing_more(
    phone: Phone, llm: ScriptedLlm, memory_store: InMemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone.simulator.lose_tts_pod(phone.speaking_id)
    set_speaking = memory_store.set_speaking

    def hung_up_first(conversation_id: str, speaking_id: str) -> bool:
        end_call(phone.call, phone.services)
        return set_speaking(conversation_id, speaking_id)

    monkeypatch.setattr(memory_store, "set_speaking", hung_up_first)
    llm.enqueue(Script.text(REPLY))

    phone.says("When are you open?")

    assert phone.said() == []
    new = phone.simulator.resources("speakings")[-1]
    assert new["id"] != phone.speaking_id and new["status"] == "stopped"


def test_a_newer_turn_while_the_speaking_is_replaced_takes_over_on_the_new_one(
    phone: Phone, llm: ScriptedLlm, memory_store: InMemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone.simulator.lose_tts_pod(phone.speaking_id)
    set_speaking = memory_store.set_speaking

    def newer_turn_first(conversation_id: str, speaking_id: str) -> bool:
        memory_store.take_turn(conversation_id, channel="voice", open_if_missing=False)
        return set_speaking(conversation_id, speaking_id)

    monkeypatch.setattr(memory_store, "set_speaking", newer_turn_first)
    llm.enqueue(Script.text(REPLY))

    phone.says("When are you open?")

    assert phone.said() == []
    session = memory_store.get_session(phone.conversation_id)
    assert session is not None and session.speaking_id == phone.simulator.resources("speakings")[-1]["id"]


def test_a_turn_that_failed_before_a_word_is_redone_once_when_redelivered(phone: Phone, llm: ScriptedLlm) -> None:
    phone.simulator.inject("POST", "/speakings/{id}/say", *[Fault.error(503)] * 4)  # every attempt
    llm.enqueue(Script.text("Sure."), Script.text("Sure."))
    transcript = Transcript.model_validate(phone.simulator.add_transcript(phone.transcribe_id, "Can I book?"))

    with pytest.raises(VoipbinServerError):
        reply_to_transcript(transcript, event_key="delivery-1", started_at=0.0, services=phone.services)
    reply_to_transcript(transcript, event_key="delivery-1", started_at=0.0, services=phone.services)

    assert phone.said() == ["Sure."]
    session = phone.store.get_session(phone.conversation_id)
    assert session is not None and session.turn == 1


def test_end_call_hangs_up_once_the_goodbye_has_been_heard(
    phone: Phone, llm: ScriptedLlm, later: RecordingLater
) -> None:
    llm.enqueue(Script.tools(ToolCall("end_call"), text="Goodbye, have a nice day!"), Script.text(""))

    phone.says("That's all, bye")

    ((action, after_seconds),) = later.of_kind("after_reply")  # no silence check after a goodbye
    assert (action.kind, action.tool, action.turn) == ("after_reply", "end_call", 1)
    # "Goodbye, have a nice day!" at the voice's 15 characters a second: about 1.7 s, no function waiting.
    assert after_seconds == pytest.approx(25 / 15, abs=0.01)
    assert phone.simulator.requests("POST", f"/calls/{phone.call.id}/hangup") == []
    later.queued.append((action, after_seconds))  # SQS delivers at least once
    later.run_all(phone.services)
    assert len(phone.simulator.requests("POST", f"/calls/{phone.call.id}/hangup")) == 1


def test_a_caller_who_speaks_after_the_goodbye_is_not_hung_up_on(
    phone: Phone, llm: ScriptedLlm, later: RecordingLater
) -> None:
    llm.enqueue(Script.tools(ToolCall("end_call"), text="Goodbye!"), Script.text(""), Script.text("Of course."))
    phone.says("That's all, bye")

    phone.says("Oh wait, one more thing")
    later.run_all(phone.services)

    assert phone.simulator.requests("POST", f"/calls/{phone.call.id}/hangup") == []
    assert phone.said()[-1] == "Of course."


def test_at_the_turn_limit_more_words_do_not_keep_the_line(
    fakes: Fakes, simulator: VoipbinSimulator, memory_store: InMemoryStore, wall_clock: FakeClock, later: RecordingLater
) -> None:
    phone = Phone(simulator, fakes.services(agent_with(limits={"max_turns": 1})), memory_store, wall_clock)
    phone.says("First question")

    phone.says("Second question")  # past the limit: the closing line, and the hang-up queued
    (first_hang_up, _) = later.of_kind("after_reply")[0]
    phone.says("And a third")  # a caller who keeps talking, before the first hang-up is due
    run_delayed(first_hang_up, phone.services)

    assert phone.said()[-2:] == [DEFAULT_AGENT.channels.voice.closing] * 2
    assert (first_hang_up.turn, first_hang_up.even_if_superseded) == (2, True)
    assert len(simulator.requests("POST", f"/calls/{phone.call.id}/hangup")) == 1
