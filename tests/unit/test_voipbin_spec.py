"""VoIPBin's OpenAPI spec as the contract: every request the client can send, every answer the simulator gives.

The in-process fixture checks the logic tests' traffic too (tests/fakes/in_process.py); here each client method
is driven with each shape of body it sends, each error the backend meets is provoked, the API samples are
checked, and the checker is shown to catch what it is for.
"""

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.voipbin_simulator import Fault, VoipbinSimulator
from tests.helpers import API_SAMPLES, load_json
from tests.voipbin_spec import (
    GAPS,
    SPEC_FILE,
    SpecCheckedTransport,
    amended_spec,
    request_violations,
    response_violations,
    schema_violations,
)
from voipbin_ai.models.voipbin import Address
from voipbin_ai.voipbin.client import DEFAULT_MAX_ATTEMPTS, VoipbinClient, VoipbinError

OURS, THEIRS = Address.tel("+15559876543"), Address.tel("+15551234567")
FRONT_DESK = Address.email("frontdesk@example.com")
SAMPLE_ID = "9c5e2a1d-6f4b-4e0a-9d2e-3b7c8a1f0e55"


@dataclass
class Checked:
    """A client whose traffic with the in-process simulator is checked against the spec, and a live call on it."""

    client: VoipbinClient
    transport: SpecCheckedTransport
    simulator: VoipbinSimulator
    call_id: str
    speaking_id: str
    transcribe_id: str

    def spare_call(self) -> str:
        return str(self.simulator.add_call()["id"])

    def conversation_id(self, channel: str) -> str:
        return str(self.simulator.add_conversation(channel, "U4af4980629d3c1a7e8b2f5c6d9e0a1b2")["id"])


@pytest.fixture
def checked(voipbin: VoipbinClient, spec_check: SpecCheckedTransport, simulator: VoipbinSimulator) -> Checked:
    call_id = str(simulator.add_call()["id"])
    speaking = voipbin.create_speaking(call_id)
    transcribe = voipbin.create_transcribe(call_id, language="en-US")
    simulator.add_transcript(transcribe.id, "Where is my order?")
    return Checked(voipbin, spec_check, simulator, call_id, speaking.id, transcribe.id)


# Each public client method, with each shape of request it can send.
CLIENT_CALLS: dict[str, tuple[str, Callable[[Checked], object]]] = {
    "create_speaking": ("create_speaking", lambda c: c.client.create_speaking(c.spare_call())),
    "create_speaking with every option": (
        "create_speaking",
        lambda c: c.client.create_speaking(
            c.spare_call(), language="en-US", provider="elevenlabs", voice_id="21m00Tcm4TlvDq8ikWAM", direction="both"
        ),
    ),
    "say": ("say", lambda c: c.client.say(c.speaking_id, "Hello! How can I help?")),
    "say in pieces": ("say", lambda c: c.client.say(c.speaking_id, "한국어 문장입니다. " * 400)),
    "flush_speaking": ("flush_speaking", lambda c: c.client.flush_speaking(c.speaking_id)),
    "stop_speaking": ("stop_speaking", lambda c: c.client.stop_speaking(c.speaking_id)),
    "get_speaking": ("get_speaking", lambda c: c.client.get_speaking(c.speaking_id)),
    "delete_speaking": ("delete_speaking", lambda c: c.client.delete_speaking(c.speaking_id)),
    "list_speakings": ("list_speakings", lambda c: c.client.list_speakings()),
    "list_speakings paged": (
        "list_speakings",
        lambda c: c.client.list_speakings(page_size=1, page_token=c.client.list_speakings(page_size=1).next_page_token),
    ),
    "create_transcribe": ("create_transcribe", lambda c: c.client.create_transcribe(c.spare_call(), language="ko-KR")),
    "create_transcribe with a provider": (
        "create_transcribe",
        lambda c: c.client.create_transcribe(c.spare_call(), language="en-US", direction="in", provider="gcp"),
    ),
    "stop_transcribe": ("stop_transcribe", lambda c: c.client.stop_transcribe(c.transcribe_id)),
    "get_transcribe": ("get_transcribe", lambda c: c.client.get_transcribe(c.transcribe_id)),
    "list_transcripts": ("list_transcripts", lambda c: c.client.list_transcripts(c.transcribe_id, page_size=10)),
    "send_message": ("send_message", lambda c: c.client.send_message(OURS, [THEIRS], "Your order ships today.")),
    "send_email": (
        "send_email",
        lambda c: c.client.send_email([FRONT_DESK], "Call back Ms Lee", "She asks to move Tuesday's check-up."),
    ),
    "get_call": ("get_call", lambda c: c.client.get_call(c.call_id)),
    "hangup_call": ("hangup_call", lambda c: c.client.hangup_call(c.call_id)),
    "send_conversation_message": (
        "send_conversation_message",
        lambda c: c.client.send_conversation_message(c.conversation_id("line"), "We open at eight."),
    ),
}


def test_every_public_client_method_is_driven() -> None:
    public = {name for name, _ in inspect.getmembers(VoipbinClient, inspect.isfunction) if not name.startswith("_")}
    assert {method for method, _ in CLIENT_CALLS.values()} == public - {"close"}


@pytest.mark.parametrize("run", [pytest.param(run, id=name) for name, (_, run) in CLIENT_CALLS.items()])
def test_what_the_client_sends_and_the_simulator_answers_is_what_the_spec_declares(
    checked: Checked, run: Callable[[Checked], object]
) -> None:
    before = len(checked.simulator.requests())

    run(checked)

    assert len(checked.simulator.requests()) > before
    assert checked.transport.violations == []


def _revoked_token(c: Checked) -> None:
    c.simulator.token = "rotated"
    c.client.get_call(c.call_id)


def _rate_limited(c: Checked) -> None:
    c.simulator.inject("GET", "/calls/{id}", *[Fault.rate_limited(1)] * DEFAULT_MAX_ATTEMPTS)
    c.client.get_call(c.call_id)


def _say_to_a_lost_pod(c: Checked) -> None:
    c.simulator.lose_tts_pod(c.speaking_id)
    c.client.say(c.speaking_id, "Hi")


def _flush_on_a_lost_pod(c: Checked) -> None:
    c.simulator.lose_tts_pod(c.speaking_id)
    c.client.flush_speaking(c.speaking_id)


def _create_timed_out(c: Checked) -> None:
    c.simulator.inject("POST", "/speakings", Fault.request_timeout(after_running=True))
    c.client.create_speaking(c.spare_call())


def _say_to_a_stopped_speaking(c: Checked) -> None:
    c.client.stop_speaking(c.speaking_id)
    c.client.say(c.speaking_id, "Hi")


def _flush_a_stopped_speaking(c: Checked) -> None:
    c.client.stop_speaking(c.speaking_id)
    c.client.flush_speaking(c.speaking_id)


# Each error answer the backend can meet, provoked through the client.
ERRORS: dict[str, Callable[[Checked], object]] = {
    "404 unknown call": lambda c: c.client.get_call(SAMPLE_ID),
    "404 say to a stopped speaking": _say_to_a_stopped_speaking,
    "404 flush of a stopped speaking": _flush_a_stopped_speaking,
    "500 second live speaking": lambda c: c.client.create_speaking(c.call_id),
    "409 second transcribe": lambda c: c.client.create_transcribe(c.call_id, language="en-US"),
    "400 empty text message": lambda c: c.client.send_message(OURS, [THEIRS], ""),
    "400 e-mail to a phone number": lambda c: c.client.send_email([THEIRS], "Hello", "Hi"),
    "401 revoked token": _revoked_token,
    "429 rate limited": _rate_limited,
    "503 say to a lost pod": _say_to_a_lost_pod,
    "503 flush on a lost pod": _flush_on_a_lost_pod,
    "503 create timed out after creating": _create_timed_out,
}


@pytest.mark.parametrize("provoke", [pytest.param(run, id=name) for name, run in ERRORS.items()])
def test_each_error_answer_is_one_the_spec_declares(checked: Checked, provoke: Callable[[Checked], object]) -> None:
    with pytest.raises(VoipbinError):
        provoke(checked)

    assert checked.transport.violations == []


def _operation_of_sample(path: Path) -> tuple[str, str]:
    """(method, concrete path) of an API sample named like post_speakings_id_say.request.json."""
    stem = path.name.split(".")[0]
    for template, item in amended_spec()["paths"].items():
        for method in item:
            if stem == method + template.replace("/", "_").replace("{", "").replace("}", ""):
                return method.upper(), template.replace("{id}", SAMPLE_ID)
    raise AssertionError(f"no operation for {path.name}")


SAMPLES = sorted(path for path in API_SAMPLES.glob("*.json") if not path.name.startswith("error."))


@pytest.mark.parametrize("path", [pytest.param(path, id=path.name) for path in SAMPLES])
def test_each_api_sample_is_what_the_spec_declares(path: Path) -> None:
    method, concrete = _operation_of_sample(path)
    body = load_json(path)

    if ".request." in path.name:
        assert request_violations(method, concrete, {}, body) == []
    else:
        status = int(path.name.split(".")[2])
        assert response_violations(method, concrete, status, body) == []


@pytest.mark.parametrize("path", sorted(API_SAMPLES.glob("error.*.json")), ids=lambda path: path.name)
def test_each_error_sample_is_the_spec_error_body(path: Path) -> None:
    assert schema_violations("/components/schemas/ErrorResponse", load_json(path), writing=False) == []


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "expected"),
    [
        pytest.param(
            "POST", "/speakings", {}, {"reference_type": "call"}, "'reference_id' is a required", id="required"
        ),
        pytest.param(
            "POST",
            "/speakings",
            {},
            {"reference_type": "call", "reference_id": SAMPLE_ID, "languag": "en-US"},
            "$.languag: not in the spec",
            id="misspelt-field",
        ),
        pytest.param(
            "POST", f"/speakings/{SAMPLE_ID}/say", {}, {"text": ""}, "should be non-empty", id="say-empty-text"
        ),
        pytest.param("POST", f"/speakings/{SAMPLE_ID}/flush", {}, {"text": "x"}, "a body where", id="body-on-flush"),
        pytest.param("GET", "/transcripts", {}, None, "transcribe_id missing", id="required-query"),
        pytest.param("GET", "/speakings", {"limit": ["5"]}, None, "limit not in the spec", id="unknown-query"),
        pytest.param("GET", "/speakings", {"page_size": ["many"]}, None, "not an integer", id="integer-query"),
        pytest.param("POST", "/speakings/say", {}, None, "no such operation", id="unknown-path"),
    ],
)
def test_the_checker_refuses_a_request_the_spec_does_not_allow(
    method: str, path: str, query: dict[str, list[str]], body: Any, expected: str
) -> None:
    (violation,) = request_violations(method, path, query, body)

    assert expected in violation


def test_the_checker_refuses_an_answer_the_spec_does_not_allow() -> None:
    speaking = load_json(API_SAMPLES / "post_speakings.response.201.json")
    path = f"/speakings/{SAMPLE_ID}"

    assert "is not one of" in " ".join(response_violations("GET", path, 200, {**speaking, "status": "speaking"}))
    assert "not in the spec" in " ".join(response_violations("GET", path, 200, {**speaking, "pod_id": "tts-1"}))
    assert "is not a 'uuid'" in " ".join(response_violations("GET", path, 200, {**speaking, "id": "speaking-1"}))
    assert response_violations("GET", path, 418, speaking) == ["GET /speakings/{id} 418: status not in the spec"]


@pytest.mark.parametrize("gap", GAPS, ids=lambda gap: gap.name)
def test_each_gap_is_still_in_the_published_spec(gap: Any) -> None:
    gap.amend(json.loads(SPEC_FILE.read_text()))  # each amendment asserts the gap before closing it


def test_the_gaps_have_unique_names_and_reasons() -> None:
    assert len({gap.name for gap in GAPS}) == len(GAPS)
    assert all(gap.reason for gap in GAPS)
