"""The LLM behind every channel: any OpenAI-compatible Chat Completions endpoint, streamed.

The only module that imports openai (about 0.35 s of a cold start, so only functions that talk to the LLM
import this module). OPENAI_BASE_URL picks the provider: OpenAI itself when unset, Azure OpenAI's v1
endpoint (https://<resource>.openai.azure.com/openai/v1/), or an OpenAI-compatible server such as vLLM,
Ollama or llama.cpp's. One client per container keeps its connections warm between turns.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, cast

import openai
from openai.types.chat import ChatCompletionChunk

from voipbin_ai.config import LlmSettings, llm_settings, openai_api_key
from voipbin_ai.container import holds_connections
from voipbin_ai.exceptions import LlmError, LlmTimeoutError

# A message or a tool as the Chat Completions API takes it (JSON objects, see the API reference).
ChatMessage = dict[str, Any]
ToolSchema = dict[str, Any]
# The JSON Schema a structured answer must follow (response_format json_schema).
JsonSchema = dict[str, Any]
# Servers that need no key (a local llama.cpp) still get a non-empty one: the SDK requires it.
_NO_KEY = "not-needed"


@dataclass(frozen=True)
class TextDelta:
    """The next piece of the reply's text."""

    text: str


@dataclass(frozen=True)
class ToolCallRequest:
    """A function the model asked to call; arguments is its JSON text as the model wrote it."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Usage:
    """The tokens a request took, prompt and reply, as the provider counted them (the stream's last chunk)."""

    tokens: int


class LanguageModel(Protocol):
    """What the engine needs of an LLM: LlmClient below, or a scripted fake in unit tests."""

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSchema],
        max_tokens: int,
        timeout: float | None = None,
    ) -> Iterator[TextDelta | ToolCallRequest | Usage]:
        """The reply as it is written: text deltas as they arrive, then the tool calls, if any, once complete.

        The provider's count of the tokens comes as a Usage when it gives one. `timeout` bounds the wait for
        the answer to start and each gap between its chunks. Failures are LlmError, timeouts LlmTimeoutError.
        """
        ...

    def complete(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, timeout: float, json_schema: JsonSchema | None = None
    ) -> str:
        """A whole reply at once (summaries, which nobody waits for); JSON of json_schema when one is given.

        A provider that does not enforce the schema may still answer otherwise: the caller validates.
        """
        ...


class LlmClient:
    """Chat completions through the openai SDK; errors come out as LlmError, timeouts as LlmTimeoutError."""

    def __init__(self, settings: LlmSettings, *, api_key: str | None, client: openai.OpenAI | None = None) -> None:
        self.model = settings.model
        self._client = client or openai.OpenAI(
            api_key=api_key or _NO_KEY,
            base_url=settings.base_url,
            timeout=settings.timeout_seconds,
            max_retries=settings.max_retries,
        )

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSchema],
        max_tokens: int,
        timeout: float | None = None,
    ) -> Iterator[TextDelta | ToolCallRequest | Usage]:
        """LanguageModel.stream: usage by stream_options.include_usage, `timeout` by default LLM_TIMEOUT_SECONDS.

        The request goes through the client's post() (the SDK's way to a raw body), not chat.completions.create():
        create() first transforms every message against its TypedDicts, which took about 5 ms per request on
        loopback (a voice turn's budget before the LLM is 20 ms); these messages are JSON already. The SDK
        still sends, retries, authenticates, parses the stream and raises its errors.
        """
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            body["tools"] = list(tools)
        calls: dict[int, dict[str, str]] = {}
        with _provider_errors():
            response = self._client.post(
                "/chat/completions",
                body=body,
                cast_to=ChatCompletionChunk,
                stream=True,
                stream_cls=openai.Stream[ChatCompletionChunk],
                options={} if timeout is None else {"timeout": timeout},
            )
            with response:
                for chunk in response:
                    if chunk.usage is not None:
                        yield Usage(chunk.usage.total_tokens)
                    if not chunk.choices:
                        continue
                    delta = chunk.choices[0].delta
                    if delta.content:
                        yield TextDelta(delta.content)
                    for call in delta.tool_calls or ():
                        parts = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                        parts["id"] = call.id or parts["id"]
                        if call.function is not None:
                            parts["name"] += call.function.name or ""
                            parts["arguments"] += call.function.arguments or ""
        for index in sorted(calls):
            parts = calls[index]
            if not parts["name"]:
                raise LlmError("the model streamed a tool call without a name")
            yield ToolCallRequest(id=parts["id"] or f"call_{index}", name=parts["name"], arguments=parts["arguments"])

    def complete(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, timeout: float, json_schema: JsonSchema | None = None
    ) -> str:
        """LanguageModel.complete, in one request; a schema goes as response_format json_schema, strict."""
        response_format: Any = openai.omit
        if json_schema is not None:
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": json_schema.get("title", "answer"), "schema": json_schema, "strict": True},
            }
        with _provider_errors():
            response = self._client.chat.completions.create(
                model=self.model,
                messages=cast(Any, list(messages)),
                max_tokens=max_tokens,
                timeout=timeout,
                response_format=response_format,
            )
        if not response.choices or not response.choices[0].message.content:
            raise LlmError("the model returned no text")
        return response.choices[0].message.content


@contextmanager
def _provider_errors() -> Iterator[None]:
    """Map the SDK's errors to this package's: a timeout, or any other failure of the provider."""
    try:
        yield
    except openai.APITimeoutError as error:
        raise LlmTimeoutError("the LLM did not answer in time") from error
    except openai.APIStatusError as error:
        raise LlmError(f"the LLM answered {error.status_code}: {error.message}") from error
    except openai.OpenAIError as error:
        raise LlmError(f"the LLM failed: {error}") from error


@holds_connections
@lru_cache(maxsize=1)
def get_llm() -> LlmClient:
    """The container's LLM client, made on first use."""
    return LlmClient(llm_settings(), api_key=openai_api_key())
