"""The offline LLM (SmolLM2 under llama-cpp-python) against the real openai client, as the local stack uses it."""

from collections.abc import Iterator

import openai
import pytest
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam

from local import offline_llm

# The first run installs the server, compiling llama.cpp: minutes, so well over the suite's default timeout.
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


def test_environment_points_the_client_at_the_server(server: offline_llm.OfflineLlm) -> None:
    environment = server.environment()

    assert environment["OPENAI_BASE_URL"] == server.base_url
    assert environment["LLM_MODEL"] == server.model
    assert environment["OPENAI_API_KEY"]
