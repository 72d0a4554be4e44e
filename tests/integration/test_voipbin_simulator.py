"""The VoIPBin simulator follows the contract (CONTRACT.md §1.3, §3) that the client and handler tests rely on.

Spoken to with plain httpx, not VoipbinClient, so that a client bug cannot hide a simulator bug.
"""

import hashlib
import hmac
import json
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import pytest

from local.voipbin_simulator import Fault, VoipbinSimulator
from tests.helpers import WEBHOOK_SAMPLES, load_json

pytestmark = pytest.mark.integration

MAX_SAY_BYTES = 5000


@pytest.fixture
def api(voipbin_simulator: VoipbinSimulator) -> Iterator[httpx2.Client]:
    """The simulator's REST API with a valid Bearer token."""
    headers = {"Authorization": f"Bearer {voipbin_simulator.token}"}
    with httpx2.Client(base_url=voipbin_simulator.base_url + "/", headers=headers) as client:
        yield client


@pytest.fixture
def call_id(voipbin_simulator: VoipbinSimulator) -> str:
    return str(voipbin_simulator.add_call()["id"])


def start_speaking(api: httpx2.Client, call_id: str) -> httpx2.Response:
    return api.post("speakings", json={"reference_type": "call", "reference_id": call_id})


def start_transcribe(api: httpx2.Client, call_id: str, language: str = "en-US") -> httpx2.Response:
    return api.post("transcribes", json={"reference_type": "call", "reference_id": call_id, "language": language})


def speaking_action(api: httpx2.Client, action: str, speaking_id: str) -> httpx2.Response:
    """POST /speakings/{id}/<action>; say gets a valid text."""
    body = {"text": "Hello."} if action == "say" else None
    return api.post(f"speakings/{speaking_id}/{action}", json=body)


def error_of(response: httpx2.Response) -> tuple[int, str, str]:
    """(HTTP status, envelope status, envelope reason)."""
    error = response.json()["error"]
    return response.status_code, error["status"], error["reason"]


# --- speakings -----------------------------------------------------------------------------------


def test_a_new_speaking_is_created_active(api: httpx2.Client, call_id: str) -> None:
    response = start_speaking(api, call_id)
    assert response.status_code == 201
    speaking = response.json()
    assert (speaking["reference_type"], speaking["reference_id"], speaking["status"]) == ("call", call_id, "active")


def test_a_second_live_speaking_on_a_call_is_a_bare_500_until_the_first_stops(
    api: httpx2.Client, call_id: str, voipbin_simulator: VoipbinSimulator
) -> None:
    first = start_speaking(api, call_id).json()
    assert error_of(start_speaking(api, call_id)) == (500, "INTERNAL", "INTERNAL")
    assert speaking_action(api, "stop", first["id"]).status_code == 200
    assert start_speaking(api, call_id).status_code == 201
    assert start_speaking(api, voipbin_simulator.add_call()["id"]).status_code == 201


@pytest.mark.parametrize("action", ["say", "flush", "stop"])
def test_an_unknown_speaking_is_404(api: httpx2.Client, action: str) -> None:
    assert error_of(speaking_action(api, action, str(uuid.uuid4()))) == (404, "NOT_FOUND", "RESOURCE_NOT_FOUND")


@pytest.mark.parametrize("action", ["say", "flush"])
def test_a_stopped_speaking_is_404_to_say_and_flush(
    api: httpx2.Client, call_id: str, voipbin_simulator: VoipbinSimulator, action: str
) -> None:
    speaking_id = start_speaking(api, call_id).json()["id"]
    speaking_action(api, "stop", speaking_id)
    assert error_of(speaking_action(api, action, speaking_id)) == (404, "NOT_FOUND", "RESOURCE_NOT_FOUND")
    assert voipbin_simulator.said_texts(speaking_id) == []


def test_stopping_a_stopped_speaking_is_an_idempotent_200(api: httpx2.Client, call_id: str) -> None:
    speaking_id = start_speaking(api, call_id).json()["id"]
    first = speaking_action(api, "stop", speaking_id)
    again = speaking_action(api, "stop", speaking_id)
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["status"] == "stopped"
    assert again.json() == first.json()


def test_flush_keeps_the_speaking_active(api: httpx2.Client, call_id: str) -> None:
    speaking_id = start_speaking(api, call_id).json()["id"]
    flushed = speaking_action(api, "flush", speaking_id)
    assert (flushed.status_code, flushed.json()["status"]) == (200, "active")
    assert speaking_action(api, "say", speaking_id).status_code == 200


def test_deleting_a_speaking_stops_it_and_takes_it_out_of_the_list(api: httpx2.Client, call_id: str) -> None:
    speaking_id = start_speaking(api, call_id).json()["id"]

    deleted = api.delete(f"speakings/{speaking_id}")

    assert (deleted.status_code, deleted.json()["status"]) == (200, "stopped")
    assert deleted.json()["tm_delete"]
    assert speaking_id not in [speaking["id"] for speaking in api.get("speakings").json()["result"]]
    assert error_of(api.delete(f"speakings/{uuid.uuid4()}")) == (404, "NOT_FOUND", "RESOURCE_NOT_FOUND")


def test_a_lost_tts_pod_times_out_its_speaking_which_blocks_a_new_one_until_deleted(
    api: httpx2.Client, call_id: str, voipbin_simulator: VoipbinSimulator
) -> None:
    speaking_id = start_speaking(api, call_id).json()["id"]

    voipbin_simulator.lose_tts_pod(speaking_id)

    for action in ("say", "flush", "stop"):
        assert error_of(speaking_action(api, action, speaking_id)) == (503, "UNAVAILABLE", "REQUEST_TIMEOUT")
    assert api.get(f"speakings/{speaking_id}").json()["status"] == "active"
    assert error_of(start_speaking(api, call_id)) == (500, "INTERNAL", "INTERNAL")
    deleted = api.delete(f"speakings/{speaking_id}")  # its stop fails on the lost pod; the row is deleted
    assert (deleted.status_code, deleted.json()["status"]) == (200, "active")
    assert [speaking["id"] for speaking in api.get("speakings").json()["result"]] == []
    assert start_speaking(api, call_id).status_code == 201
    assert voipbin_simulator.said_texts(speaking_id) == []


def test_a_create_that_times_out_after_running_has_created_the_speaking(
    api: httpx2.Client, call_id: str, voipbin_simulator: VoipbinSimulator
) -> None:
    voipbin_simulator.inject("POST", "/speakings", Fault.request_timeout(after_running=True))

    assert error_of(start_speaking(api, call_id)) == (503, "UNAVAILABLE", "REQUEST_TIMEOUT")

    (listed,) = api.get("speakings").json()["result"]
    assert (listed["reference_id"], listed["status"]) == (call_id, "active")
    assert error_of(start_speaking(api, call_id)) == (500, "INTERNAL", "INTERNAL")


def test_a_create_that_times_out_before_running_has_created_nothing(
    api: httpx2.Client, call_id: str, voipbin_simulator: VoipbinSimulator
) -> None:
    voipbin_simulator.inject("POST", "/speakings", Fault.request_timeout())

    assert error_of(start_speaking(api, call_id)) == (503, "UNAVAILABLE", "REQUEST_TIMEOUT")

    assert api.get("speakings").json()["result"] == []
    assert start_speaking(api, call_id).status_code == 201


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a" * MAX_SAY_BYTES, id="5000-ascii"),
        pytest.param("한" * 1666 + "ab", id="5000-bytes-korean"),
        pytest.param("😀" * (MAX_SAY_BYTES // 4), id="5000-bytes-emoji"),
    ],
)
def test_say_accepts_up_to_5000_bytes(
    api: httpx2.Client, call_id: str, voipbin_simulator: VoipbinSimulator, text: str
) -> None:
    speaking_id = start_speaking(api, call_id).json()["id"]
    assert api.post(f"speakings/{speaking_id}/say", json={"text": text}).status_code == 200
    assert voipbin_simulator.said_texts(speaking_id) == [text]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"text": ""}, id="empty"),
        pytest.param({}, id="missing"),
        pytest.param({"text": "a" * (MAX_SAY_BYTES + 1)}, id="5001-ascii"),
        pytest.param({"text": "한" * 1667}, id="1667-korean-characters-are-5001-bytes"),
        pytest.param({"text": "😀" * 1251}, id="1251-emoji-are-5004-bytes"),
    ],
)
def test_say_refuses_empty_or_over_5000_byte_text(
    api: httpx2.Client, call_id: str, voipbin_simulator: VoipbinSimulator, body: dict[str, Any]
) -> None:
    speaking_id = start_speaking(api, call_id).json()["id"]
    response = api.post(f"speakings/{speaking_id}/say", json=body)
    assert error_of(response) == (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT")
    assert voipbin_simulator.said_texts(speaking_id) == []


# --- transcribes ---------------------------------------------------------------------------------


def test_a_duplicate_live_transcribe_is_409_until_the_first_stops(api: httpx2.Client, call_id: str) -> None:
    first = start_transcribe(api, call_id)
    assert (first.status_code, first.json()["status"]) == (200, "progressing")
    assert error_of(start_transcribe(api, call_id)) == (409, "ALREADY_EXISTS", "TRANSCRIBE_ALREADY_PROGRESSING")
    assert start_transcribe(api, call_id, language="ko-KR").status_code == 200
    stopped = api.post(f"transcribes/{first.json()['id']}/stop")
    assert (stopped.status_code, stopped.json()["status"]) == (200, "done")
    assert start_transcribe(api, call_id).status_code == 200


# --- authentication, rate limiting, request ids --------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "params", "expected"),
    [
        pytest.param({}, {}, (401, "UNAUTHENTICATED", "AUTHENTICATION_REQUIRED"), id="no-credentials"),
        pytest.param(
            {"Authorization": "Bearer wrong"}, {}, (401, "UNAUTHENTICATED", "INVALID_CREDENTIALS"), id="wrong-token"
        ),
        pytest.param(
            {}, {"accesskey": "wrong"}, (401, "UNAUTHENTICATED", "INVALID_CREDENTIALS"), id="wrong-access-key"
        ),
        pytest.param(
            {"Authorization": "Bearer test-access-key"},
            {},
            (401, "UNAUTHENTICATED", "INVALID_CREDENTIALS"),
            id="access-key-as-bearer",
        ),
        pytest.param(
            {"accesskey": "test-access-key"},
            {},
            (401, "UNAUTHENTICATED", "AUTHENTICATION_REQUIRED"),
            id="access-key-header",
        ),
    ],
)
def test_a_request_without_valid_credentials_is_401(
    voipbin_simulator: VoipbinSimulator,
    call_id: str,
    headers: dict[str, str],
    params: dict[str, str],
    expected: tuple[int, str, str],
) -> None:
    response = httpx2.get(f"{voipbin_simulator.base_url}/calls/{call_id}", headers=headers, params=params)
    assert error_of(response) == expected


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        pytest.param({"Authorization": "Bearer test-token"}, {}, id="bearer-token"),
        pytest.param({}, {"token": "test-token"}, id="token-query"),
        pytest.param({}, {"accesskey": "test-access-key"}, id="access-key-query"),
    ],
)
def test_a_request_with_valid_credentials_is_answered(
    voipbin_simulator: VoipbinSimulator, call_id: str, headers: dict[str, str], params: dict[str, str]
) -> None:
    response = httpx2.get(f"{voipbin_simulator.base_url}/calls/{call_id}", headers=headers, params=params)
    assert (response.status_code, response.json()["id"]) == (200, call_id)


def test_an_injected_rate_limit_is_429_with_retry_after_once(
    api: httpx2.Client, call_id: str, voipbin_simulator: VoipbinSimulator
) -> None:
    voipbin_simulator.inject("GET", "/calls/{id}", Fault.rate_limited(7))
    limited = api.get(f"calls/{call_id}")
    assert error_of(limited) == (429, "RESOURCE_EXHAUSTED", "RATE_LIMIT_EXCEEDED")
    assert limited.headers["Retry-After"] == "7"
    assert limited.json()["error"]["details"] == [{"limited_by": "customer"}]
    assert api.get(f"calls/{call_id}").status_code == 200


def test_every_answer_carries_the_request_id_it_was_recorded_with(
    api: httpx2.Client, voipbin_simulator: VoipbinSimulator
) -> None:
    response = api.get(f"calls/{uuid.uuid4()}")
    request_id = response.headers["X-Request-Id"]
    assert request_id.startswith("req_") and len(request_id) == len("req_") + 26
    assert response.json()["error"]["request_id"] == request_id
    assert voipbin_simulator.requests()[-1].request_id == request_id


def test_a_valid_client_request_id_is_echoed_and_an_invalid_one_replaced(api: httpx2.Client, call_id: str) -> None:
    echoed = api.get(f"calls/{call_id}", headers={"X-Request-Id": "my-trace_01"})
    replaced = api.get(f"calls/{call_id}", headers={"X-Request-Id": "not valid!"})
    assert echoed.headers["X-Request-Id"] == "my-trace_01"
    assert replaced.headers["X-Request-Id"].startswith("req_")


# --- webhooks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One webhook request as the customer's endpoint received it."""

    headers: list[tuple[str, str]]  # names in the case sent on the wire
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    @property
    def event_type(self) -> str:
        return str(json.loads(self.body)["type"])


class WebhookReceiver(ThreadingHTTPServer):
    """A customer webhook endpoint on loopback: answers queued statuses (then 200); None closes unanswered."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.answers: deque[int | None] = deque()
        self.deliveries: list[Delivery] = []
        self._delivered = threading.Condition()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/voipbin/webhook"

    def record(self, delivery: Delivery) -> int | None:
        with self._delivered:
            self.deliveries.append(delivery)
            self._delivered.notify_all()
            return self.answers.popleft() if self.answers else 200

    def wait_for(self, count: int) -> list[Delivery]:
        """The first count deliveries, waiting up to 5 s for them (webhooks from API calls are asynchronous)."""
        with self._delivered:
            assert self._delivered.wait_for(lambda: len(self.deliveries) >= count, timeout=5.0)
            return self.deliveries[:count]


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: WebhookReceiver
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = self.server.record(Delivery(list(self.headers.items()), body))
        if status is None:
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def hmac_signature(secret: str, body: bytes) -> str:
    """The contract's verification recipe (§1.3), written out rather than reusing the signing code."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_webhook_is_go_json_signed_over_its_raw_body(
    voipbin_simulator: VoipbinSimulator, receiver: WebhookReceiver
) -> None:
    data = {"id": "0b5b0d52-9f0a-4d0e-a4f1-0d3c3a4f6f11", "message": "안녕하세요 <b>&</b>"}
    assert voipbin_simulator.send_webhook(receiver.url, "transcript_created", data) == 200
    (delivery,) = receiver.deliveries
    assert (
        delivery.body
        == (
            '{"type":"transcript_created","data":{"id":"0b5b0d52-9f0a-4d0e-a4f1-0d3c3a4f6f11",'
            '"message":"안녕하세요 \\u003cb\\u003e\\u0026\\u003c/b\\u003e"}}'
        ).encode()
    )
    # Go's Header.Set canonicalises the constant X-VoIPBIN-Signature to this spelling on the wire.
    assert [value for name, value in delivery.headers if name == "X-Voipbin-Signature"] == [
        hmac_signature(voipbin_simulator.webhook_secret, delivery.body)
    ]
    assert delivery.header("Content-Type") == "application/json"


def test_a_webhook_reproduces_the_contract_test_vector(
    voipbin_simulator: VoipbinSimulator, receiver: WebhookReceiver
) -> None:
    vector = load_json(WEBHOOK_SAMPLES / "signature_test_vector.json")
    envelope = json.loads(vector["body_utf8"])
    voipbin_simulator.webhook_secret = vector["secret"]
    voipbin_simulator.send_webhook(receiver.url, envelope["type"], envelope["data"])
    (delivery,) = receiver.deliveries
    assert delivery.body == vector["body_utf8"].encode()
    assert delivery.header(vector["header_name_on_the_wire"]) == vector["expected_header_value"]


@pytest.mark.parametrize(
    ("answers", "attempts", "final_status"),
    [
        pytest.param([200], 1, 200, id="delivered"),
        pytest.param([500, 503, 200], 3, 200, id="5xx-then-delivered"),
        pytest.param([500, 500, 500, 200], 3, 500, id="3-attempts-at-most"),
        pytest.param([None, 200], 2, 200, id="dropped-connection-retried"),
        pytest.param([None, None, None], 3, None, id="never-answered"),
        pytest.param([404, 200], 1, 404, id="4xx-counts-as-delivered"),
    ],
)
def test_a_webhook_is_retried_on_5xx_and_transport_errors_up_to_3_attempts(
    voipbin_simulator: VoipbinSimulator,
    receiver: WebhookReceiver,
    answers: Iterable[int | None],
    attempts: int,
    final_status: int | None,
) -> None:
    receiver.answers.extend(answers)
    status = voipbin_simulator.send_webhook(receiver.url, "call_hangup", {"id": "0b5b0d52-9f0a-4d0e-a4f1-0d3c3a4f6f11"})
    assert status == final_status
    assert len(receiver.deliveries) == attempts
    # Every attempt is the same signed bytes.
    assert len({(delivery.body, delivery.header("X-VoIPBIN-Signature")) for delivery in receiver.deliveries}) == 1


def test_a_hangup_sends_its_call_events_to_the_webhook_url(
    api: httpx2.Client, voipbin_simulator: VoipbinSimulator, receiver: WebhookReceiver
) -> None:
    voipbin_simulator.webhook_url = receiver.url
    call_id = voipbin_simulator.add_call()["id"]
    receiver.wait_for(1)
    api.post(f"calls/{call_id}/hangup")
    deliveries = receiver.wait_for(3)
    assert [delivery.event_type for delivery in deliveries] == ["call_progressing", "call_terminating", "call_hangup"]
    assert {json.loads(delivery.body)["data"]["id"] for delivery in deliveries} == {call_id}
    for delivery in deliveries:
        assert delivery.header("X-VoIPBIN-Signature") == hmac_signature(voipbin_simulator.webhook_secret, delivery.body)


def test_a_transfer_of_a_call_in_no_conference_bridge_fails_as_voipbin_s_does(api: httpx2.Client, call_id: str) -> None:
    body = {
        "transfer_type": "blind",
        "transferer_call_id": call_id,
        "transferee_addresses": [{"type": "tel", "target": "+15550001111"}],
    }

    response = api.post("transfers", json=body)

    # transfer-manager: "no confbridge id found", a bare 500; a call driven by speakings is in no bridge.
    assert response.status_code == 500


# --- conversations -------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["line", "whatsapp"])
def test_a_conversation_message_is_sent_and_comes_back_as_created_then_updated(
    api: httpx2.Client, voipbin_simulator: VoipbinSimulator, receiver: WebhookReceiver, channel: str
) -> None:
    voipbin_simulator.webhook_url = receiver.url
    conversation = voipbin_simulator.add_conversation(channel, "U4af4980629d3c1a7e8b2f5c6d9e0a1b2")
    incoming = voipbin_simulator.add_conversation_message(conversation["id"], "Hi")
    receiver.wait_for(2)

    response = api.post(f"conversations/{conversation['id']}/messages", json={"text": "Hello!", "medias": []})

    assert response.status_code == 200
    sent = response.json()
    assert (sent["direction"], sent["status"], sent["reference_type"]) == ("outgoing", "done", channel)
    assert (sent["source"], sent["destination"]) == (incoming["destination"], incoming["source"])
    deliveries = receiver.wait_for(4)
    # Each state change sends its events in order; the conversation's and the customer's message may cross.
    assert sorted(delivery.event_type for delivery in deliveries[:2]) == [
        "conversation_created",
        "conversation_message_created",  # the customer's, incoming
    ]
    assert [delivery.event_type for delivery in deliveries[2:]] == [
        "conversation_message_created",  # ours, outgoing, progressing: the echo
        "conversation_message_updated",  # ours, done
    ]
    echo = json.loads(deliveries[2].body)["data"]
    assert (echo["id"], echo["direction"], echo["status"], echo["text"]) == (
        sent["id"],
        "outgoing",
        "progressing",
        "Hello!",
    )


def test_a_conversation_message_needs_text_and_medias_and_a_known_conversation(
    api: httpx2.Client, voipbin_simulator: VoipbinSimulator
) -> None:
    conversation = voipbin_simulator.add_conversation("webchat", str(uuid.uuid4()))

    assert api.post(f"conversations/{conversation['id']}/messages", json={"text": "Hi"}).status_code == 400
    assert api.post(f"conversations/{uuid.uuid4()}/messages", json={"text": "Hi", "medias": []}).status_code == 404
    answered = api.post(f"conversations/{conversation['id']}/messages", json={"text": "Hi", "medias": []})
    assert (answered.status_code, answered.json()["reference_id"]) == (200, answered.json()["id"])


# --- e-mails -------------------------------------------------------------------------------------


def test_an_email_is_sent_from_voipbin_s_sender_and_announced_as_created(
    api: httpx2.Client, voipbin_simulator: VoipbinSimulator, receiver: WebhookReceiver
) -> None:
    voipbin_simulator.webhook_url = receiver.url
    body = {
        "destinations": [{"type": "email", "target": " FrontDesk@Example.com "}],
        "subject": "Call back",
        "content": "Ms Lee asks to move her check-up.",
        "attachments": [],
    }

    response = api.post("emails", json=body)

    assert response.status_code == 200
    sent = response.json()
    assert (sent["status"], sent["subject"], sent["content"]) == ("initiated", body["subject"], body["content"])
    assert sent["source"] == {"type": "email", "target": "service@voipbin.net", "target_name": "voipbin service"}
    # bin-common-handler's NormalizeTarget: an e-mail target is trimmed and lower-cased.
    assert sent["destinations"] == [{"type": "email", "target": "frontdesk@example.com"}]
    (delivery,) = receiver.wait_for(1)
    assert (delivery.event_type, json.loads(delivery.body)["data"]["id"]) == ("email_created", sent["id"])
    assert voipbin_simulator.sent_emails() == [sent]


@pytest.mark.parametrize(
    "destination",
    [
        pytest.param({"type": "tel", "target": "+15551234567"}, id="a-phone-number"),
        pytest.param({"type": "email", "target": "front desk@example.com"}, id="not-an-address"),
        pytest.param({"type": "email", "target": "frontdesk@"}, id="no-domain"),
        pytest.param({"type": "email", "target": "Front Desk <frontdesk@example.com>"}, id="a-display-name"),
    ],
)
def test_an_email_to_anything_but_an_email_address_is_a_bare_400(
    api: httpx2.Client, voipbin_simulator: VoipbinSimulator, destination: dict[str, str]
) -> None:
    body = {"destinations": [destination], "subject": "Hi", "content": "Hi", "attachments": []}

    response = api.post("emails", json=body)

    # email-manager's errors are a bare 400 on the queue, which api-manager answers as INVALID_ARGUMENT.
    assert error_of(response) == (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT")
    assert voipbin_simulator.sent_emails() == []


def test_an_email_body_of_the_wrong_types_is_invalid_json(api: httpx2.Client) -> None:
    response = api.post("emails", json={"destinations": [], "subject": 5, "content": "Hi", "attachments": []})

    assert error_of(response) == (400, "INVALID_ARGUMENT", "INVALID_JSON_BODY")
