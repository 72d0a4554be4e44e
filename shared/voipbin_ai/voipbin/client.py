"""Typed client of VoIPBin's REST API (CONTRACT.md §3, §10, §11): speakings, transcribes, messages, calls, e-mails.

One `httpx2.Client` (one connection pool) per container: `get_client()` builds it from config on first
use and every invocation reuses it. Auth is a Bearer token or an `?accesskey=` query parameter (VoIPBin
takes access keys in no header). The credential is read per request, so a rotated secret is picked up.

Retry policy. Every call has a deadline (absolute `time.monotonic()`; default now + total budget). Each
attempt's timeouts are capped at the time left, a pause that would leave no time for another attempt
is not taken, and the last error is raised instead. Pauses are full-jitter exponential backoff, or the
server's Retry-After on 429. Other 4xx are never retried.

* Safe to repeat (GETs; stop, flush, delete, hangup: repeating them changes nothing): retried on any
  transport error (connect, timeout, dropped connection) and on any 5xx or 429.
* Not safe to repeat (create speaking, say, create transcribe, send a message or an e-mail): a second
  /say after a lost answer would speak a sentence twice, a second send a second SMS. Retried only when
  the request provably did not run: connect errors and pool timeouts (nothing was sent), 429 (the rate
  limiter answers before any handler), 503 except REQUEST_TIMEOUT (the backend was unreachable; a
  REQUEST_TIMEOUT means it may still be running the request). A read timeout, a dropped connection or a
  500 is raised at once.
* Sent to a speaking's TTS pod (say, flush, stop): VoIPBin forwards them to the one pod that holds the
  speaking and waits 3 s for it. A REQUEST_TIMEOUT there means that pod is gone; asking again would only
  wait again, so it is raised at once as VoipbinRequestTimeout (logic/voice.py replaces the speaking).

Errors come from VoIPBin's `{"error": {...}}` envelope as the typed exceptions below; transport
failures and an exhausted deadline raise VoipbinServerError with status_code None. Logs carry method,
path (ids only; never the query, which may hold the access key), status, attempt and request_id.
"""

import logging
import random
import time
from collections.abc import Callable, Sequence
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, Final, Self
from urllib.parse import quote

import httpx2
from pydantic import BaseModel, ValidationError

from voipbin_ai.config import VoipbinCredential, voipbin_credential, voipbin_settings
from voipbin_ai.container import holds_connections
from voipbin_ai.models.voipbin import (
    REFERENCE_TYPE_CALL,
    Address,
    ApiErrorBody,
    Call,
    ConversationMessage,
    Email,
    Message,
    Page,
    Speaking,
    Transcribe,
    Transcript,
)
from voipbin_ai.observability import logger
from voipbin_ai.sentences import split_for_say

DEFAULT_TIMEOUT_SECONDS: Final = 5.0
DEFAULT_TOTAL_BUDGET_SECONDS: Final = 10.0
DEFAULT_MAX_ATTEMPTS: Final = 4
_MIN_ATTEMPT_SECONDS: Final = 0.01
_UNSENT_ERRORS: Final = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)
_REQUEST_TIMEOUT: Final = "REQUEST_TIMEOUT"

# httpx2 logs every URL at INFO; with an access key that URL holds the credential.
logging.getLogger("httpx2").setLevel(logging.WARNING)


class VoipbinError(Exception):
    """A failed VoIPBin call: HTTP status_code (None without a response) and the envelope's fields."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        status: str = "",
        reason: str = "",
        request_id: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.status = status
        self.reason = reason
        self.request_id = request_id

    def __str__(self) -> str:
        code = self.status_code if self.status_code is not None else "no response"
        kind = "/".join(part for part in (self.status, self.reason) if part)
        return f"VoIPBin {code} {kind}: {self.message} (request_id={self.request_id or '-'})"


class VoipbinRequestError(VoipbinError):
    """A 4xx without a more specific class: the request is wrong and repeating it will not help."""


class VoipbinUnauthenticated(VoipbinRequestError):
    """401: no credential or a wrong one (AUTHENTICATION_REQUIRED / INVALID_CREDENTIALS)."""


class VoipbinNotFound(VoipbinRequestError):
    """404: unknown id, or a speaking that is no longer active."""


class VoipbinConflict(VoipbinRequestError):
    """409: e.g. a live transcribe already progressing for that call and language."""


class VoipbinRateLimited(VoipbinRequestError):
    """429, still rate limited when retries or time ran out; retry_after in seconds if VoIPBin said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.retry_after = retry_after


class VoipbinServerError(VoipbinError):
    """5xx, or no usable answer at all (connection failed, timed out, deadline passed)."""


class VoipbinRequestTimeout(VoipbinServerError):
    """503 REQUEST_TIMEOUT: an internal RPC timed out and may have run; from a speaking's pod: the pod is gone."""


# What /say, /flush and /stop raise when the speaking can take no more: it is not active any more (404), or
# the TTS pod that holds it is gone (503 REQUEST_TIMEOUT, while VoIPBin still lists it active).
SPEAKING_GONE: Final = (VoipbinNotFound, VoipbinRequestTimeout)


def timeouts(seconds: float) -> httpx2.Timeout:
    """Explicit per-phase timeouts for a read budget of `seconds`; connecting and pooling fail faster."""
    return httpx2.Timeout(connect=min(2.0, seconds), read=seconds, write=seconds, pool=min(1.0, seconds))


def _capped(timeout: httpx2.Timeout, remaining: float) -> httpx2.Timeout:
    """Every phase of one attempt ends by the deadline."""

    def cap(value: float | None) -> float:
        return remaining if value is None else min(value, remaining)

    return httpx2.Timeout(
        connect=cap(timeout.connect), read=cap(timeout.read), write=cap(timeout.write), pool=cap(timeout.pool)
    )


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (VoIPBin sends seconds; an HTTP date is accepted too)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def error_from_response(response: httpx2.Response) -> VoipbinError:
    """The typed exception for an error response; bodies that are not VoIPBin's envelope are kept short."""
    try:
        envelope = ApiErrorBody.model_validate_json(response.content).error
        message, status, reason = envelope.message, envelope.status, envelope.reason
        request_id = envelope.request_id
    except ValidationError:
        message = response.text[:200] or response.reason_phrase
        status = reason = ""
        request_id = ""
    fields: dict[str, Any] = {
        "status_code": response.status_code,
        "status": status,
        "reason": reason,
        "request_id": request_id or response.headers.get("X-Request-Id", ""),
    }
    code = response.status_code
    if code == 503 and reason == _REQUEST_TIMEOUT:
        return VoipbinRequestTimeout(message, **fields)
    if code == 429:
        return VoipbinRateLimited(
            message, retry_after=_retry_after_seconds(response.headers.get("Retry-After")), **fields
        )
    error_class: type[VoipbinError] = {
        401: VoipbinUnauthenticated,
        404: VoipbinNotFound,
        409: VoipbinConflict,
    }.get(code, VoipbinServerError if code >= 500 else VoipbinRequestError if code >= 400 else VoipbinError)
    return error_class(message, **fields)


def _segment(resource_id: str) -> str:
    """An id as one path segment, whatever it contains (ids often come from webhook payloads)."""
    return quote(resource_id, safe="")


def _address_json(address: Address) -> dict[str, Any]:
    return address.model_dump(exclude_defaults=True)


class VoipbinClient:
    """VoIPBin REST client over one pooled httpx2.Client; see the module docstring for the retry policy.

    `deadline` everywhere is an absolute value of `clock()` (time.monotonic by default). clock, sleep and
    jitter are injectable so tests run without waiting.
    """

    def __init__(
        self,
        base_url: str,
        credential: VoipbinCredential | Callable[[], VoipbinCredential],
        *,
        timeout: httpx2.Timeout | None = None,
        total_budget_seconds: float = DEFAULT_TOTAL_BUDGET_SECONDS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base_seconds: float = 0.1,
        backoff_cap_seconds: float = 2.0,
        transport: httpx2.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._credential = credential
        self._timeout = timeout or timeouts(DEFAULT_TIMEOUT_SECONDS)
        self._total_budget_seconds = total_budget_seconds
        self._max_attempts = max_attempts
        self._backoff_base_seconds = backoff_base_seconds
        self._backoff_cap_seconds = backoff_cap_seconds
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._http = httpx2.Client(
            base_url=base_url.rstrip("/") + "/",
            timeout=self._timeout,
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- speakings (TTS into a call) -------------------------------------------------------------

    def create_speaking(
        self,
        reference_id: str,
        *,
        reference_type: str = REFERENCE_TYPE_CALL,
        language: str = "",
        provider: str = "",
        voice_id: str = "",
        direction: str = "",
        deadline: float | None = None,
    ) -> Speaking:
        """Start a TTS session on a call; it is active (ready for /say) when this returns.

        A second live session on the same call fails with VoipbinServerError (VoIPBin answers 500); a
        VoipbinRequestTimeout may have created it all the same (CONTRACT §11): list_speakings tells.
        """
        options = {"language": language, "provider": provider, "voice_id": voice_id, "direction": direction}
        body = {
            "reference_type": reference_type,
            "reference_id": reference_id,
            **{key: value for key, value in options.items() if value},
        }
        return self._call(Speaking, "POST", "speakings", json=body, repeatable=False, deadline=deadline)

    def say(self, speaking_id: str, text: str, *, deadline: float | None = None) -> list[str]:
        """Speak text: one /say per split_for_say piece, in order; returns the pieces sent.

        Blank text sends nothing and returns []. If a piece fails, the pieces before it were spoken; a gone
        speaking raises one of SPEAKING_GONE.
        """
        deadline = self._deadline(deadline)
        pieces = split_for_say(text)
        for piece in pieces:
            self._request(
                "POST",
                f"speakings/{_segment(speaking_id)}/say",
                json={"text": piece},
                repeatable=False,
                on_pod=True,
                deadline=deadline,
            )
        return pieces

    def flush_speaking(self, speaking_id: str, *, deadline: float | None = None) -> Speaking:
        """Drop queued text and cut the current playback (barge-in); the session stays active."""
        path = f"speakings/{_segment(speaking_id)}/flush"
        return self._call(Speaking, "POST", path, on_pod=True, deadline=deadline)

    def stop_speaking(self, speaking_id: str, *, deadline: float | None = None) -> Speaking:
        """End the session (idempotent); VoIPBin does not do it on hangup, so call it on call_hangup."""
        path = f"speakings/{_segment(speaking_id)}/stop"
        return self._call(Speaking, "POST", path, on_pod=True, deadline=deadline)

    def delete_speaking(self, speaking_id: str, *, deadline: float | None = None) -> Speaking:
        """Stop the session if its pod answers, and delete it either way: it is no longer the call's live one."""
        return self._call(Speaking, "DELETE", f"speakings/{_segment(speaking_id)}", deadline=deadline)

    def get_speaking(self, speaking_id: str, *, deadline: float | None = None) -> Speaking:
        """One speaking."""
        return self._call(Speaking, "GET", f"speakings/{_segment(speaking_id)}", deadline=deadline)

    def list_speakings(
        self, *, page_size: int | None = None, page_token: str | None = None, deadline: float | None = None
    ) -> Page[Speaking]:
        """One page of speakings, newest first; pass next_page_token back as page_token."""
        params = _page_params(page_size, page_token)
        return self._call(Page[Speaking], "GET", "speakings", params=params, deadline=deadline)

    # --- transcribes (STT of a call) -------------------------------------------------------------

    def create_transcribe(
        self,
        reference_id: str,
        *,
        language: str,
        reference_type: str = REFERENCE_TYPE_CALL,
        direction: str = "both",
        provider: str = "",
        deadline: float | None = None,
    ) -> Transcribe:
        """Start live transcription; VoipbinConflict if one is progressing for that call and language."""
        body = {
            "reference_type": reference_type,
            "reference_id": reference_id,
            "language": language,
            "direction": direction,
            **({"provider": provider} if provider else {}),
        }
        return self._call(Transcribe, "POST", "transcribes", json=body, repeatable=False, deadline=deadline)

    def stop_transcribe(self, transcribe_id: str, *, deadline: float | None = None) -> Transcribe:
        """Stop transcription (VoIPBin also stops it on hangup)."""
        return self._call(Transcribe, "POST", f"transcribes/{_segment(transcribe_id)}/stop", deadline=deadline)

    def get_transcribe(self, transcribe_id: str, *, deadline: float | None = None) -> Transcribe:
        """One transcribe session."""
        return self._call(Transcribe, "GET", f"transcribes/{_segment(transcribe_id)}", deadline=deadline)

    def list_transcripts(
        self,
        transcribe_id: str,
        *,
        page_size: int | None = None,
        page_token: str | None = None,
        deadline: float | None = None,
    ) -> Page[Transcript]:
        """One page of a transcribe's transcripts, newest first: reconciles missed transcript webhooks."""
        params = {"transcribe_id": transcribe_id, **_page_params(page_size, page_token)}
        return self._call(Page[Transcript], "GET", "transcripts", params=params, deadline=deadline)

    # --- messages and calls ----------------------------------------------------------------------

    def send_message(
        self, source: Address, destinations: Sequence[Address], text: str, *, deadline: float | None = None
    ) -> Message:
        """Send an SMS; the delivery result arrives later as message_updated."""
        body = {
            "source": _address_json(source),
            "destinations": [_address_json(destination) for destination in destinations],
            "text": text,
        }
        return self._call(Message, "POST", "messages", json=body, repeatable=False, deadline=deadline)

    def send_conversation_message(
        self, conversation_id: str, text: str, *, deadline: float | None = None
    ) -> ConversationMessage:
        """Send a text into a VoIPBin conversation (LINE, WhatsApp, web chat widget) through its own channel.

        medias is required by VoIPBin even when empty (CONTRACT §11). The answer is the outgoing message;
        its conversation_message_created (direction outgoing) comes as a webhook too.
        """
        body = {"text": text, "medias": []}
        path = f"conversations/{_segment(conversation_id)}/messages"
        return self._call(ConversationMessage, "POST", path, json=body, repeatable=False, deadline=deadline)

    def send_email(
        self, destinations: Sequence[Address], subject: str, content: str, *, deadline: float | None = None
    ) -> Email:
        """Send an e-mail from VoIPBin's own sender; its delivery comes later as email_updated.

        attachments is required by VoIPBin even when empty (CONTRACT §11). A destination that is not an
        e-mail address, an unverified customer or a low balance is a 400, not the spec's 402.
        """
        body = {
            "destinations": [_address_json(destination) for destination in destinations],
            "subject": subject,
            "content": content,
            "attachments": [],
        }
        return self._call(Email, "POST", "emails", json=body, repeatable=False, deadline=deadline)

    def get_call(self, call_id: str, *, deadline: float | None = None) -> Call:
        """One call."""
        return self._call(Call, "GET", f"calls/{_segment(call_id)}", deadline=deadline)

    def hangup_call(self, call_id: str, *, deadline: float | None = None) -> Call:
        """Hang up (idempotent): the answer says terminating/canceling; call_hangup follows."""
        return self._call(Call, "POST", f"calls/{_segment(call_id)}/hangup", deadline=deadline)

    # --- transport -------------------------------------------------------------------------------

    def _deadline(self, deadline: float | None) -> float:
        return self._clock() + self._total_budget_seconds if deadline is None else deadline

    def _call[ModelT: BaseModel](
        self,
        model: type[ModelT],
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        repeatable: bool = True,
        on_pod: bool = False,
        deadline: float | None,
    ) -> ModelT:
        response = self._request(
            method, path, json=json, params=params, repeatable=repeatable, on_pod=on_pod, deadline=deadline
        )
        try:
            return model.model_validate_json(response.content)
        except ValidationError as error:
            fields = ", ".join(".".join(map(str, detail["loc"])) or "body" for detail in error.errors())
            # The pydantic text is left out: it quotes input values, which may be phone numbers.
            raise VoipbinError(
                f"unexpected {method} /{path} response: invalid {fields}",
                status_code=response.status_code,
                request_id=response.headers.get("X-Request-Id", ""),
            ) from None

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        repeatable: bool,
        on_pod: bool = False,
        deadline: float | None,
    ) -> httpx2.Response:
        """Send with retries (module docstring); the successful response or the last error raised.

        on_pod: the request goes to a speaking's TTS pod (say, flush, stop).
        """
        deadline = self._deadline(deadline)
        credential = self._credential if isinstance(self._credential, VoipbinCredential) else self._credential()
        headers, params = _with_credential(credential, params or {})
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - self._clock()
            if remaining < _MIN_ATTEMPT_SECONDS:
                raise VoipbinServerError(f"deadline passed before attempt {attempt} of {method} /{path}")
            retry_after: float | None = None
            try:
                response = self._http.request(
                    method,
                    path,
                    json=json,
                    params=params,
                    headers=headers,
                    timeout=_capped(self._timeout, remaining),
                )
            except httpx2.TransportError as transport_error:
                error: VoipbinError = VoipbinServerError(f"{type(transport_error).__name__}: {transport_error}")
                retryable = repeatable or isinstance(transport_error, _UNSENT_ERRORS)
            else:
                if response.is_success:
                    request_id = response.headers.get("X-Request-Id", "")
                    logger.debug(
                        "VoIPBin request done",
                        extra=_log_fields(method, path, attempt, response.status_code, request_id),
                    )
                    return response
                error = error_from_response(response)
                retryable = _retryable_status(error, repeatable=repeatable, on_pod=on_pod)
                if isinstance(error, VoipbinRateLimited):
                    retry_after = error.retry_after
            pause = retry_after if retry_after is not None else self._backoff(attempt)
            time_left_after_pause = deadline - self._clock() - pause
            will_retry = retryable and attempt < self._max_attempts and time_left_after_pause >= _MIN_ATTEMPT_SECONDS
            logger.warning(
                "VoIPBin request failed",
                extra={
                    **_log_fields(method, path, attempt, error.status_code, error.request_id),
                    "reason": error.reason,
                    "will_retry": will_retry,
                },
            )
            if not will_retry:
                raise error
            self._sleep(pause)

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1)))."""
        ceiling = min(self._backoff_cap_seconds, self._backoff_base_seconds * 2.0 ** (attempt - 1))
        return self._jitter() * ceiling


def _retryable_status(error: VoipbinError, *, repeatable: bool, on_pod: bool) -> bool:
    code = error.status_code or 0
    if code == 429:
        return True
    if isinstance(error, VoipbinRequestTimeout):
        return repeatable and not on_pod
    return code >= 500 if repeatable else code == 503


def _with_credential(credential: VoipbinCredential, params: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, params) carrying the credential where VoIPBin looks for it."""
    secret = credential.value.get_secret_value()
    if credential.kind == "accesskey":
        return {}, {**params, "accesskey": secret}
    return {"Authorization": f"Bearer {secret}"}, params


def _page_params(page_size: int | None, page_token: str | None) -> dict[str, str]:
    params = {"page_size": str(page_size) if page_size else "", "page_token": page_token or ""}
    return {key: value for key, value in params.items() if value}


def _log_fields(method: str, path: str, attempt: int, status_code: int | None, request_id: str) -> dict[str, Any]:
    """What a log line about a request may hold: no query string, no body, no credential."""
    return {
        "method": method,
        "path": "/" + path,
        "attempt": attempt,
        "status_code": status_code,
        "request_id": request_id,
    }


@holds_connections
@lru_cache(maxsize=1)
def get_client() -> VoipbinClient:
    """The container's client, built from config on first use; its pool outlives invocations."""
    settings = voipbin_settings()
    return VoipbinClient(settings.api_url, voipbin_credential, timeout=timeouts(settings.timeout_seconds))
