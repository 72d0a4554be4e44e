"""VoipbinClient against the loopback VoIPBin simulator: endpoints, errors, retries, deadline, auth, /say splitting.

A fake clock (it moves only when the client sleeps) keeps the retry tests instant and exact; one test
runs on the real clock to prove that the deadline bounds wall time.
"""

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr

from local.voipbin_simulator import Fault, VoipbinSimulator
from voipbin_ai.config import VoipbinCredential
from voipbin_ai.models.voipbin import Address
from voipbin_ai.voipbin.client import (
    DEFAULT_MAX_ATTEMPTS,
    SPEAKING_GONE,
    VoipbinClient,
    VoipbinConflict,
    VoipbinError,
    VoipbinNotFound,
    VoipbinRateLimited,
    VoipbinRequestError,
    VoipbinRequestTimeout,
    VoipbinServerError,
    VoipbinUnauthenticated,
    get_client,
)

pytestmark = pytest.mark.integration

LANGUAGE = "en-US"
OUR_NUMBER = Address(type="tel", target="+15559876543")
CALLER = Address(type="tel", target="+15551234567")
FRONT_DESK = Address(type="email", target="frontdesk@example.com")
BACKOFF_BASE = 0.1
JITTER = 0.5
FIRST_BACKOFF = BACKOFF_BASE * JITTER
MAX_SAY_BYTES = 5000  # /say's limit (CONTRACT §3.2)


class FakeTime:
    """A monotonic clock that moves only when the client sleeps; records the pauses taken."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass(frozen=True)
class Resources:
    """A live call with an active speaking and a progressing transcribe, and a spare call with neither."""

    call_id: str
    spare_call_id: str
    speaking_id: str
    transcribe_id: str


@dataclass(frozen=True)
class Operation:
    """One client method, and the method and path pattern its request is sent to (for fault injection)."""

    method: str
    path: str
    run: Callable[[VoipbinClient, Resources], object]


REPEATABLE = {
    "get_speaking": Operation("GET", "/speakings/{id}", lambda c, r: c.get_speaking(r.speaking_id)),
    "list_speakings": Operation("GET", "/speakings", lambda c, _: c.list_speakings()),
    "flush_speaking": Operation("POST", "/speakings/{id}/flush", lambda c, r: c.flush_speaking(r.speaking_id)),
    "stop_speaking": Operation("POST", "/speakings/{id}/stop", lambda c, r: c.stop_speaking(r.speaking_id)),
    "delete_speaking": Operation("DELETE", "/speakings/{id}", lambda c, r: c.delete_speaking(r.speaking_id)),
    "get_transcribe": Operation("GET", "/transcribes/{id}", lambda c, r: c.get_transcribe(r.transcribe_id)),
    "stop_transcribe": Operation("POST", "/transcribes/{id}/stop", lambda c, r: c.stop_transcribe(r.transcribe_id)),
    "list_transcripts": Operation("GET", "/transcripts", lambda c, r: c.list_transcripts(r.transcribe_id)),
    "get_call": Operation("GET", "/calls/{id}", lambda c, r: c.get_call(r.call_id)),
    "hangup_call": Operation("POST", "/calls/{id}/hangup", lambda c, r: c.hangup_call(r.call_id)),
}
NOT_REPEATABLE = {
    "create_speaking": Operation("POST", "/speakings", lambda c, r: c.create_speaking(r.spare_call_id)),
    "say": Operation("POST", "/speakings/{id}/say", lambda c, r: c.say(r.speaking_id, "Hello.")),
    "create_transcribe": Operation(
        "POST", "/transcribes", lambda c, r: c.create_transcribe(r.spare_call_id, language=LANGUAGE)
    ),
    "send_message": Operation("POST", "/messages", lambda c, _: c.send_message(OUR_NUMBER, [CALLER], "Hi!")),
    "send_email": Operation("POST", "/emails", lambda c, _: c.send_email([FRONT_DESK], "Call back", "Ms Lee called.")),
}
# A GET, a POST with a JSON body, and a GET with a query of its own.
AUTH_OPERATIONS = {
    "get_call": REPEATABLE["get_call"],
    "say": NOT_REPEATABLE["say"],
    "list_transcripts": REPEATABLE["list_transcripts"],
}

# Failures after which the request may have run: a non-repeatable request must not be sent again.
REQUEST_TIMEOUT = pytest.param(Fault.request_timeout(), id="503-request-timeout")
MAYBE_RAN = [
    pytest.param(Fault.error(500), id="500"),
    REQUEST_TIMEOUT,
    pytest.param(Fault.dropped(), id="dropped-connection"),
]
# Failures after which the request provably did not run: any request is sent again.
NOT_RUN = [
    pytest.param(Fault.error(503), id="503"),
    pytest.param(Fault.rate_limited(3), id="429-retry-after-3"),
]


# Sent to a speaking's TTS pod: a REQUEST_TIMEOUT there means the pod is gone, and asking again would only wait.
ON_POD = ("say", "flush_speaking", "stop_speaking")


def params(operations: dict[str, Operation]) -> list[Any]:
    return [pytest.param(operation, id=name) for name, operation in operations.items()]


def retried_after(faults: list[Any]) -> list[Any]:
    """(operation, fault) of each repeatable operation with each fault it is retried after."""
    return [
        pytest.param(operation, *fault.values, id=f"{fault.id}-{name}")
        for name, operation in REPEATABLE.items()
        for fault in faults
        if not (name in ON_POD and fault is REQUEST_TIMEOUT)
    ]


def token(value: str) -> VoipbinCredential:
    return VoipbinCredential(kind="token", value=SecretStr(value))


def expected_pause(fault: Fault) -> float:
    """Retry-After when VoIPBin gave one, else the first full-jitter backoff."""
    return float(fault.retry_after) if fault.retry_after is not None else FIRST_BACKOFF


def without_whitespace(text: str) -> str:
    return "".join(text.split())


def create_resources(client: VoipbinClient, simulator: VoipbinSimulator) -> Resources:
    call_id = simulator.add_call()["id"]
    speaking = client.create_speaking(call_id)
    transcribe = client.create_transcribe(call_id, language=LANGUAGE)
    return Resources(call_id, simulator.add_call()["id"], speaking.id, transcribe.id)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def client_on(
    simulator: VoipbinSimulator, fake_time: FakeTime, transport: httpx2.BaseTransport | None = None
) -> VoipbinClient:
    """A client of the simulator on the fake clock, with a fixed jitter so that pauses are exact."""
    return VoipbinClient(
        simulator.base_url,
        token(simulator.token),
        backoff_base_seconds=BACKOFF_BASE,
        transport=transport,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        jitter=lambda: JITTER,
    )


@pytest.fixture
def client(voipbin_simulator: VoipbinSimulator, fake_time: FakeTime) -> Iterator[VoipbinClient]:
    with client_on(voipbin_simulator, fake_time) as client:
        yield client


@pytest.fixture
def resources(client: VoipbinClient, voipbin_simulator: VoipbinSimulator) -> Resources:
    return create_resources(client, voipbin_simulator)


# --- every endpoint ------------------------------------------------------------------------------


def test_create_speaking_sends_only_the_options_given(
    client: VoipbinClient, voipbin_simulator: VoipbinSimulator, resources: Resources
) -> None:
    call_id = resources.spare_call_id
    before = len(voipbin_simulator.requests())
    speaking = client.create_speaking(call_id, language=LANGUAGE, voice_id="voice-1", direction="both")
    (request,) = voipbin_simulator.requests()[before:]
    assert (request.method, request.path) == ("POST", "/v1.0/speakings")
    assert request.body == {
        "reference_type": "call",
        "reference_id": call_id,
        "language": LANGUAGE,
        "voice_id": "voice-1",
        "direction": "both",
    }
    assert (speaking.reference_id, speaking.status, speaking.language, speaking.direction) == (
        call_id,
        "active",
        LANGUAGE,
        "both",
    )
    assert voipbin_simulator.speaking(speaking.id)["status"] == "active"


def test_say_flush_stop_get_and_delete_a_speaking(
    client: VoipbinClient, voipbin_simulator: VoipbinSimulator, resources: Resources
) -> None:
    speaking_id = resources.speaking_id
    before = len(voipbin_simulator.requests())
    assert client.say(speaking_id, "Hello! How can I help?") == ["Hello! How can I help?"]
    assert client.flush_speaking(speaking_id).status == "active"
    assert client.stop_speaking(speaking_id).status == "stopped"
    assert client.get_speaking(speaking_id).status == "stopped"
    assert client.delete_speaking(speaking_id).tm_delete is not None
    path = f"/v1.0/speakings/{speaking_id}"
    assert [(request.method, request.path, request.body) for request in voipbin_simulator.requests()[before:]] == [
        ("POST", f"{path}/say", {"text": "Hello! How can I help?"}),
        ("POST", f"{path}/flush", None),
        ("POST", f"{path}/stop", None),
        ("GET", path, None),
        ("DELETE", path, None),
    ]
    assert voipbin_simulator.said_texts(speaking_id) == ["Hello! How can I help?"]


def test_list_speakings_pages_newest_first(
    client: VoipbinClient, voipbin_simulator: VoipbinSimulator, resources: Resources
) -> None:
    newer = [client.create_speaking(voipbin_simulator.add_call()["id"]).id for _ in range(2)]
    first = client.list_speakings(page_size=2)
    second = client.list_speakings(page_size=2, page_token=first.next_page_token)
    assert [speaking.id for speaking in first.result] == newer[::-1]
    assert [speaking.id for speaking in second.result] == [resources.speaking_id]
    assert voipbin_simulator.requests("GET", "/speakings")[-1].query == {
        "page_size": ["2"],
        "page_token": [first.next_page_token],
    }


def test_create_get_list_and_stop_a_transcribe(
    client: VoipbinClient, voipbin_simulator: VoipbinSimulator, resources: Resources
) -> None:
    (create,) = voipbin_simulator.requests("POST", "/transcribes")
    assert create.body == {
        "reference_type": "call",
        "reference_id": resources.call_id,
        "language": LANGUAGE,
        "direction": "both",
    }
    transcribe_id = resources.transcribe_id
    assert client.get_transcribe(transcribe_id).status == "progressing"
    voipbin_simulator.add_transcript(transcribe_id, "Where is my order?")
    page = client.list_transcripts(transcribe_id)
    assert [(item.transcribe_id, item.direction, item.message) for item in page.result] == [
        (transcribe_id, "in", "Where is my order?")
    ]
    assert voipbin_simulator.requests("GET", "/transcripts")[-1].query == {"transcribe_id": [transcribe_id]}
    stopped = client.stop_transcribe(transcribe_id)
    assert (stopped.id, stopped.status) == (transcribe_id, "done")
    assert voipbin_simulator.requests()[-1].path == f"/v1.0/transcribes/{transcribe_id}/stop"


def test_send_message(client: VoipbinClient, voipbin_simulator: VoipbinSimulator) -> None:
    message = client.send_message(OUR_NUMBER, [CALLER], "Your order ships today. 🚚")
    (request,) = voipbin_simulator.requests("POST", "/messages")
    assert request.body == {
        "source": {"type": "tel", "target": OUR_NUMBER.target},
        "destinations": [{"type": "tel", "target": CALLER.target}],
        "text": "Your order ships today. 🚚",
    }
    assert (message.direction, message.text, message.source) == ("outbound", "Your order ships today. 🚚", OUR_NUMBER)
    assert [(target.destination, target.status) for target in message.targets] == [(CALLER, "queued")]
    assert [sent["id"] for sent in voipbin_simulator.sent_messages()] == [message.id]


def test_send_email(client: VoipbinClient, voipbin_simulator: VoipbinSimulator) -> None:
    email = client.send_email([FRONT_DESK], "Call back", "Ms Lee asks to move her check-up.")

    (request,) = voipbin_simulator.requests("POST", "/emails")
    assert request.body == {
        "destinations": [{"type": "email", "target": FRONT_DESK.target}],
        "subject": "Call back",
        "content": "Ms Lee asks to move her check-up.",
        "attachments": [],
    }
    assert (email.status, email.destinations, email.source.target) == ("initiated", [FRONT_DESK], "service@voipbin.net")
    assert [sent["id"] for sent in voipbin_simulator.sent_emails()] == [email.id]


def test_get_and_hang_up_a_call(client: VoipbinClient, voipbin_simulator: VoipbinSimulator) -> None:
    call_id = voipbin_simulator.add_call(CALLER.target, OUR_NUMBER.target)["id"]
    call = client.get_call(call_id)
    assert (call.status, call.source, call.destination) == ("progressing", CALLER, OUR_NUMBER)
    assert client.hangup_call(call_id).status == "terminating"
    assert voipbin_simulator.call(call_id)["status"] == "hangup"
    assert [(request.method, request.path) for request in voipbin_simulator.requests()] == [
        ("GET", f"/v1.0/calls/{call_id}"),
        ("POST", f"/v1.0/calls/{call_id}/hangup"),
    ]


# --- error mapping -------------------------------------------------------------------------------


def _get_unknown_call(client: VoipbinClient, _: VoipbinSimulator, __: Resources) -> None:
    client.get_call(str(uuid.uuid4()))


def _say_to_a_stopped_speaking(client: VoipbinClient, _: VoipbinSimulator, resources: Resources) -> None:
    client.stop_speaking(resources.speaking_id)
    client.say(resources.speaking_id, "Hello.")


def _start_a_second_transcribe(client: VoipbinClient, _: VoipbinSimulator, resources: Resources) -> None:
    client.create_transcribe(resources.call_id, language=LANGUAGE)


def _start_a_second_speaking(client: VoipbinClient, _: VoipbinSimulator, resources: Resources) -> None:
    client.create_speaking(resources.call_id)


def _use_a_revoked_token(client: VoipbinClient, simulator: VoipbinSimulator, resources: Resources) -> None:
    simulator.token = "rotated-token"
    client.get_call(resources.call_id)


def _send_an_empty_sms(client: VoipbinClient, _: VoipbinSimulator, __: Resources) -> None:
    client.send_message(OUR_NUMBER, [CALLER], "")


def _stay_rate_limited(client: VoipbinClient, simulator: VoipbinSimulator, resources: Resources) -> None:
    simulator.inject("GET", "/calls/{id}", *[Fault.rate_limited(1)] * DEFAULT_MAX_ATTEMPTS)
    client.get_call(resources.call_id)


def _stay_unavailable(client: VoipbinClient, simulator: VoipbinSimulator, resources: Resources) -> None:
    simulator.inject("GET", "/calls/{id}", *[Fault.error(503)] * DEFAULT_MAX_ATTEMPTS)
    client.get_call(resources.call_id)


@pytest.mark.parametrize(
    ("provoke", "error_class", "status_code", "status", "reason"),
    [
        pytest.param(_get_unknown_call, VoipbinNotFound, 404, "NOT_FOUND", "RESOURCE_NOT_FOUND", id="unknown-id"),
        pytest.param(
            _say_to_a_stopped_speaking, VoipbinNotFound, 404, "NOT_FOUND", "RESOURCE_NOT_FOUND", id="stopped-speaking"
        ),
        pytest.param(
            _start_a_second_transcribe,
            VoipbinConflict,
            409,
            "ALREADY_EXISTS",
            "TRANSCRIBE_ALREADY_PROGRESSING",
            id="conflict",
        ),
        pytest.param(
            _stay_rate_limited, VoipbinRateLimited, 429, "RESOURCE_EXHAUSTED", "RATE_LIMIT_EXCEEDED", id="rate-limited"
        ),
        pytest.param(
            _use_a_revoked_token,
            VoipbinUnauthenticated,
            401,
            "UNAUTHENTICATED",
            "INVALID_CREDENTIALS",
            id="unauthenticated",
        ),
        pytest.param(_start_a_second_speaking, VoipbinServerError, 500, "INTERNAL", "INTERNAL", id="server-error"),
        pytest.param(
            _stay_unavailable, VoipbinServerError, 503, "UNAVAILABLE", "SERVICE_UNAVAILABLE", id="unavailable"
        ),
        pytest.param(
            _send_an_empty_sms, VoipbinRequestError, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", id="bad-request"
        ),
    ],
)
def test_an_error_answer_raises_its_typed_error_with_the_request_id(
    client: VoipbinClient,
    voipbin_simulator: VoipbinSimulator,
    resources: Resources,
    provoke: Callable[[VoipbinClient, VoipbinSimulator, Resources], None],
    error_class: type[VoipbinError],
    status_code: int,
    status: str,
    reason: str,
) -> None:
    with pytest.raises(VoipbinError) as caught:
        provoke(client, voipbin_simulator, resources)
    error = caught.value
    assert type(error) is error_class
    assert (error.status_code, error.status, error.reason) == (status_code, status, reason)
    assert error.request_id.startswith("req_")
    assert error.request_id == voipbin_simulator.requests()[-1].request_id
    assert error.request_id in str(error)


def test_a_rate_limit_that_outlasts_the_attempts_says_when_to_come_back(
    client: VoipbinClient, voipbin_simulator: VoipbinSimulator, resources: Resources, fake_time: FakeTime
) -> None:
    with pytest.raises(VoipbinRateLimited) as caught:
        _stay_rate_limited(client, voipbin_simulator, resources)
    assert caught.value.retry_after == 1.0
    assert len(voipbin_simulator.requests("GET", "/calls")) == DEFAULT_MAX_ATTEMPTS
    assert fake_time.sleeps == [1.0] * (DEFAULT_MAX_ATTEMPTS - 1)


# --- retries -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("operation", "fault"), retried_after([*MAYBE_RAN, *NOT_RUN]))
def test_a_repeatable_request_is_retried_after_any_failure_but_a_lost_pod(
    client: VoipbinClient,
    voipbin_simulator: VoipbinSimulator,
    resources: Resources,
    fake_time: FakeTime,
    operation: Operation,
    fault: Fault,
) -> None:
    voipbin_simulator.inject(operation.method, operation.path, fault)
    before = len(voipbin_simulator.requests())
    operation.run(client, resources)
    first, second = voipbin_simulator.requests()[before:]
    assert (second.method, second.path, second.query, second.body) == (
        first.method,
        first.path,
        first.query,
        first.body,
    )
    assert fake_time.sleeps == [expected_pause(fault)]


@pytest.mark.parametrize("fault", NOT_RUN)
@pytest.mark.parametrize("operation", params(NOT_REPEATABLE))
def test_a_non_repeatable_request_is_retried_when_it_provably_did_not_run(
    client: VoipbinClient,
    voipbin_simulator: VoipbinSimulator,
    resources: Resources,
    fake_time: FakeTime,
    operation: Operation,
    fault: Fault,
) -> None:
    voipbin_simulator.inject(operation.method, operation.path, fault)
    before = len(voipbin_simulator.requests())
    operation.run(client, resources)
    first, second = voipbin_simulator.requests()[before:]
    assert (second.path, second.body) == (first.path, first.body)
    assert fake_time.sleeps == [expected_pause(fault)]


@pytest.mark.parametrize("fault", MAYBE_RAN)
@pytest.mark.parametrize("operation", params(NOT_REPEATABLE))
def test_a_non_repeatable_request_is_not_repeated_when_it_may_have_run(
    client: VoipbinClient,
    voipbin_simulator: VoipbinSimulator,
    resources: Resources,
    fake_time: FakeTime,
    operation: Operation,
    fault: Fault,
) -> None:
    voipbin_simulator.inject(operation.method, operation.path, fault)
    before = len(voipbin_simulator.requests())
    with pytest.raises(VoipbinServerError):
        operation.run(client, resources)
    assert len(voipbin_simulator.requests()[before:]) == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize("name", ON_POD)
def test_a_request_timeout_from_a_speakings_pod_is_raised_at_once(
    client: VoipbinClient, voipbin_simulator: VoipbinSimulator, resources: Resources, fake_time: FakeTime, name: str
) -> None:
    operation = {**REPEATABLE, **NOT_REPEATABLE}[name]
    voipbin_simulator.lose_tts_pod(resources.speaking_id)
    before = len(voipbin_simulator.requests())
    with pytest.raises(VoipbinRequestTimeout) as caught:
        operation.run(client, resources)
    assert isinstance(caught.value, SPEAKING_GONE)
    assert len(voipbin_simulator.requests()[before:]) == 1
    assert fake_time.sleeps == []


class _RefuseNextConnection(httpx2.BaseTransport):
    """Passes requests to a real transport, except the next one once armed: a connect error, nothing sent."""

    def __init__(self) -> None:
        self._inner = httpx2.HTTPTransport()
        self.armed = False

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.armed:
            self.armed = False
            raise httpx2.ConnectError("connection refused", request=request)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


@pytest.mark.parametrize("operation", params(NOT_REPEATABLE))
def test_a_non_repeatable_request_is_retried_after_a_connect_error(
    voipbin_simulator: VoipbinSimulator, fake_time: FakeTime, operation: Operation
) -> None:
    transport = _RefuseNextConnection()
    with client_on(voipbin_simulator, fake_time, transport) as client:
        resources = create_resources(client, voipbin_simulator)
        before = len(voipbin_simulator.requests())
        transport.armed = True
        operation.run(client, resources)
    assert len(voipbin_simulator.requests()[before:]) == 1
    assert fake_time.sleeps == [FIRST_BACKOFF]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_a_4xx_is_never_retried(
    client: VoipbinClient, voipbin_simulator: VoipbinSimulator, fake_time: FakeTime, status: int
) -> None:
    call_id = voipbin_simulator.add_call()["id"]
    voipbin_simulator.inject("GET", "/calls/{id}", Fault.error(status))
    with pytest.raises(VoipbinRequestError) as caught:
        client.get_call(call_id)
    assert caught.value.status_code == status
    assert len(voipbin_simulator.requests()) == 1
    assert fake_time.sleeps == []


def test_backoff_doubles_until_the_attempts_run_out(
    client: VoipbinClient, voipbin_simulator: VoipbinSimulator, fake_time: FakeTime
) -> None:
    call_id = voipbin_simulator.add_call()["id"]
    voipbin_simulator.inject("GET", "/calls/{id}", *[Fault.error(500)] * (DEFAULT_MAX_ATTEMPTS + 1))
    with pytest.raises(VoipbinServerError) as caught:
        client.get_call(call_id)
    assert caught.value.status_code == 500
    assert len(voipbin_simulator.requests()) == DEFAULT_MAX_ATTEMPTS
    assert fake_time.sleeps == [FIRST_BACKOFF * 2**attempt for attempt in range(DEFAULT_MAX_ATTEMPTS - 1)]


# --- deadline ------------------------------------------------------------------------------------


def test_nothing_is_sent_once_the_deadline_has_passed(
    client: VoipbinClient, voipbin_simulator: VoipbinSimulator, fake_time: FakeTime
) -> None:
    call_id = voipbin_simulator.add_call()["id"]
    with pytest.raises(VoipbinServerError) as caught:
        client.get_call(call_id, deadline=fake_time.now)
    assert caught.value.status_code is None
    assert voipbin_simulator.requests() == []


def test_a_pause_that_would_outlast_the_deadline_is_not_taken(
    client: VoipbinClient, voipbin_simulator: VoipbinSimulator, fake_time: FakeTime
) -> None:
    """Room for the first pause (0.05 s) but not the second (0.1 s): two attempts, the last error raised."""
    call_id = voipbin_simulator.add_call()["id"]
    voipbin_simulator.inject("GET", "/calls/{id}", *[Fault.error(503)] * DEFAULT_MAX_ATTEMPTS)
    with pytest.raises(VoipbinServerError) as caught:
        client.get_call(call_id, deadline=fake_time.now + 0.12)
    assert caught.value.status_code == 503
    assert len(voipbin_simulator.requests()) == 2
    assert fake_time.sleeps == [FIRST_BACKOFF]


@pytest.mark.parametrize("budget", [4.0, 5.0, 5.005])
def test_a_retry_after_that_leaves_no_time_raises_the_rate_limit_at_once(
    client: VoipbinClient, voipbin_simulator: VoipbinSimulator, fake_time: FakeTime, budget: float
) -> None:
    call_id = voipbin_simulator.add_call()["id"]
    voipbin_simulator.inject("GET", "/calls/{id}", Fault.rate_limited(5))
    with pytest.raises(VoipbinRateLimited) as caught:
        client.get_call(call_id, deadline=fake_time.now + budget)
    assert caught.value.retry_after == 5.0
    assert len(voipbin_simulator.requests()) == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param([Fault(status=503, delay=0.3)] * 20, id="slow-503s"),
        pytest.param([Fault.delayed(30.0)], id="no-answer"),
    ],
)
def test_the_deadline_bounds_the_wall_time(voipbin_simulator: VoipbinSimulator, faults: list[Fault]) -> None:
    """Real clock and sleep: retries and a hanging answer both end by the deadline (generous margin)."""
    call_id = voipbin_simulator.add_call()["id"]
    voipbin_simulator.inject("GET", "/calls/{id}", *faults)
    with VoipbinClient(voipbin_simulator.base_url, token(voipbin_simulator.token)) as client:
        started = time.monotonic()
        with pytest.raises(VoipbinServerError):
            client.get_call(call_id, deadline=started + 1.0)
        elapsed = time.monotonic() - started
    assert elapsed < 2.5


# --- auth ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", params(AUTH_OPERATIONS))
def test_a_token_is_sent_as_a_bearer_header(
    client: VoipbinClient, voipbin_simulator: VoipbinSimulator, resources: Resources, operation: Operation
) -> None:
    before = len(voipbin_simulator.requests())
    operation.run(client, resources)
    (request,) = voipbin_simulator.requests()[before:]
    assert request.header("Authorization") == f"Bearer {voipbin_simulator.token}"
    assert not {"token", "accesskey"} & request.query.keys()


@pytest.mark.parametrize("access_key", ["test-access-key", "k+y/with=&?#% é"])
@pytest.mark.parametrize("operation", params(AUTH_OPERATIONS))
def test_an_access_key_is_sent_as_a_query_parameter_never_a_header(
    voipbin_simulator: VoipbinSimulator, resources: Resources, operation: Operation, access_key: str
) -> None:
    voipbin_simulator.access_key = access_key
    credential = VoipbinCredential(kind="accesskey", value=SecretStr(access_key))
    before = len(voipbin_simulator.requests())
    with VoipbinClient(voipbin_simulator.base_url, credential) as client:
        operation.run(client, resources)
    (request,) = voipbin_simulator.requests()[before:]
    assert request.query["accesskey"] == [access_key]
    assert request.header("Authorization") is None
    assert not [name for name, value in request.headers.items() if access_key in value]


def test_the_credential_is_read_for_every_request(voipbin_simulator: VoipbinSimulator) -> None:
    call_id = voipbin_simulator.add_call()["id"]
    current = [voipbin_simulator.token]
    with VoipbinClient(voipbin_simulator.base_url, lambda: token(current[-1])) as client:
        client.get_call(call_id)
        voipbin_simulator.token = "rotated-token"
        current.append("rotated-token")
        client.get_call(call_id)
    assert [request.header("Authorization") for request in voipbin_simulator.requests()] == [
        "Bearer test-token",
        "Bearer rotated-token",
    ]


@pytest.mark.parametrize(
    ("environment", "sent"),
    [
        pytest.param({"VOIPBIN_API_TOKEN": "test-token"}, ("Bearer test-token", None), id="token"),
        pytest.param({"VOIPBIN_ACCESS_KEY": "test-access-key"}, (None, ["test-access-key"]), id="access-key"),
    ],
)
def test_get_client_takes_its_url_and_credential_from_the_environment(
    voipbin_env: VoipbinSimulator,
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    sent: tuple[str | None, list[str] | None],
) -> None:
    monkeypatch.delenv("VOIPBIN_API_TOKEN")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    call_id = voipbin_env.add_call()["id"]
    assert get_client().get_call(call_id).id == call_id
    (request,) = voipbin_env.requests()
    assert (request.header("Authorization"), request.query.get("accesskey")) == sent


# --- /say splitting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("This is sentence number seven of a rather long answer. " * 250, id="ascii-sentences"),
        pytest.param("안녕하세요, 무엇을 도와드릴까요? 주문 번호를 알려 주세요. " * 150, id="korean-sentences"),
        pytest.param("ご注文ありがとうございます。" * 300, id="japanese-no-spaces"),
        pytest.param("😀" * 2000, id="one-long-emoji-word"),
        pytest.param(("word " * 900 + "Straße 😀 ") * 3, id="mixed-without-sentence-ends"),
    ],
)
def test_long_text_is_said_in_pieces_that_fit(
    client: VoipbinClient, voipbin_simulator: VoipbinSimulator, resources: Resources, text: str
) -> None:
    assert len(text.encode()) > MAX_SAY_BYTES
    pieces = client.say(resources.speaking_id, text)
    assert len(pieces) > 1
    assert all(0 < len(piece.encode()) <= MAX_SAY_BYTES for piece in pieces)
    assert without_whitespace("".join(pieces)) == without_whitespace(text)
    said = voipbin_simulator.requests("POST", f"/speakings/{resources.speaking_id}/say")
    assert [request.body for request in said] == [{"text": piece} for piece in pieces]
    assert voipbin_simulator.said_texts(resources.speaking_id) == pieces


def test_blank_text_sends_nothing(
    client: VoipbinClient, voipbin_simulator: VoipbinSimulator, resources: Resources
) -> None:
    before = len(voipbin_simulator.requests())
    assert client.say(resources.speaking_id, " \n\t ") == []
    assert voipbin_simulator.requests()[before:] == []
