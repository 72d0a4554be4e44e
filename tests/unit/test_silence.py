"""A silent caller (logic/calls.py, agent.silence) on the in-process fakes: re-prompts, then goodbye and hang-up.

The checks are delayed actions: tests see what was queued with what delay, move the wall clock on as the
queue would (whole seconds, rounded up) and deliver them; they assert on what the simulator was asked to say.
"""

import math

import pytest

from local.fake_openai import Script
from local.voipbin_simulator import VoipbinSimulator
from tests.fakes.in_process import DEFAULT_AGENT, Fakes, RecordingLater, agent_with
from tests.fakes.memory_store import InMemoryStore
from tests.fakes.scripted_llm import FakeClock, ScriptedLlm
from voipbin_ai.logic.calls import answer_call, barge_in, end_call
from voipbin_ai.logic.later import run_delayed
from voipbin_ai.logic.services import Services
from voipbin_ai.logic.voice import reply_to_transcript
from voipbin_ai.models.later import DelayedAction
from voipbin_ai.models.session import call_conversation_id
from voipbin_ai.models.voipbin import Call, SpeechEvent, Transcript

CALLER, OURS = "+15551234567", "+15559876543"
SILENCE = DEFAULT_AGENT.silence
# The voice's pace (SPEECH_CHARS_PER_SECOND's default): what is said plays for its length / 15 seconds.
CHARS_PER_SECOND = 15


class Line:
    """An answered call on which the caller may stay silent."""

    def __init__(
        self, simulator: VoipbinSimulator, services: Services, later: RecordingLater, clock: FakeClock
    ) -> None:
        self.simulator, self.services, self.later, self.clock = simulator, services, later, clock
        self.call = Call.model_validate(simulator.add_call(CALLER, OURS))
        assert answer_call(self.call, services)
        self.conversation_id = call_conversation_id(self.call.id)
        self.transcribe_id = simulator.resources("transcribes")[0]["id"]

    def due(self) -> DelayedAction:
        """The one silence check queued, taken off the queue once the clock has reached its time."""
        ((action, after_seconds),) = self.later.of_kind("silence")
        self.later.queued.remove((action, after_seconds))
        self.clock.advance(math.ceil(after_seconds))
        return action

    def quiet(self) -> None:
        """The caller says nothing until everything queued is due; then it is delivered."""
        self.clock.advance(math.ceil(max(after_seconds for _, after_seconds in self.later.queued)))
        self.later.run_all(self.services)

    def says(self, words: str) -> None:
        transcript = Transcript.model_validate(self.simulator.add_transcript(self.transcribe_id, words))
        reply_to_transcript(transcript, event_key=transcript.id, started_at=0.0, services=self.services)

    def starts_speaking(self) -> None:
        barge_in(SpeechEvent.model_validate(self.simulator.speech_started(self.transcribe_id)), self.services)

    def hang_ups(self) -> int:
        return len(self.simulator.requests("POST", f"/calls/{self.call.id}/hangup"))


@pytest.fixture
def line(simulator: VoipbinSimulator, services: Services, later: RecordingLater, wall_clock: FakeClock) -> Line:
    return Line(simulator, services, later, wall_clock)


def test_the_greeting_queues_a_check_for_when_it_has_played_and_the_caller_kept_quiet(line: Line) -> None:
    ((action, after_seconds),) = line.later.queued

    assert (action.kind, action.turn, action.reprompts) == ("silence", 0, 0)
    assert after_seconds == pytest.approx(len(DEFAULT_AGENT.greeting) / CHARS_PER_SECOND + 30, abs=0.01)


def test_a_silent_caller_is_reprompted_then_told_goodbye_and_hung_up(
    line: Line, simulator: VoipbinSimulator, memory_store: InMemoryStore
) -> None:
    for said in range(SILENCE.max_reprompts):
        line.quiet()
        ((check, after_seconds),) = line.later.queued
        assert check.reprompts == said + 1
        assert after_seconds == pytest.approx(len(SILENCE.reprompt) / CHARS_PER_SECOND + 30, abs=0.01)
    line.quiet()  # the goodbye, its hang-up queued for when it has been heard
    ((hang_up, after_seconds),) = line.later.queued
    assert (hang_up.kind, hang_up.tool) == ("after_reply", "end_call")
    assert after_seconds == pytest.approx(len(SILENCE.goodbye) / CHARS_PER_SECOND, abs=0.01)
    assert line.hang_ups() == 0
    line.quiet()

    assert simulator.said_texts() == [DEFAULT_AGENT.greeting, SILENCE.reprompt, SILENCE.reprompt, SILENCE.goodbye]
    assert line.hang_ups() == 1
    # Said as the agent's words of the turn: the LLM sees them in the history.
    (greeting,) = memory_store.history(line.conversation_id, limit=10)
    assert greeting.text == " ".join(simulator.said_texts())


def test_a_caller_who_speaks_is_not_reprompted_and_the_reply_queues_its_own_check(
    line: Line, llm: ScriptedLlm, simulator: VoipbinSimulator
) -> None:
    llm.enqueue(Script.text("We open at eight."))
    line.clock.advance(10)
    line.says("When are you open?")
    (greeting_check, _), (reply_check, reply_after) = line.later.queued
    line.later.queued.clear()

    line.clock.advance(60)
    run_delayed(greeting_check, line.services)

    assert simulator.said_texts() == [DEFAULT_AGENT.greeting, "We open at eight."]
    assert line.later.queued == []  # the greeting's check was moot, not put off
    assert (reply_check.turn, reply_check.reprompts) == (1, 0)
    assert reply_after == pytest.approx(len("We open at eight.") / CHARS_PER_SECOND + 30, abs=0.01)


def test_a_caller_who_started_speaking_puts_the_reprompt_off_until_quiet_again(
    line: Line, simulator: VoipbinSimulator
) -> None:
    ((check, after_seconds),) = line.later.queued
    line.later.queued.clear()
    line.clock.advance(20)
    line.starts_speaking()  # and no transcript came (a cough, a word lost)
    line.clock.advance(math.ceil(after_seconds) - 20)  # the check's time: 35 s after the greeting began

    run_delayed(check, line.services)

    assert simulator.said_texts() == [DEFAULT_AGENT.greeting]
    ((put_off, wait),) = line.later.queued
    assert (put_off, wait) == (check, 30 - 15)  # until 30 s after the caller was heard
    run_delayed(line.due(), line.services)
    assert simulator.said_texts() == [DEFAULT_AGENT.greeting, SILENCE.reprompt]


def test_a_check_delivered_again_reprompts_once(line: Line, simulator: VoipbinSimulator) -> None:
    check = line.due()
    run_delayed(check, line.services)
    line.clock.advance(180)  # the queue's visibility timeout: the first delivery looked lost

    run_delayed(check, line.services)

    assert simulator.said_texts() == [DEFAULT_AGENT.greeting, SILENCE.reprompt]
    ((next_check, _),) = line.later.queued
    assert next_check.reprompts == 1


def test_nothing_is_said_after_the_hangup(line: Line, simulator: VoipbinSimulator) -> None:
    end_call(line.call, line.services)

    line.quiet()

    assert simulator.said_texts() == [DEFAULT_AGENT.greeting]
    assert line.later.queued == []


def test_no_reprompts_goes_straight_to_the_goodbye(
    fakes: Fakes, simulator: VoipbinSimulator, later: RecordingLater, wall_clock: FakeClock
) -> None:
    line = Line(simulator, fakes.services(agent_with(silence={"max_reprompts": 0})), later, wall_clock)

    line.quiet()
    line.quiet()

    assert simulator.said_texts() == [DEFAULT_AGENT.greeting, SILENCE.goodbye]
    assert line.hang_ups() == 1


def test_silence_handling_turned_off_queues_no_check(
    fakes: Fakes, simulator: VoipbinSimulator, later: RecordingLater, wall_clock: FakeClock, llm: ScriptedLlm
) -> None:
    line = Line(simulator, fakes.services(agent_with(silence={"enabled": False})), later, wall_clock)
    llm.enqueue(Script.text("We open at eight."))

    line.says("When are you open?")

    assert later.queued == []
