"""The LLM in memory: the fake OpenAI server's Scripts played straight into the engine, on a fake clock.

A LanguageModel (ai/llm.py) for unit tests. The same Script describes a reply here and on the loopback
server (local/fake_openai.py), so a test reads alike in both; here ttft and token_delay advance the fake
clock instead of taking time, an error status is an LlmError and a dropped stream one after its tokens.
The SDK, SSE and real timeouts are what tests/integration/test_llm.py covers.
"""

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from local.fake_openai import DEFAULT_REPLY, Script
from voipbin_ai.ai.llm import ChatMessage, JsonSchema, TextDelta, ToolCallRequest, ToolSchema, Usage
from voipbin_ai.exceptions import LlmError, LlmTimeoutError


class FakeClock:
    """time.monotonic for code under test: it moves only when told to."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class LlmRequest:
    """One request the engine made: what the model was sent."""

    messages: list[ChatMessage]
    tools: list[ToolSchema]
    max_tokens: int
    timeout: float | None
    stream: bool
    # The structured output asked for (summaries' parts), if any.
    json_schema: JsonSchema | None = None

    @property
    def tool_names(self) -> list[str]:
        return [tool["function"]["name"] for tool in self.tools]


class ScriptedLlm:
    """Answers each request with the next queued Script (DEFAULT_REPLY when none is queued)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.requests: list[LlmRequest] = []
        # Whether the provider reports the tokens it used (some OpenAI-compatible servers do not).
        self.reports_usage = True
        self._scripts: deque[Script] = deque()
        self._interjection: tuple[int, Callable[[], object]] | None = None

    def enqueue(self, *scripts: Script) -> None:
        self._scripts.extend(scripts)

    def interject(self, after_tokens: int, action: Callable[[], object]) -> None:
        """Run `action` once the next stream has given out that many tokens: something happens mid-reply."""
        self._interjection = (after_tokens, action)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSchema],
        max_tokens: int,
        timeout: float | None = None,
    ) -> Iterator[TextDelta | ToolCallRequest | Usage]:
        script = self._next(messages, tools=tools, max_tokens=max_tokens, timeout=timeout, stream=True)
        interjection, self._interjection = self._interjection, None
        return self._played(script, timeout, interjection)

    def complete(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, timeout: float, json_schema: JsonSchema | None = None
    ) -> str:
        script = self._next(
            messages, tools=(), max_tokens=max_tokens, timeout=timeout, stream=False, json_schema=json_schema
        )
        _raise_for(script)
        text = "".join(script.tokens)
        if script.drop_after is not None or not text:
            raise LlmError("the model returned no text")
        return text

    def _next(self, messages: Sequence[ChatMessage], *, tools: Sequence[ToolSchema], **request: Any) -> Script:
        self.requests.append(LlmRequest(messages=[dict(message) for message in messages], tools=list(tools), **request))
        return self._scripts.popleft() if self._scripts else Script.text(DEFAULT_REPLY)

    def _played(
        self, script: Script, timeout: float | None, interjection: tuple[int, Callable[[], object]] | None
    ) -> Iterator[TextDelta | ToolCallRequest | Usage]:
        _raise_for(script)
        ttft = script.ttft or 0.0
        if timeout is not None and ttft > timeout:
            self.clock.advance(timeout)
            raise LlmTimeoutError("the LLM did not answer in time")
        self.clock.advance(ttft)
        for index, token in enumerate(script.tokens):
            if interjection is not None and index == interjection[0]:
                interjection[1]()
            if script.drop_after is not None and index >= script.drop_after:
                raise LlmError("the LLM failed: connection dropped mid-stream")
            if index:
                gap = script.token_delay or 0.0
                if timeout is not None and gap > timeout:
                    raise LlmTimeoutError("the LLM stalled mid-stream")
                self.clock.advance(gap)
            yield TextDelta(token)
        for call in script.tool_calls:
            yield ToolCallRequest(id=call.id, name=call.name, arguments=call.arguments)
        if self.reports_usage:
            yield Usage(len(script.tokens) + len(script.tool_calls))


def _raise_for(script: Script) -> None:
    if script.error is not None:
        raise LlmError(f"the LLM answered {script.error.status}")
