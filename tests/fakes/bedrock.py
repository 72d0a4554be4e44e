"""A fake of Amazon Bedrock's Retrieve on loopback, in its wire format: what boto3 sends and parses.

POST /knowledgebases/{knowledgeBaseId}/retrieve with the request's JSON; the answer is
{"retrievalResults": [{"content": {"text", "type"}, "location": {...}, "score"}]}, as the API reference
gives it; an unknown knowledge base is 404 ResourceNotFoundException, a denied one 403
AccessDeniedException, each named in the x-amzn-ErrorType header as the service does. boto3 reaches it
through AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME (the `bedrock` fixture sets it).
"""

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from local.loopback import LoopbackServer, TrackedHandler

_RETRIEVE = re.compile(r"^/knowledgebases/([^/]+)/retrieve$")


@dataclass(frozen=True)
class Retrieved:
    """One request the fake received: the knowledge base, the JSON body and the headers."""

    knowledge_base_id: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class _State:
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    denied: set[str] = field(default_factory=set)
    requests: list[Retrieved] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(TrackedHandler):
    def do_POST(self) -> None:
        fake: FakeBedrock = self.server.owner
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        matched = _RETRIEVE.match(self.path)
        if matched is None:
            self._answer(404, {"message": f"no route {self.path}"}, error="UnknownOperationException")
            return
        knowledge_base_id = matched.group(1)
        body = json.loads(raw or b"{}")
        with fake.state.lock:
            fake.state.requests.append(Retrieved(knowledge_base_id, body, dict(self.headers.items())))
            results = fake.state.results.get(knowledge_base_id)
            denied = knowledge_base_id in fake.state.denied
        if denied:
            self._answer(403, {"message": "not authorized to perform bedrock:Retrieve"}, error="AccessDeniedException")
        elif results is None:
            self._answer(404, {"message": "knowledge base not found"}, error="ResourceNotFoundException")
        else:
            wanted = body["retrievalConfiguration"]["vectorSearchConfiguration"]["numberOfResults"]
            self._answer(200, {"retrievalResults": results[:wanted]})

    def _answer(self, status: int, payload: dict[str, Any], *, error: str = "") -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", "7f1c2d3e-0000-4000-8000-000000000000")
        if error:
            self.send_header("x-amzn-ErrorType", error)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read what was received."""


class FakeBedrock(LoopbackServer):
    """Bedrock's Retrieve for the knowledge bases given results; others unknown, or denied when told."""

    handler_class = _Handler
    name = "the fake Bedrock"

    def __init__(self) -> None:
        super().__init__()
        self.state = _State()

    def knowledge_base(self, knowledge_base_id: str, *results: dict[str, Any]) -> None:
        """Answer this knowledge base's retrievals with these results, best first."""
        with self.state.lock:
            self.state.results[knowledge_base_id] = list(results)

    def deny(self, knowledge_base_id: str) -> None:
        """Answer this knowledge base's retrievals as IAM does without bedrock:Retrieve on it."""
        with self.state.lock:
            self.state.denied.add(knowledge_base_id)

    def requests(self) -> list[Retrieved]:
        with self.state.lock:
            return list(self.state.requests)


def s3_result(text: str, uri: str, score: float) -> dict[str, Any]:
    """A retrieval result of a document in S3, as Retrieve answers it."""
    return {
        "content": {"text": text, "type": "TEXT"},
        "location": {"type": "S3", "s3Location": {"uri": uri}},
        "metadata": {"x-amz-bedrock-kb-source-uri": uri},
        "score": score,
    }


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBedrock]:
    """The fake on an ephemeral loopback port, where boto3's bedrock-agent-runtime client goes."""
    with FakeBedrock() as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME", fake.root_url)
        yield fake
