"""The fake OpenAI server against the real openai client: what the AI core's tests will rely on."""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam

from local.fake_openai import CHAT_PATH, DEFAULT_REPLY, FakeOpenAI, RecordedRequest, Script, ToolCall, tokenize
from local.template import REPO_ROOT

pytestmark = pytest.mark.integration

MODEL = "gpt-4o-mini"
API_KEY = "test-openai-key"
QUESTION = "Hello there, who are you?"
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]


@pytest.fixture
def client(fake_openai: FakeOpenAI) -> Iterator[openai.OpenAI]:
    """The official client on the fake, without the SDK's own retries (tests that want them say so)."""
    with openai.OpenAI(base_url=fake_openai.base_url, api_key=API_KEY, max_retries=0) as sdk:
        yield sdk


def stream(client: openai.OpenAI, **options: Any) -> list[Any]:
    return list(client.chat.completions.create(model=MODEL, messages=USER, stream=True, **options))


def content_deltas(chunks: list[Any]) -> list[str]:
    return [chunk.choices[0].delta.content for chunk in chunks if chunk.choices and chunk.choices[0].delta.content]


@pytest.mark.parametrize(
    "text",
    ["Hello, world. How are you today?", "こんにちは。元気ですか\uff1f 😀 ok", "  spaces kept,\nnew lines too  "],
    ids=["english", "multi-byte", "whitespace"],
)
def test_streamed_text_arrives_in_order_and_reassembles(
    fake_openai: FakeOpenAI, client: openai.OpenAI, text: str
) -> None:
    fake_openai.enqueue(Script.text(text))

    chunks = stream(client)

    assert content_deltas(chunks) == list(tokenize(text))
    assert "".join(content_deltas(chunks)) == text
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [chunk.choices[0].finish_reason for chunk in chunks][-2:] == [None, "stop"]
    assert {chunk.id for chunk in chunks} == {chunks[0].id}
    assert {chunk.model for chunk in chunks} == {MODEL}


def test_streamed_tool_calls_reassemble_into_names_and_arguments(
    fake_openai: FakeOpenAI, client: openai.OpenAI
) -> None:
    weather = ToolCall("get_weather", json.dumps({"city": "Paris", "unit": "celsius"}))
    hang_up = ToolCall("hang_up")
    fake_openai.enqueue(Script.tools(weather, hang_up, text="Let me check."))

    chunks = stream(client)

    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.id or ""
            call["name"] += delta.function.name or ""
            call["arguments"] += delta.function.arguments or ""
    assert "".join(content_deltas(chunks)) == "Let me check."
    assert calls == {
        0: {"id": weather.id, "name": "get_weather", "arguments": weather.arguments},
        1: {"id": hang_up.id, "name": "hang_up", "arguments": "{}"},
    }
    assert sum(1 for chunk in chunks for delta in chunk.choices[0].delta.tool_calls or [] if delta.index == 0) > 3
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("script", "content", "tool_names", "finish_reason"),
    [
        (Script.text("Sure thing."), "Sure thing.", [], "stop"),
        (Script.tools(ToolCall("transfer", '{"to": "sales"}')), None, ["transfer"], "tool_calls"),
        (Script.text("Cut", finish_reason="length"), "Cut", [], "length"),
    ],
    ids=["text", "tool call", "finish reason"],
)
def test_non_streaming_completion(
    fake_openai: FakeOpenAI,
    client: openai.OpenAI,
    script: Script,
    content: str | None,
    tool_names: list[str],
    finish_reason: str,
) -> None:
    fake_openai.enqueue(script)

    completion = client.chat.completions.create(model=MODEL, messages=USER)

    choice = completion.choices[0]
    assert choice.message.content == content
    assert [call.function.name for call in choice.message.tool_calls or [] if call.type == "function"] == tool_names
    assert choice.finish_reason == finish_reason
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


@pytest.mark.parametrize("include_usage", [True, False])
def test_the_usage_chunk_comes_last_only_when_asked_for(client: openai.OpenAI, include_usage: bool) -> None:
    chunks = stream(client, stream_options={"include_usage": include_usage})

    usage_chunks = [chunk for chunk in chunks if chunk.usage is not None]
    if include_usage:
        assert usage_chunks == [chunks[-1]]
        assert chunks[-1].choices == []
        assert chunks[-1].usage.completion_tokens == len(tokenize(DEFAULT_REPLY))
        assert chunks[-1].usage.prompt_tokens == len(tokenize(QUESTION))
    else:
        assert usage_chunks == []
        assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("where", ["server knobs", "script override"])
def test_time_to_first_token_and_delay_per_token(fake_openai: FakeOpenAI, client: openai.OpenAI, where: str) -> None:
    text = "one two three four five"  # 5 tokens: first after ttft, then 4 delays
    if where == "server knobs":
        fake_openai.ttft, fake_openai.token_delay = 0.3, 0.05
        fake_openai.enqueue(Script.text(text))
    else:
        fake_openai.enqueue(Script.text(text, ttft=0.3, token_delay=0.05))

    started = time.monotonic()
    arrivals = []
    for chunk in client.chat.completions.create(model=MODEL, messages=USER, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)

    assert len(arrivals) == 5
    assert 0.3 <= arrivals[0] < 3.0
    assert arrivals[-1] - arrivals[0] >= 4 * 0.05 * 0.9  # timer slack
    assert arrivals[-1] < 5.0


@pytest.mark.parametrize(
    ("status", "error_class", "error_type", "code"),
    [
        (500, openai.InternalServerError, "server_error", None),
        (503, openai.InternalServerError, "server_error", None),
        (429, openai.RateLimitError, "requests", "rate_limit_exceeded"),
        (400, openai.BadRequestError, "invalid_request_error", None),
    ],
)
@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "no stream"])
def test_injected_http_errors_surface_as_api_status_errors(
    fake_openai: FakeOpenAI,
    client: openai.OpenAI,
    status: int,
    error_class: type[openai.APIStatusError],
    error_type: str,
    code: str | None,
    streaming: bool,
) -> None:
    fake_openai.enqueue(Script.failure(status))

    with pytest.raises(error_class) as raised:
        client.chat.completions.create(model=MODEL, messages=USER, stream=streaming)

    assert raised.value.status_code == status
    assert raised.value.type == error_type
    assert raised.value.code == code
    assert raised.value.message.startswith(f"Error code: {status}")


def test_the_sdk_retries_an_injected_429_and_gets_the_next_reply(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue(Script.failure(429, message="Slow down.", retry_after=0), Script.text("Second try."))

    with openai.OpenAI(base_url=fake_openai.base_url, api_key=API_KEY, max_retries=1) as sdk:
        completion = sdk.chat.completions.create(model=MODEL, messages=USER)

    assert completion.choices[0].message.content == "Second try."
    assert [request.header("x-stainless-retry-count") for request in fake_openai.requests(CHAT_PATH)] == ["0", "1"]


def test_a_connection_dropped_mid_stream_raises_after_the_tokens_sent(
    fake_openai: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake_openai.enqueue(Script.dropped("one two three four", after=2))

    received: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(model=MODEL, messages=USER, stream=True):
            received.append(chunk.choices[0].delta.content or "")

    assert "".join(received) == "one two"


def test_a_dropped_non_streaming_request_gets_no_answer(fake_openai: FakeOpenAI, client: openai.OpenAI) -> None:
    fake_openai.enqueue(Script.dropped())

    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model=MODEL, messages=USER)


def test_requests_are_recorded_and_a_responder_answers_from_them(
    fake_openai: FakeOpenAI, client: openai.OpenAI
) -> None:
    def echo(request: RecordedRequest) -> Script:
        return Script.text(f"You said: {request.messages[-1]['content']}")

    fake_openai.default = echo
    tools: list[ChatCompletionFunctionToolParam] = [
        {"type": "function", "function": {"name": "hang_up", "parameters": {"type": "object", "properties": {}}}}
    ]

    first = client.chat.completions.create(model=MODEL, messages=USER, tools=tools)
    client.models.list()

    assert first.choices[0].message.content == f"You said: {QUESTION}"
    (recorded,) = fake_openai.requests(CHAT_PATH)
    assert recorded.method == "POST"
    assert recorded.header("Authorization") == f"Bearer {API_KEY}"
    assert recorded.body["model"] == MODEL
    assert recorded.messages == USER
    assert recorded.body["tools"] == tools
    assert [request.path for request in fake_openai.requests()] == [CHAT_PATH, "/v1/models"]
    fake_openai.reset()
    assert fake_openai.requests() == []


def test_a_wrong_api_key_is_refused_when_one_is_set(fake_openai: FakeOpenAI, client: openai.OpenAI) -> None:
    fake_openai.api_key = "the-right-key"

    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model=MODEL, messages=USER)

    assert raised.value.code == "invalid_api_key"


def test_models_are_listed(fake_openai: FakeOpenAI, client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == list(fake_openai.models)


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/v1/responses", {"model": MODEL}, 404),
        ("POST", CHAT_PATH, {"model": MODEL, "messages": []}, 400),
        ("POST", CHAT_PATH, {"messages": USER}, 400),
    ],
    ids=["unknown path", "no messages", "no model"],
)
def test_bad_requests_get_openai_error_bodies(
    fake_openai: FakeOpenAI, method: str, path: str, body: dict[str, Any], status: int
) -> None:
    url = fake_openai.base_url.removesuffix("/v1") + path

    response = httpx2.request(method, url, json=body)

    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_runs_as_a_process_answering_with_the_default_reply() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "local.fake_openai", "--port", "0", "--reply", "Demo reply."],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().split()[-1]
        with openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0) as sdk:
            completion = sdk.chat.completions.create(model=MODEL, messages=USER)
        assert completion.choices[0].message.content == "Demo reply."
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
