"""The VoIPBin simulator's resources and REST routes: pure state, no I/O, no locking.

Behaviour follows CONTRACT.md §3.2, §10 and §11; bodies have the keys of the samples in
tests/data/voipbin/api/. local/voipbin_simulator.py serves it over HTTP and holds a lock around every
call. State changes that make VoIPBin send webhooks hand those events to the `emit` callback.
"""

import copy
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

CUSTOMER_ID = "5e4a0680-804e-11ec-8477-2fea5968d85b"
ZERO_UUID = "00000000-0000-0000-0000-000000000000"
MAX_SAY_BYTES = 5000
MAX_PAGE_SIZE = 100
LIVE_SPEAKING_STATUSES = ("initiating", "active")
ENDED_CALL_STATUSES = ("terminating", "canceling", "hangup")
CONVERSATION_CHANNELS = ("line", "whatsapp", "webchat")
# The sender of every e-mail (bin-email-manager's defaultSource).
EMAIL_SENDER = {"type": "email", "target": "service@voipbin.net", "target_name": "voipbin service"}
# A bare address as Go's net/mail.ParseAddress takes it (its display-name forms aside): dot-atoms around an @.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL_ADDRESS = re.compile(rf"{_ATOM}(\.{_ATOM})*@{_ATOM}(\.{_ATOM})*")
# The WhatsApp business number the simulated account answers on (WhatsApp writes numbers without the plus).
WHATSAPP_BUSINESS_NUMBER = "15559876543"

Resource = dict[str, Any]
Events = list[tuple[str, Resource]]
Query = Mapping[str, list[str]]


@dataclass
class Reply:
    """An HTTP answer: status, JSON body, extra headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """An error answer; the simulator wraps it in VoIPBin's envelope."""

    def __init__(
        self,
        http_status: int,
        reason: str | None = None,
        message: str = "The request failed.",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.reason = reason
        self.message = message
        self.headers = headers or {}


def not_found() -> ApiError:
    """404 RESOURCE_NOT_FOUND, what VoIPBin answers for unknown ids and sessions in the wrong state."""
    return ApiError(404, "RESOURCE_NOT_FOUND", "The requested resource was not found.")


def invalid(message: str) -> ApiError:
    """400 INVALID_ARGUMENT."""
    return ApiError(400, "INVALID_ARGUMENT", message)


def go_time(moment: datetime) -> str:
    """RFC 3339 UTC with trailing zero digits trimmed, as Go writes time.Time."""
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds").rstrip("0").rstrip(".") + "Z"


def _created(resource: Resource) -> datetime:
    return datetime.fromisoformat(resource["tm_create"])


def _object(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, "INVALID_JSON_BODY", "The request body must be a JSON object.")
    return body


def _uuid(value: Any, name: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError, AttributeError):
        raise invalid(f"The {name} field must be a UUID.") from None


def _choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise invalid(f"The {name} field must be one of {', '.join(allowed)}.")
    return str(value)


def _address(value: Any, name: str) -> Resource:
    if not isinstance(value, dict) or not value.get("target"):
        raise invalid(f"The {name} field must be an address with a target.")
    return dict(value)


def _email_destination(value: Any) -> Resource:
    """An e-mail destination, its target trimmed and lower-cased first (NormalizeTarget, then validation)."""
    if not isinstance(value, dict):
        raise ApiError(400, "INVALID_JSON_BODY", "The request body is not valid JSON.")
    address = {**value, "target": str(value.get("target", "")).strip().lower()}
    if address.get("type") != "email" or not _EMAIL_ADDRESS.fullmatch(address["target"]):
        raise invalid("The request contains invalid data.")
    return address


def _new_id() -> str:
    return str(uuid.uuid4())


class VoipbinState:
    """Calls, speakings, transcribes, transcripts, messages, e-mails and conversations of one customer."""

    def __init__(self, emit: Callable[[Events], None]) -> None:
        self._emit = emit
        self._store: dict[str, dict[str, Resource]] = {
            kind: {}
            for kind in (
                "calls",
                "speakings",
                "transcribes",
                "transcripts",
                "messages",
                "emails",
                "conversations",
                "conversation_messages",
            )
        }
        self._said: list[tuple[str, str]] = []
        self._lost_pods: set[str] = set()  # speakings whose TTS pod is gone
        self._last_moment = datetime.min.replace(tzinfo=UTC)
        handlers: list[tuple[str, str, Callable[..., Reply]]] = [
            ("POST", "/speakings", self._create_speaking),
            ("GET", "/speakings", self._list_speakings),
            ("GET", "/speakings/{id}", self._get_speaking),
            ("DELETE", "/speakings/{id}", self._delete_speaking),
            ("POST", "/speakings/{id}/say", self._say),
            ("POST", "/speakings/{id}/flush", self._flush),
            ("POST", "/speakings/{id}/stop", self._stop_speaking),
            ("POST", "/transcribes", self._create_transcribe),
            ("GET", "/transcribes/{id}", self._get_transcribe),
            ("POST", "/transcribes/{id}/stop", self._stop_transcribe),
            ("GET", "/transcripts", self._list_transcripts),
            ("POST", "/messages", self._send_message),
            ("POST", "/emails", self._send_email),
            ("GET", "/calls/{id}", self._get_call),
            ("POST", "/calls/{id}/hangup", self._hangup_call),
            ("POST", "/transfers", self._create_transfer),
            ("POST", "/conversations/{id}/messages", self._send_conversation_message),
        ]
        self._routes = [
            (method, re.compile(re.escape(path).replace(re.escape("{id}"), "([^/]+)")), handler)
            for method, path, handler in handlers
        ]

    # --- used by the simulator -------------------------------------------------------------------

    def route(self, method: str, path: str, query: Query, body: Any) -> Reply:
        """Answer one authenticated API request; path is relative to /v1.0."""
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return handler(query, body, *match.groups())
        raise not_found()

    def said_texts(self, speaking_id: str | None) -> list[str]:
        """Texts /say accepted, in order: of one speaking, or of all."""
        return [text for said_by, text in self._said if speaking_id in (None, said_by)]

    def resource(self, kind: str, resource_id: str) -> Resource:
        """A copy of one resource (kind: "calls", "speakings"...)."""
        return copy.deepcopy(self._get(kind, resource_id))

    def all_resources(self, kind: str) -> list[Resource]:
        """Copies of every resource of a kind."""
        return copy.deepcopy(list(self._store[kind].values()))

    def lose_tts_pod(self, speaking_id: str) -> None:
        """The TTS pod that holds a speaking is gone: what is sent to it times out, the row stays active (§11)."""
        if speaking_id not in self._store["speakings"]:
            raise ValueError(f"unknown speaking {speaking_id}")
        self._lost_pods.add(speaking_id)

    def add_call(self, source: str, destination: str, *, direction: str, status: str) -> Resource:
        """A call as VoIPBin would have it (the test or demo plays the phone network)."""
        now = self._now()
        call: Resource = {
            "id": _new_id(),
            "customer_id": CUSTOMER_ID,
            "owner_type": "",
            "owner_id": ZERO_UUID,
            "flow_id": _new_id(),
            "activeflow_id": _new_id(),
            "type": "flow",
            "master_call_id": ZERO_UUID,
            "recording_id": ZERO_UUID,
            "groupcall_id": ZERO_UUID,
            "source": {"type": "tel", "target": source},
            "destination": {"type": "tel", "target": destination},
            "status": status,
            "action": {"id": _new_id(), "next_id": ZERO_UUID, "type": "answer", "tm_execute": now},
            "direction": direction,
            **({"tm_progressing": now} if status == "progressing" else {}),
            "tm_create": now,
            "tm_update": now,
        }
        return self._created("calls", call, f"call_{status}")

    def speech_event(self, transcribe_id: str) -> Resource:
        """A transcribe_speech_started event's data: the caller started talking (not stored: events only)."""
        now = self._now()
        return {
            "id": _new_id(),  # random per event, as in VoIPBin
            "customer_id": CUSTOMER_ID,
            "streaming_id": _new_id(),
            "transcribe_id": transcribe_id,
            "direction": "in",
            "message": "",
            "tm_event": now,
            "tm_create": now,
        }

    def inbound_sms(self, source: str, destination: str, text: str) -> Resource:
        """A message_created event's data: a customer texted our number (not stored: POST /messages lists ours)."""
        return {
            "id": _new_id(),
            "customer_id": CUSTOMER_ID,
            "type": "sms",
            "source": {"type": "tel", "target": source},
            "targets": [{"destination": {"type": "tel", "target": destination}, "status": "received", "parts": 1}],
            "text": text,
            "direction": "inbound",
            "tm_create": self._now(),
        }

    def add_transcript(self, transcribe_id: str, message: str, *, direction: str) -> Resource:
        """A transcript of a transcribe, as its transcript_created webhook would carry it."""
        transcribe = self._store["transcribes"].get(transcribe_id)
        if transcribe is None:
            raise ValueError(f"unknown transcribe {transcribe_id}")
        now = self._now()
        # tm_transcript is the offset since the stream started, dated year 1 (CONTRACT §2.3).
        offset = datetime(1, 1, 1, tzinfo=UTC) + (datetime.fromisoformat(now) - _created(transcribe))
        transcript = {
            "id": _new_id(),
            "customer_id": CUSTOMER_ID,
            "transcribe_id": transcribe_id,
            "direction": direction,
            "message": message,
            "tm_transcript": go_time(offset),
            "tm_create": now,
        }
        return self._created("transcripts", transcript, "transcript_created")

    def add_conversation(self, channel: str, peer: str, *, peer_name: str, conversation_id: str | None) -> Resource:
        """A conversation of a LINE, WhatsApp or web chat widget account, as VoIPBin opens it on a first message.

        Its self and peer addresses are as bin-conversation-manager's hooks make them: LINE's self has no
        target, WhatsApp's is the business number (digits, no plus), the widget's peer is a web session.
        """
        if channel not in CONVERSATION_CHANNELS:
            raise ValueError(f"unknown conversation channel {channel!r}")
        ours = {"line": "", "whatsapp": WHATSAPP_BUSINESS_NUMBER, "webchat": _new_id()}[channel]  # the widget id
        now = self._now()
        conversation: Resource = {
            "id": conversation_id or _new_id(),
            "customer_id": CUSTOMER_ID,
            "owner_type": "",
            "owner_id": ZERO_UUID,
            "account_id": _new_id(),
            "name": peer_name,
            "detail": "",
            "type": channel,
            "dialog_id": "" if channel == "webchat" else peer,
            "self": {"type": channel, "target": ours, "target_name": "Me"},
            "peer": {
                "type": "web_session" if channel == "webchat" else channel,
                "target": peer,
                "target_name": peer_name,
            },
            "tm_create": now,
            "tm_update": now,
            "tm_delete": None,
        }
        return self._created("conversations", conversation, "conversation_created")

    def add_conversation_message(self, conversation_id: str, text: str) -> Resource:
        """A customer's message in a conversation, as its conversation_message_created (incoming) carries it."""
        conversation = self._get("conversations", conversation_id)
        message = self._conversation_message(conversation, "incoming", "done", text)
        return self._created("conversation_messages", message, "conversation_message_created")

    # --- helpers ---------------------------------------------------------------------------------

    def _now(self) -> str:
        """Now, strictly after every earlier timestamp so tm_create orders and pages exactly."""
        moment = max(datetime.now(UTC), self._last_moment + timedelta(microseconds=1))
        self._last_moment = moment
        return go_time(moment)

    def _get(self, kind: str, resource_id: str) -> Resource:
        try:
            return self._store[kind][resource_id]
        except KeyError:
            raise not_found() from None

    def _created(self, kind: str, resource: Resource, event_type: str | None = None) -> Resource:
        self._store[kind][resource["id"]] = resource
        if event_type:
            self._emit([(event_type, copy.deepcopy(resource))])
        return copy.deepcopy(resource)

    def _page(self, items: list[Resource], query: Query) -> Reply:
        """Newest first, page_token = tm_create of the last item (bin-api-manager GenerateListResponse)."""
        size = (query.get("page_size") or [str(MAX_PAGE_SIZE)])[0]
        if not size.isdigit() or not 1 <= int(size) <= MAX_PAGE_SIZE:
            raise invalid(f"The page_size must be between 1 and {MAX_PAGE_SIZE}.")
        ordered = sorted(items, key=_created, reverse=True)
        token = (query.get("page_token") or [""])[0]
        if token:
            try:
                cutoff = datetime.fromisoformat(token)
            except ValueError:
                raise invalid("The page_token is not a timestamp.") from None
            ordered = [item for item in ordered if _created(item) < cutoff]
        page = ordered[: int(size)]
        return Reply(200, {"result": copy.deepcopy(page), "next_page_token": page[-1]["tm_create"] if page else ""})

    def _on_its_pod(self, speaking_id: str) -> Resource:
        """A speaking, as the pod that holds it sees it: /say, /flush and /stop go there with a 3 s timeout."""
        speaking = self._get("speakings", speaking_id)
        if speaking_id in self._lost_pods:
            raise ApiError(503, "REQUEST_TIMEOUT", "The request timed out.")
        return speaking

    def _live_speaking(self, speaking_id: str) -> Resource:
        speaking = self._on_its_pod(speaking_id)
        if speaking["status"] != "active":
            raise not_found()
        return speaking

    def _listed_speakings(self) -> list[Resource]:
        """What lists and the one-live-speaking check see: deleted rows are filtered out."""
        return [speaking for speaking in self._store["speakings"].values() if "tm_delete" not in speaking]

    # --- speakings -------------------------------------------------------------------------------

    def _create_speaking(self, _: Query, body: Any) -> Reply:
        request = _object(body)
        reference_type = _choice(request.get("reference_type"), "reference_type", ("call", "confbridge"))
        reference_id = _uuid(request.get("reference_id"), "reference_id")
        direction = _choice(request.get("direction", ""), "direction", ("", "in", "out", "both"))
        provider = _choice(request.get("provider") or "elevenlabs", "provider", ("elevenlabs", "gcp", "aws"))
        if any(
            speaking["reference_id"] == reference_id and speaking["status"] in LIVE_SPEAKING_STATUSES
            for speaking in self._listed_speakings()
        ):
            # tts-manager refuses a second live session on a reference with a bare error: 500 (§3.2), until
            # the live one is stopped or deleted.
            raise ApiError(500, "INTERNAL", "An internal error occurred.")
        now = self._now()
        optional = {
            "language": request.get("language", ""),
            "provider": provider,
            "voice_id": request.get("voice_id", ""),
        }
        speaking = {
            "id": _new_id(),
            "customer_id": CUSTOMER_ID,
            "reference_type": reference_type,
            "reference_id": reference_id,
            **{key: value for key, value in optional.items() if value},  # omitempty
            **({"direction": direction} if direction else {}),
            "status": "active",
            "tm_create": now,
            "tm_update": now,
        }
        return Reply(201, self._created("speakings", speaking))

    def _list_speakings(self, query: Query, _: Any) -> Reply:
        return self._page(self._listed_speakings(), query)

    def _get_speaking(self, _: Query, __: Any, speaking_id: str) -> Reply:
        return Reply(200, self.resource("speakings", speaking_id))

    def _say(self, _: Query, body: Any, speaking_id: str) -> Reply:
        text = _object(body).get("text")
        if not isinstance(text, str) or not text:
            raise invalid("The text field must not be empty.")
        if len(text.encode()) > MAX_SAY_BYTES:
            raise invalid(f"The text field must be at most {MAX_SAY_BYTES} bytes.")
        before = copy.deepcopy(self._live_speaking(speaking_id))  # the answer is the session before the say
        self._said.append((speaking_id, text))
        return Reply(200, before)

    def _flush(self, _: Query, __: Any, speaking_id: str) -> Reply:
        return Reply(200, copy.deepcopy(self._live_speaking(speaking_id)))

    def _stop_speaking(self, _: Query, __: Any, speaking_id: str) -> Reply:
        speaking = self._on_its_pod(speaking_id)
        if speaking["status"] != "stopped":  # stopping a stopped speaking is a no-op 200
            speaking.update(status="stopped", tm_update=self._now())
        return Reply(200, copy.deepcopy(speaking))

    def _delete_speaking(self, _: Query, __: Any, speaking_id: str) -> Reply:
        """Stop it on its pod (a lost pod's failure is only logged), then soft-delete the row (tm_delete)."""
        speaking = self._get("speakings", speaking_id)
        now = self._now()
        if speaking["status"] in LIVE_SPEAKING_STATUSES and speaking_id not in self._lost_pods:
            speaking["status"] = "stopped"
        speaking.update(tm_update=now, tm_delete=now)
        return Reply(200, copy.deepcopy(speaking))

    # --- transcribes -----------------------------------------------------------------------------

    def _create_transcribe(self, _: Query, body: Any) -> Reply:
        request = _object(body)
        reference_type = _choice(request.get("reference_type"), "reference_type", ("call", "conference", "recording"))
        reference_id = _uuid(request.get("reference_id"), "reference_id")
        language = request.get("language")
        if not isinstance(language, str) or not language:
            raise invalid("The language field is required.")
        direction = request.get("direction") if request.get("direction") in ("both", "in", "out") else "both"
        provider = _choice(request.get("provider", ""), "provider", ("", "gcp", "aws"))
        on_end_flow_id = (
            _uuid(request["on_end_flow_id"], "on_end_flow_id") if request.get("on_end_flow_id") else ZERO_UUID
        )
        for existing in self._store["transcribes"].values():
            if (existing["reference_id"], existing["language"]) != (reference_id, language):
                continue
            if reference_type == "recording":
                return Reply(200, copy.deepcopy(existing))
            if existing["status"] == "progressing":
                raise ApiError(
                    409,
                    "TRANSCRIBE_ALREADY_PROGRESSING",
                    "A live transcribe is already progressing for this reference and language.",
                )
        transcribe = {
            "id": _new_id(),
            "customer_id": CUSTOMER_ID,
            "activeflow_id": ZERO_UUID,
            "on_end_flow_id": on_end_flow_id,
            "reference_type": reference_type,
            "reference_id": reference_id,
            "status": "progressing",
            "language": language,
            "direction": direction,
            "provider": provider,
            "tm_create": self._now(),
            "tm_update": None,
            "tm_delete": None,
        }
        return Reply(200, self._created("transcribes", transcribe, "transcribe_created"))

    def _get_transcribe(self, _: Query, __: Any, transcribe_id: str) -> Reply:
        return Reply(200, self.resource("transcribes", transcribe_id))

    def _stop_transcribe(self, _: Query, __: Any, transcribe_id: str) -> Reply:
        transcribe = self._get("transcribes", transcribe_id)
        self._emit(self._finish_transcribes([transcribe]))
        return Reply(200, copy.deepcopy(transcribe))

    def _finish_transcribes(self, transcribes: list[Resource]) -> Events:
        events: Events = []
        for transcribe in transcribes:
            if transcribe["status"] == "progressing":
                transcribe.update(status="done", tm_update=self._now())
                events.append(("transcribe_done", copy.deepcopy(transcribe)))
        return events

    def _list_transcripts(self, query: Query, _: Any) -> Reply:
        transcribe_id = (query.get("transcribe_id") or [""])[0]
        if not transcribe_id:
            raise invalid("The transcribe_id parameter is required.")
        self._get("transcribes", transcribe_id)
        transcripts = [item for item in self._store["transcripts"].values() if item["transcribe_id"] == transcribe_id]
        return self._page(transcripts, query)

    # --- messages and calls ----------------------------------------------------------------------

    def _send_message(self, _: Query, body: Any) -> Reply:
        request = _object(body)
        source = _address(request.get("source"), "source")
        destinations = request.get("destinations")
        if not isinstance(destinations, list) or not destinations:
            raise invalid("The destinations field must list at least one address.")
        text = request.get("text")
        if not isinstance(text, str) or not text:
            raise invalid("The text field must not be empty.")
        message = {
            "id": _new_id(),
            "customer_id": CUSTOMER_ID,
            "type": "sms",
            "source": source,
            "targets": [
                {
                    "destination": _address(item, "destinations"),
                    "status": "queued",
                    "parts": 0,
                    "tm_update": None,
                }
                for item in destinations
            ],
            "text": text,
            "direction": "outbound",
            "tm_create": self._now(),
            "tm_update": None,
            "tm_delete": None,
        }
        return Reply(200, self._created("messages", message, "message_created"))

    def _send_email(self, _: Query, body: Any) -> Reply:
        """bin-email-manager's Create: destinations lower-cased and trimmed, then each must be an e-mail address.

        Its errors reach the API as a bare 400 (INVALID_ARGUMENT). Nothing checks that there is a
        destination: an empty list is sent to no one. The e-mail is answered "initiated"; the provider's
        delivery (email_updated) and conversation-manager's copy of it as an outgoing conversation message
        are not simulated.
        """
        request = _object(body)
        destinations = request.get("destinations") or []
        subject, content = request.get("subject", ""), request.get("content", "")
        attachments = request.get("attachments") or []
        if not (isinstance(destinations, list) and isinstance(attachments, list)):
            raise ApiError(400, "INVALID_JSON_BODY", "The request body is not valid JSON.")
        if not (isinstance(subject, str) and isinstance(content, str)):
            raise ApiError(400, "INVALID_JSON_BODY", "The request body is not valid JSON.")
        normalized = [_email_destination(item) for item in destinations]
        email = {
            "id": _new_id(),
            "customer_id": CUSTOMER_ID,
            "source": dict(EMAIL_SENDER),
            "destinations": normalized,
            "status": "initiated",
            "subject": subject,
            "content": content,
            "attachments": attachments,
            "tm_create": self._now(),
            "tm_update": None,
            "tm_delete": None,
        }
        return Reply(200, self._created("emails", email, "email_created"))

    def _send_conversation_message(self, _: Query, body: Any, conversation_id: str) -> Reply:
        """bin-conversation-manager's Send: the outgoing message, and its webhooks (the echo of our own reply).

        LINE and WhatsApp messages are created progressing and updated done once the app took them; the
        answer is the message done. The widget's is created done (CONTRACT §11).
        """
        request = _object(body)
        text, medias = request.get("text"), request.get("medias")
        if not isinstance(text, str) or not isinstance(medias, list):
            raise invalid("The text and medias fields are required.")
        conversation = self._get("conversations", conversation_id)
        if conversation["type"] == "webchat":
            message = self._conversation_message(conversation, "outgoing", "done", text)
            return Reply(200, self._created("conversation_messages", message, "conversation_message_created"))
        message = self._conversation_message(conversation, "outgoing", "progressing", text)
        created = self._created("conversation_messages", message)
        message.update(status="done", tm_update=self._now())
        self._emit(
            [("conversation_message_created", created), ("conversation_message_updated", copy.deepcopy(message))]
        )
        return Reply(200, copy.deepcopy(message))

    def _conversation_message(self, conversation: Resource, direction: str, status: str, text: str) -> Resource:
        """A message of the conversation; source and destination follow its direction (DeriveEndpoints)."""
        ours, theirs = conversation["self"], conversation["peer"]
        source, destination = (theirs, ours) if direction == "incoming" else (ours, theirs)
        message_id = _new_id()
        return {
            "id": message_id,
            "customer_id": CUSTOMER_ID,
            "conversation_id": conversation["id"],
            "direction": direction,
            "status": status,
            "reference_type": conversation["type"],
            # Only the widget's messages reference a resource of their own (the widget's message).
            "reference_id": message_id if conversation["type"] == "webchat" else ZERO_UUID,
            "source": copy.deepcopy(source),
            "destination": copy.deepcopy(destination),
            "text": text,
            "tm_create": self._now(),
            "tm_update": None,
            "tm_delete": None,
        }

    def _get_call(self, _: Query, __: Any, call_id: str) -> Reply:
        return Reply(200, self.resource("calls", call_id))

    def _hangup_call(self, _: Query, __: Any, call_id: str) -> Reply:
        """Answer 'terminating' ('canceling' if unanswered), then end the call and its transcribes."""
        call = self._get("calls", call_id)
        if call["status"] in ENDED_CALL_STATUSES:
            return Reply(200, copy.deepcopy(call))
        unanswered = call["status"] in ("dialing", "ringing")
        ending = "canceling" if unanswered else "terminating"
        call.update(status=ending, tm_update=self._now())
        answer = copy.deepcopy(call)
        now = self._now()
        call.update(
            status="hangup",
            hangup_by="local",
            hangup_reason="cancel" if unanswered else "normal",
            tm_hangup=now,
            tm_update=now,
        )
        own_transcribes = [
            transcribe
            for transcribe in self._store["transcribes"].values()
            if transcribe["reference_type"] == "call" and transcribe["reference_id"] == call_id
        ]
        self._emit(
            [
                (f"call_{ending}", copy.deepcopy(answer)),
                ("call_hangup", copy.deepcopy(call)),
                *self._finish_transcribes(own_transcribes),
            ]
        )
        return Reply(200, answer)

    def _create_transfer(self, _: Query, body: Any) -> Reply:
        request = _object(body)
        _choice(request.get("transfer_type"), "transfer_type", ("blind", "attended"))
        call_id = _uuid(request.get("transferer_call_id"), "transferer_call_id")
        if not isinstance(request.get("transferee_addresses"), list) or not request["transferee_addresses"]:
            raise invalid("The transferee_addresses field must list at least one address.")
        self._get("calls", call_id)
        # transfer-manager transfers only a call in a conference bridge ("no confbridge id found", a bare 500):
        # a call driven by /speakings and /transcribes is in none, and this API cannot put it in one.
        raise ApiError(500, "INTERNAL", "An internal error occurred.")
