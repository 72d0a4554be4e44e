"""Two numbers, two agents, end to end: each call gets its own greeting, language and voice; texts too.

Asserts on what the VoIPBin simulator received (POST /transcribes, POST /speakings, /say, /messages) and
on what the fake LLM was sent.
"""

from pathlib import Path
from typing import Any

import pytest

from local.backing import agents_file
from tests.e2e.conftest import CALLER, OURS, Stack
from tests.e2e.test_call import GREETING, hung_up
from tests.e2e.test_sms_and_chat import inbound_sms, sent

pytestmark = pytest.mark.e2e

SPANISH_LINE = "+34910000000"
SOFIA_PERSONA = "Eres Sofía, la asistente de la Clínica Dental Ejemplo. Responde siempre en español."
SOFIA_GREETING = "Hola, soy Sofía de la Clínica Dental Ejemplo. ¿En qué puedo ayudarle?"
# No silence checks, and summaries of calls only: the wait for an idle stack would wait out the silence
# checks and a text thread's idle check (conftest.agent_file); and a slow LLM is noticed soon.
_QUICK = {"channels.voice.deadline_seconds": 1.0, "silence.enabled": False, "summary.channels": ["voice"]}


@pytest.fixture
def agent_file(tmp_path: Path) -> Path:
    """An English line (the default agent) and a Spanish line with its own persona, greeting and language."""
    sofia = {
        **_QUICK,
        "name": "Sofia",
        "persona": SOFIA_PERSONA,
        "greeting": SOFIA_GREETING,
        "language": "es-ES",
        "speaking.provider": "elevenlabs",
    }
    return agents_file(
        tmp_path, {"ava": _QUICK, "sofia": sofia}, numbers={OURS: "ava", SPANISH_LINE: "sofia"}, default="ava"
    )


def call_to(e2e: Stack, number: str) -> tuple[dict[str, Any], str, str]:
    """A call to one of our numbers, answered: (the call, its transcribe id, its speaking id)."""
    call = e2e.voipbin.add_call(CALLER, number)
    assert e2e.webhook("call_progressing", call) == 200
    (transcribe,) = [t for t in e2e.voipbin.resources("transcribes") if t["reference_id"] == call["id"]]
    (speaking,) = [s for s in e2e.voipbin.resources("speakings") if s["reference_id"] == call["id"]]
    return call, transcribe["id"], speaking["id"]


def started_with(e2e: Stack, path: str, call: dict[str, Any]) -> dict[str, Any]:
    """The body of the POST that started the call's transcribe or speaking."""
    (request,) = [r for r in e2e.voipbin.requests("POST") if r.path == path and r.body["reference_id"] == call["id"]]
    body: dict[str, Any] = request.body
    return body


def test_a_call_to_each_number_gets_its_own_agents_greeting_language_and_voice(e2e: Stack) -> None:
    english, _, english_speaking = call_to(e2e, OURS)
    spanish, spanish_transcribe, spanish_speaking = call_to(e2e, SPANISH_LINE)

    assert started_with(e2e, "/v1.0/transcribes", english)["language"] == "en-US"
    assert started_with(e2e, "/v1.0/transcribes", spanish)["language"] == "es-ES"
    english_voice = started_with(e2e, "/v1.0/speakings", english)
    spanish_voice = started_with(e2e, "/v1.0/speakings", spanish)
    assert (english_voice["language"], english_voice.get("provider"), english_voice["voice_id"]) == (
        "en-US",
        None,  # VoIPBin's own default, ElevenLabs
        "EXAVITQu4vr4xnSDxMaL",
    )
    assert (spanish_voice["language"], spanish_voice["provider"], spanish_voice["voice_id"]) == (
        "es-ES",
        "elevenlabs",
        "UOIqAnmS11Reiei1Ytkc",
    )
    assert e2e.voipbin.said_texts(english_speaking) == [GREETING]
    assert e2e.voipbin.said_texts(spanish_speaking) == [SOFIA_GREETING]

    # The Spanish call's next turn is still its agent's: the LLM is prompted as Sofia.
    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(spanish_transcribe, "¿A qué hora abren?"))
    e2e.webhook("call_hangup", hung_up(spanish))
    e2e.webhook("call_hangup", hung_up(english))

    (reply,) = e2e.replies()
    assert str(reply.messages[0]["content"]).startswith(SOFIA_PERSONA)
    assert e2e.voipbin.said_texts(spanish_speaking)[1:] == [
        "You asked: ¿A qué hora abren.",
        "We are open from eight to six.",
    ]


def test_a_text_to_the_spanish_line_is_answered_by_its_agent_from_that_number(e2e: Stack) -> None:
    sms = inbound_sms("¿Tienen citas el viernes?")
    sms["targets"][0]["destination"]["target"] = SPANISH_LINE

    e2e.webhook("message_created", sms)

    (reply,) = e2e.replies()
    assert str(reply.messages[0]["content"]).startswith(SOFIA_PERSONA)
    (answer,) = sent(e2e)
    assert answer["source"]["target"] == SPANISH_LINE
    assert answer["destinations"][0]["target"] == CALLER
