"""The offline LLM (SmolLM2 under llama-cpp-python's server) against the real openai client, as the stack uses it."""

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import openai
import pytest
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam

from local import offline_llm

# The first run installs the server's venv: well over the suite's default timeout on a slow network.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(offline_llm.INSTALL_TIMEOUT + offline_llm.STARTUP_TIMEOUT + 120),
]

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are a friendly phone assistant. Answer in one short sentence."},
    {"role": "user", "content": "Hello, what can you do for me?"},
]
WEATHER_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture(scope="module")
def server() -> Iterator[offline_llm.OfflineLlm]:
    """One server for the module: it is started (and installed, the first time) once."""
    with offline_llm.running() as running:
        yield running


@pytest.fixture
def client(server: offline_llm.OfflineLlm) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key="local", max_retries=0, timeout=120) as sdk:
        yield sdk


def test_the_server_lists_its_model(server: offline_llm.OfflineLlm, client: openai.OpenAI) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.base_url.endswith("/v1")
    assert [model.id for model in client.models.list()] == [server.model]


def test_a_streamed_completion_returns_text(server: offline_llm.OfflineLlm, client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model=server.model, messages=MESSAGES, stream=True, max_tokens=60))

    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text.strip()
    assert len(chunks) > 2  # token by token, not one block
    assert chunks[-1].choices[0].finish_reason in {"stop", "length"}


def test_a_request_with_tools_is_accepted(server: offline_llm.OfflineLlm, client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model=server.model, messages=MESSAGES, tools=[WEATHER_TOOL], stream=True, max_tokens=60
        )
    )

    # The tiny model may answer or call the tool; either way the server took the request (no 4xx/5xx).
    finished = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason]
    assert finished
    assert finished[-1] in {"stop", "length", "tool_calls"}


def test_max_tokens_bounds_the_reply(server: offline_llm.OfflineLlm, client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model=server.model, messages=MESSAGES, stream=True, max_tokens=3))

    pieces = [chunk.choices[0].delta.content for chunk in chunks if chunk.choices and chunk.choices[0].delta.content]
    assert 1 <= len(pieces) <= 3
    assert chunks[-1].choices[0].finish_reason == "length"


def test_a_whole_completion_returns_text(server: offline_llm.OfflineLlm, client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model=server.model, messages=MESSAGES, max_tokens=20)

    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason in {"stop", "length"}


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m"},
        {"model": "m", "messages": "hi"},
        {"model": "m", "messages": [{"role": "wizard", "content": "hi"}]},
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": "many"},
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"},
    ],
)
def test_a_malformed_request_is_refused_with_a_4xx(client: openai.OpenAI, body: dict[str, object]) -> None:
    with pytest.raises(openai.APIStatusError) as refused:
        client.post("/chat/completions", body=body, cast_to=object)

    assert 400 <= refused.value.status_code < 500


def test_a_body_that_is_not_json_is_refused_with_a_4xx(server: offline_llm.OfflineLlm) -> None:
    request = urllib.request.Request(
        f"{server.base_url}/chat/completions", data=b"{not json", headers={"Content-Type": "application/json"}
    )

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)

    assert 400 <= refused.value.code < 500
    assert json.load(refused.value)  # an error body, in JSON


def test_environment_points_the_client_at_the_server(server: offline_llm.OfflineLlm) -> None:
    environment = server.environment()

    assert environment["OPENAI_BASE_URL"] == server.base_url
    assert environment["LLM_MODEL"] == server.model
    assert environment["OPENAI_API_KEY"]
