"""Hostile bodies at the ingress and /chat, fuzzed: whatever arrives, the answer is a 4xx, never a 5xx.

VoIPBin retries a webhook answered 5xx, so a body that crashes the ingress would come back again and again;
/chat is on the internet. Thousands of generated bodies under `make test` (tests/conftest.py): bytes, text
with lone surrogates, JSON of every shape and depth, in UTF-8 and not, envelopes with junk data. The
ingress's are signed (an attacker with the secret, or VoIPBin itself sending something odd), so they reach
the parsing.
"""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from functions.ingress import app as ingress
from functions.web_chat import app as web_chat
from local.lambda_events import http_api_event
from tests.helpers import lambda_context
from tests.unit.test_ingress import SECRET, Received, published, signed

__all__ = ["published"]  # the ingress's moto bus, as a fixture here too
# A refused /chat body emits no metric, and Powertools warns about each such empty flush.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

FUZZED = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=16,
)


def _nested(opening: str, depth: int) -> bytes:
    closing = "]" if opening == "[" else "}"
    return (opening * depth + "1" + closing * depth).encode()


bodies = st.one_of(
    st.binary(max_size=512),
    st.text(max_size=256).map(lambda text: text.encode("utf-8", "surrogatepass")),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.tuples(json_values, st.sampled_from(["utf-16", "utf-32"])).map(lambda pair: json.dumps(pair[0]).encode(pair[1])),
    st.tuples(st.sampled_from(["[", '{"a":']), st.integers(min_value=500, max_value=40_000)).map(
        lambda shape: _nested(*shape)
    ),
    st.builds(
        lambda event_type, data: json.dumps({"type": event_type, "data": data}).encode(),
        st.sampled_from(["transcript_created", "message_created", "call_hangup", ""]) | st.text(max_size=12),
        json_values,
    ),
)


def _post(handler: Any, path: str, body: bytes, headers: dict[str, str]) -> int:
    event = http_api_event(body, path=path, headers=headers, base64_encoded=True)
    return int(handler(event, lambda_context())["statusCode"])


@pytest.fixture
def quiet_ingress(published: Received, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("VOIPBIN_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "CRITICAL")
    yield


@FUZZED
@given(body=bodies)
def test_the_ingress_answers_any_body_with_a_4xx_or_takes_it(quiet_ingress: None, body: bytes) -> None:
    status = _post(ingress.lambda_handler, ingress.WEBHOOK_PATH, body, signed(body))

    assert status in (200, 400, 413), body[:200]  # 413: over MAX_BODY_BYTES


@FUZZED
@given(body=bodies)
def test_chat_answers_any_body_that_is_not_a_chat_message_with_a_4xx(body: bytes) -> None:
    assume(not _is_chat_message(body))  # e.g. {"message": " "}: a first message, answered by the agent
    status = _post(web_chat.lambda_handler, web_chat.CHAT_PATH, body, {"Content-Type": "application/json"})

    assert status in (400, 422), body[:200]


def _is_chat_message(body: bytes) -> bool:
    from pydantic import ValidationError

    from voipbin_ai.models.chat import ChatRequest

    try:
        ChatRequest.model_validate_json(body)
    except ValidationError:
        return False
    return True
