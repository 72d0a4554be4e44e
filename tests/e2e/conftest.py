"""The local stack end to end: signed webhooks through the ingress and the emulated bus, DynamoDB Local,
the VoIPBin simulator and the fake OpenAI server. Tests assert on what the simulator and the fake LLM
received.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from local.backing import agent_file as write_agent_file
from local.driver import StackDriver, fakes_environment
from local.fake_openai import FakeOpenAI, RecordedRequest, Script
from local.stack import LocalStack
from local.voipbin_simulator import VoipbinSimulator
from tests.fakes.dynamodb_local import DynamoDBTable
from tests.fakes.fixtures import SIMULATOR_WEBHOOK_SECRET
from voipbin_ai.store.dynamodb import DynamoDBStore
from voipbin_ai.voipbin.signature import SIGNATURE_HEADER, sign

CALLER, OURS = "+15551234567", "+15559876543"
SUMMARY = "The caller asked about opening hours."


def answer(request: RecordedRequest) -> Script:
    """The fake LLM's answers: summaries when not streamed, otherwise a reply that names the question."""
    if not (request.body or {}).get("stream"):
        return Script.text(SUMMARY)
    question = str(request.messages[-1].get("content", ""))
    return Script.text(f"You asked: {question.rstrip('?.!')}. We are open from eight to six.")


@dataclass
class Stack(StackDriver):
    """The running stack, VoIPBin in front of it, and the fakes behind it."""

    llm: FakeOpenAI
    store: DynamoDBStore

    def chat(self, body: Any) -> httpx2.Response:
        return httpx2.post(self.stack.route_url("WebChatFunction"), json=body, timeout=30)

    def post_raw(self, function: str, body: bytes, *, signed: bool = False) -> httpx2.Response:
        """Any bytes to a function's route, signed with the webhook secret when asked (an attacker who has it)."""
        headers = {"Content-Type": "application/json"}
        if signed:
            headers[SIGNATURE_HEADER] = sign(SIMULATOR_WEBHOOK_SECRET, body)
        url = self.stack.webhook_url if function == "IngressFunction" else self.stack.route_url(function)
        return httpx2.post(url, content=body, headers=headers, timeout=30)

    def rest(self, method: str, path: str) -> httpx2.Response:
        """A call to the simulator's REST API, as the operator (or VoIPBin itself) would make it."""
        headers = {"Authorization": f"Bearer {self.voipbin.token}"}
        return httpx2.request(method, self.voipbin.base_url + path, headers=headers, timeout=10)

    def paths(self, method: str, prefix: str) -> list[str]:
        return [request.path for request in self.voipbin.requests(method, prefix)]

    def replies(self) -> list[RecordedRequest]:
        """The fake LLM's streamed requests (the replies, not the summaries)."""
        return [r for r in self.llm.requests("/v1/chat/completions") if (r.body or {}).get("stream")]


@pytest.fixture
def agent_file(tmp_path: Path) -> Path:
    """The default agent with a short voice deadline, so a slow LLM is noticed quickly, no silence checks, and
    summaries of calls only.

    The driver's wait for the stack to be idle waits out delayed actions too: a silence check would make
    every call wait for its re-prompts and the hang-up, and a text thread's idle check for the thread's idle
    time. The silence and summary tests turn them on.
    """
    changes = {"channels.voice.deadline_seconds": 1.0, "silence.enabled": False, "summary.channels": ["voice"]}
    return write_agent_file(tmp_path, changes)


@pytest.fixture
def e2e(
    dynamodb_table: DynamoDBTable,
    voipbin_simulator: VoipbinSimulator,
    fake_openai: FakeOpenAI,
    agent_file: Path,
) -> Iterator[Stack]:
    fake_openai.default = answer
    environment = {
        **fakes_environment(voipbin_simulator, fake_openai),
        "AGENT_CONFIG_FILE": str(agent_file),
        "WEBHOOK_MAX_AGE_SECONDS": "300",
        "CROSS_CHANNEL_MEMORY": "true",  # the simulator dates its events now, as VoIPBin does
    }
    stack = LocalStack(environment)
    with stack.running():
        store = DynamoDBStore(dynamodb_table.name, ttl_seconds=3600, client=dynamodb_table.client)
        yield Stack(stack, voipbin_simulator, fake_openai, store)
    assert stack.dead_letters == []
