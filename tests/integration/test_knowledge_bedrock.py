"""search_knowledge through Amazon Bedrock's Retrieve: boto3's own client against a fake in the API's wire format.

What is asserted is what the fake received (the signed POST and its JSON) and what the model is told.
"""

import json

import pytest

from tests.fakes.bedrock import FakeBedrock, s3_result
from tests.fakes.memory_store import InMemoryStore
from voipbin_ai.ai.llm import ToolCallRequest
from voipbin_ai.ai.tools import ToolContext, toolbox
from voipbin_ai.config import DEFAULT_AGENT_FILE, ToolSettings
from voipbin_ai.knowledge.search import BedrockKnowledge, Found, KnowledgeError
from voipbin_ai.models.agent import AgentConfig, Knowledge
from voipbin_ai.voipbin.client import VoipbinClient

pytestmark = pytest.mark.integration

KB = "KB12345678"
DEFAULT_AGENT = AgentConfig.model_validate_json(DEFAULT_AGENT_FILE.read_text())
WHITENING = s3_result("Teeth whitening costs $350.", "s3://clinic-docs/services/whitening.md", 0.81)
HOURS = s3_result("We are open Monday to Friday.", "s3://clinic-docs/hours.txt", 0.42)


def test_retrieve_is_asked_as_the_api_takes_it_and_its_results_become_passages(bedrock: FakeBedrock) -> None:
    bedrock.knowledge_base(KB, WHITENING, HOURS)

    found = BedrockKnowledge(KB).search("how much is whitening", limit=2)

    assert found == [
        Found(source="services/whitening.md", text="Teeth whitening costs $350."),
        Found(source="hours.txt", text="We are open Monday to Friday."),
    ]
    (request,) = bedrock.requests()
    assert request.knowledge_base_id == KB
    assert request.body == {
        "retrievalQuery": {"text": "how much is whitening"},
        "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 2}},
    }
    assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/us-east-1/bedrock/aws4_request" in request.headers["Authorization"]


@pytest.mark.parametrize(("denied", "reason"), [(True, "AccessDeniedException"), (False, "ResourceNotFoundException")])
def test_a_refused_retrieve_is_a_knowledge_error_naming_bedrocks_reason(
    bedrock: FakeBedrock, denied: bool, reason: str
) -> None:
    if denied:
        bedrock.deny(KB)

    with pytest.raises(KnowledgeError, match=reason):
        BedrockKnowledge(KB).search("whitening", limit=3)
    assert len(bedrock.requests()) == 1  # a 4xx is not retried


def test_the_tool_on_the_bedrock_switch_tells_the_model_the_passages_and_their_sources(
    bedrock: FakeBedrock, memory_store: InMemoryStore, voipbin: VoipbinClient
) -> None:
    bedrock.knowledge_base(KB, WHITENING, HOURS)
    knowledge = Knowledge(source="bedrock", knowledge_base_id=KB, max_passages=1)
    agent = DEFAULT_AGENT.model_copy(update={"knowledge": knowledge})
    tools = toolbox(agent, store=memory_store, voipbin=lambda: voipbin, settings=ToolSettings())
    request = ToolCallRequest(id="call_1", name="search_knowledge", arguments=json.dumps({"query": "whitening"}))

    outcome = tools.call(request, ToolContext(conversation_id="sms:k", channel="sms", turn=1))

    assert outcome.result == "[1] services/whitening.md\nTeeth whitening costs $350."
    assert [r.body["retrievalConfiguration"]["vectorSearchConfiguration"] for r in bedrock.requests()] == [
        {"numberOfResults": 1}
    ]


def test_a_denied_knowledge_base_is_told_to_the_model_as_a_failure(
    bedrock: FakeBedrock, memory_store: InMemoryStore, voipbin: VoipbinClient
) -> None:
    bedrock.deny(KB)
    agent = DEFAULT_AGENT.model_copy(update={"knowledge": Knowledge(source="bedrock", knowledge_base_id=KB)})
    tools = toolbox(agent, store=memory_store, voipbin=lambda: voipbin, settings=ToolSettings())
    request = ToolCallRequest(id="call_1", name="search_knowledge", arguments='{"query": "whitening"}')

    outcome = tools.call(request, ToolContext(conversation_id="sms:k", channel="sms", turn=1))

    assert outcome.result == "failed: the knowledge base refused the search (AccessDeniedException)"
