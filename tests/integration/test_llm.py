"""The engine over the real openai SDK and HTTP, against the fake OpenAI server.

What only a real transport shows: a sentence given out before the stream ends, a dropped connection,
the SDK's timeouts against the turn's deadline, provider error statuses, the request body, and a
configured HTTP tool on loopback. The engine's own behaviour is tests/unit/test_engine.py.
"""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from local.fake_openai import FakeOpenAI, Script, ToolCall
from tests.fakes.in_process import DEFAULT_AGENT, agent_with
from tests.fakes.memory_store import InMemoryStore
from voipbin_ai.ai.core import Conversation, Engine, Reply
from voipbin_ai.ai.llm import LlmClient
from voipbin_ai.ai.tools import ToolContext, toolbox
from voipbin_ai.config import LlmSettings, ToolSettings
from voipbin_ai.models.agent import AgentConfig
from voipbin_ai.models.session import Channel, HistoryMessage
from voipbin_ai.models.summary import SummaryParts
from voipbin_ai.voipbin.client import VoipbinClient

pytestmark = pytest.mark.integration


def voice_rules(**changes: Any) -> dict[str, Any]:
    return {"voice": {**DEFAULT_AGENT.channels.voice.model_dump(), **changes}}


class Harness:
    """An engine whose LLM is the fake OpenAI server, reached through the SDK."""

    def __init__(self, fake: FakeOpenAI, voipbin: VoipbinClient) -> None:
        self.fake, self.voipbin = fake, voipbin
        settings = LlmSettings.model_validate(
            {"LLM_MODEL": "test-model", "OPENAI_BASE_URL": fake.base_url, "LLM_MAX_RETRIES": 0}
        )
        self.llm = LlmClient(settings, api_key="test-key")
        # The tool endpoints of these tests listen on loopback.
        self.tool_settings = ToolSettings.model_validate({"ALLOW_PRIVATE_TOOL_URLS": "true"})
        self.store = InMemoryStore()

    def engine(self, agent: AgentConfig = DEFAULT_AGENT) -> Engine:
        tools = toolbox(agent, store=self.store, voipbin=lambda: self.voipbin, settings=self.tool_settings)
        return Engine(agent, llm=self.llm, tools=tools, store=self.store)

    def conversation(self, channel: Channel = "voice", **fields: Any) -> Conversation:
        context = ToolContext(conversation_id=f"{channel}:test", channel=channel, turn=1)
        return Conversation(context=context, **fields)

    def run(self, reply: Reply) -> list[str]:
        return list(reply.pieces)

    def prompt(self, index: int = -1) -> list[dict[str, Any]]:
        return self.fake.requests("/v1/chat/completions")[index].messages

    def offered_tools(self, index: int = -1) -> list[str]:
        body = self.fake.requests("/v1/chat/completions")[index].body or {}
        return [tool["function"]["name"] for tool in body.get("tools", [])]


@pytest.fixture
def harness(fake_openai: FakeOpenAI, voipbin: VoipbinClient) -> Harness:
    return Harness(fake_openai, voipbin)


# --- streaming and the prompt --------------------------------------------------------------------


def test_a_sentence_is_given_out_before_the_stream_ends(harness: Harness) -> None:
    # The connection drops after the first sentence: only a streaming engine has it to say.
    harness.fake.enqueue(Script.dropped("Sure, one moment. Checking the calendar now", after=6))

    reply = harness.engine().reply(harness.conversation(), "Can I book?")

    assert harness.run(reply) == ["Sure, one moment."]
    assert not reply.used_fallback
    assert reply.first_token_at is not None


def test_the_request_is_a_streamed_chat_completion_of_the_channels_size(harness: Harness) -> None:
    harness.run(harness.engine().reply(harness.conversation("sms"), "Prices?"))

    (request,) = harness.fake.requests("/v1/chat/completions")
    body = request.body or {}
    assert (body["model"], body["stream"], body["stream_options"]) == ("test-model", True, {"include_usage": True})
    assert body["max_tokens"] == DEFAULT_AGENT.channels.sms.max_tokens
    assert [message["role"] for message in request.messages] == ["system", "user"]
    assert request.header("Authorization") == "Bearer test-key"


def test_a_summarys_parts_are_asked_for_as_strict_structured_output(harness: Harness) -> None:
    parts = SummaryParts(call_type="inquiry", summary="Hours.", key_points=("Hours",), decisions=(), action_items=())
    harness.fake.enqueue(Script.text(parts.model_dump_json()))

    assert harness.engine().summary_parts([HistoryMessage(turn=1, role="user", text="Hours?")]) == parts

    (request,) = harness.fake.requests("/v1/chat/completions")
    body = request.body or {}
    assert "stream" not in body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "SummaryParts", "schema": SummaryParts.model_json_schema(), "strict": True},
    }
    assert body["max_tokens"] == 4 * DEFAULT_AGENT.limits.summary_max_tokens


def test_a_rolling_summary_asks_for_plain_text(harness: Harness) -> None:
    harness.fake.enqueue(Script.text("Hours."))

    assert harness.engine().summarize([HistoryMessage(turn=1, role="user", text="Hours?")]) == "Hours."

    (request,) = harness.fake.requests("/v1/chat/completions")
    assert "response_format" not in (request.body or {})


class _ToolEndpoint(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.received.append({"body": body, "key": self.headers.get("X-Api-Key")})  # type: ignore[attr-defined]
        answer = json.dumps({"slots": ["Tuesday 10:00", "Wednesday 15:30"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def tool_endpoint() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ToolEndpoint)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_configured_http_tool_posts_its_arguments_and_the_llm_reads_the_answer(
    harness: Harness, tool_endpoint: ThreadingHTTPServer
) -> None:
    url = f"http://127.0.0.1:{tool_endpoint.server_address[1]}/slots"
    agent = agent_with(
        tools=[
            {
                "name": "find_slots",
                "description": "Free appointment slots on a day.",
                "url": url,
                "parameters": {"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]},
                "channels": ["voice", "sms"],
                "headers": {"X-Api-Key": "tool-secret"},
            }
        ]
    )
    # Arguments outside the tool's schema never reach it; the model is told why.
    harness.fake.enqueue(Script.tools(ToolCall("find_slots", '{"day": 3, "then": "/etc/passwd"}')), Script.text("?"))
    harness.run(harness.engine(agent).reply(harness.conversation("sms"), "Free on day three?"))
    assert harness.prompt()[-1]["content"].startswith("error: invalid arguments")
    for _ in range(2):  # replayed: the endpoint is called once, the stored answer is reused
        harness.fake.enqueue(
            Script.tools(ToolCall("find_slots", '{"day": "Tuesday"}')), Script.text("Tuesday at ten works.")
        )
        assert harness.run(harness.engine(agent).reply(harness.conversation("sms"), "Free Tuesday?")) == [
            "Tuesday at ten works."
        ]

    assert tool_endpoint.received == [{"body": {"day": "Tuesday"}, "key": "tool-secret"}]  # type: ignore[attr-defined]
    assert json.loads(harness.prompt()[-1]["content"]) == {"slots": ["Tuesday 10:00", "Wednesday 15:30"]}
    assert "find_slots" in harness.offered_tools(0)
    harness.run(harness.engine(agent).reply(harness.conversation("chat"), "Hi"))
    assert "find_slots" not in harness.offered_tools()


# --- limits --------------------------------------------------------------------------------------


def test_a_slow_llm_gives_the_fallback_line_within_the_deadline(harness: Harness) -> None:
    agent = agent_with(channels=voice_rules(deadline_seconds=0.3))
    harness.fake.enqueue(Script.text("Far too late.", ttft=3.0))

    reply = harness.engine(agent).reply(harness.conversation(), "Hello?")

    assert harness.run(reply) == [DEFAULT_AGENT.channels.voice.fallback]
    assert reply.used_fallback


def test_a_trickling_llm_that_misses_the_deadline_gives_the_fallback(harness: Harness) -> None:
    agent = agent_with(channels=voice_rules(deadline_seconds=0.3))
    harness.fake.enqueue(Script.text("This sentence trickles in word by word and never ends in time.", token_delay=0.1))

    assert harness.run(harness.engine(agent).reply(harness.conversation(), "Hello?")) == [
        DEFAULT_AGENT.channels.voice.fallback
    ]


@pytest.mark.parametrize("status", [500, 429, 401])
@pytest.mark.parametrize("channel", ["voice", "sms"])
def test_a_provider_error_gives_the_channels_fallback(harness: Harness, status: int, channel: Channel) -> None:
    harness.fake.enqueue(Script.failure(status))

    reply = harness.engine().reply(harness.conversation(channel), "Hello?")

    assert harness.run(reply) == [DEFAULT_AGENT.channels.of(channel).fallback]
    assert reply.used_fallback


def test_a_dropped_stream_before_any_sentence_gives_the_fallback(harness: Harness) -> None:
    harness.fake.enqueue(Script.dropped("Well let me think about", after=2))

    assert harness.run(harness.engine().reply(harness.conversation(), "Hm?")) == [DEFAULT_AGENT.channels.voice.fallback]
