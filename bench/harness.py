"""The local stack under measurement: DynamoDB Local, the VoIPBin simulator, the fake LLM and every function.

`Harness` starts them on loopback, wires the functions' environment as tests/e2e does, and records what the
benchmarks time, in-process and on one clock (time.monotonic):

- when the ingress received each webhook, and every function invocation's wall time (TimedStack);
- when the simulator received each /say, and which speaking and transcribe belong to which call
  (WatchingSimulator), with per-key waits so that hundreds of driver threads never poll;
- what the fake LLM was asked, when, and what it answered (Replies).

Replies are scripted per turn: the caller's words carry a tag ("ZO3N7 what are your hours?") and the fake
LLM answers with the reply planned for that tag, every sentence starting with the tag, so each turn's
sentences are recognisable in what the simulator said (lost and duplicated replies are counted exactly).
"""

import contextlib
import functools
import json
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from local.driver import StackDriver
from local.fake_openai import FakeOpenAI, RecordedRequest, Script, tokenize
from local.lambda_bootstrap import LocalContext
from local.stack import LocalStack, function_limits
from local.voipbin_simulator import VoipbinSimulator
from local.voipbin_state import Reply
from voipbin_ai.ai.channels import speakable
from voipbin_ai.sentences import SentenceChunker

TOKEN: Final = "bench-token"
WEBHOOK_SECRET: Final = "bench-webhook-secret"
OURS: Final = "+15559876543"
TABLE_NAME: Final = "voipbin-ai-bench"
SUMMARY: Final = "The caller asked about opening hours and prices."
# Fixed behaviour of the fake LLM (seconds): time to first token and delay per token, streamed or not.
TTFT_S: Final = 0.2
TOKEN_DELAY_S: Final = 0.02
# Short sentences without clause marks, so the first piece is always a whole sentence; each is prefixed
# with the turn's tag. About 50 tokens a second (0.02 s a token) is a typical hosted small model's pace.
SENTENCES: Final = (
    "we are open from eight to six.",
    "on Saturday we close at one.",
    "a check-up costs eighty dollars.",
    "you can book on our website.",
    "please bring your insurance card.",
    "can I help with anything else?",
)
_TAG: Final = re.compile(r"\bZ[0-9A-Z]+\b")
_SAY_PATH: Final = re.compile(r"^/v1\.0/speakings/([^/]+)/say$")
BASELINE_HEADER: Final = "x-bench-baseline"


# What follows a voice turn's first sentence: short, so a turn's reply ends soon after its first /say.
CLOSERS: Final = ("thank you.", "anything else?")


def reply_text(tag: str, sentences: int, offset: int = 0) -> str:
    """A reply of `sentences` sentences, each starting with the tag."""
    return " ".join(f"{tag} {SENTENCES[(offset + i) % len(SENTENCES)]}" for i in range(sentences))


def turn_reply(tag: str, turn: int) -> str:
    """A voice turn's reply: one sentence of SENTENCES, then one or two short ones (2 or 3 sentences)."""
    closers = CLOSERS[: 1 + turn % 2]
    return " ".join([f"{tag} {SENTENCES[turn % len(SENTENCES)]}", *(f"{tag} {closer}" for closer in closers)])


def question(tag: str) -> str:
    """What the caller says in a tagged turn."""
    return f"{tag} what are your opening hours and prices?"


def spoken_pieces(text: str) -> list[str]:
    """The /say pieces the voice channel makes of a reply streamed token by token (the engine's chunker)."""
    chunker = SentenceChunker()
    chunks: list[str] = []
    for token in tokenize(text):
        chunks += chunker.feed(token)
    chunks += chunker.flush()
    return [piece for piece in map(speakable, chunks) if piece]


def first_piece_seconds(text: str, ttft: float = TTFT_S, token_delay: float = TOKEN_DELAY_S) -> float:
    """When the fake LLM has streamed enough of `text` for the chunker to release its first piece.

    The fake sends token i at ttft + i * token_delay; a sentence is released once the next non-space
    character after its end has arrived, or at the end of the stream.
    """
    tokens = tokenize(text)
    chunker = SentenceChunker()
    for index, token in enumerate(tokens):
        if [piece for piece in map(speakable, chunker.feed(token)) if piece]:
            return ttft + index * token_delay
    return completion_seconds(text, ttft, token_delay)


def completion_seconds(text: str, ttft: float = TTFT_S, token_delay: float = TOKEN_DELAY_S) -> float:
    """When the fake LLM has sent the whole of `text` (its last token; a non-streamed answer then)."""
    return ttft + token_delay * max(len(tokenize(text)) - 1, 0)


# ---------------------------------------------------------------------------------------------------------
# What the simulator received
# ---------------------------------------------------------------------------------------------------------


class Observed:
    """/say texts per speaking and the speaking and transcribe of each call, with waits per key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conditions: dict[str, threading.Condition] = {}
        self.says: dict[str, list[tuple[float, str]]] = {}
        self.speaking_of_call: dict[str, str] = {}
        self.transcribe_of_call: dict[str, str] = {}

    def _condition(self, key: str) -> threading.Condition:
        condition = self._conditions.get(key)
        if condition is None:
            condition = self._conditions[key] = threading.Condition(self._lock)
        return condition

    def record(self, path: str, body: Any, answer: Any, received_at: float) -> None:
        """One successful POST the simulator answered."""
        request = body if isinstance(body, dict) else {}
        result = answer if isinstance(answer, dict) else {}
        with self._lock:
            say = _SAY_PATH.match(path)
            if say:
                speaking_id = say.group(1)
                self.says.setdefault(speaking_id, []).append((received_at, str(request.get("text", ""))))
                self._condition(speaking_id).notify_all()
            elif path in ("/v1.0/speakings", "/v1.0/transcribes") and request.get("reference_id"):
                call_id = str(request["reference_id"])
                mapping = self.speaking_of_call if path.endswith("speakings") else self.transcribe_of_call
                mapping.setdefault(call_id, str(result.get("id", "")))
                self._condition(call_id).notify_all()

    def said(self, speaking_id: str) -> list[tuple[float, str]]:
        """(received_at, text) of every /say of a speaking, in order."""
        with self._lock:
            return list(self.says.get(speaking_id, []))

    def wait_said(self, speaking_id: str, texts: Sequence[str], timeout: float, *, after: float = 0.0) -> bool:
        """Wait until one of `texts` was said on the speaking (at or after `after`); False on timeout."""
        with self._lock:
            return self._condition(speaking_id).wait_for(
                lambda: any(at >= after and said in texts for at, said in self.says.get(speaking_id, ())), timeout
            )

    def wait_call_media(self, call_id: str, timeout: float) -> tuple[str, str] | None:
        """(speaking id, transcribe id) of a call once both exist and the greeting was said; None on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            ready = self._condition(call_id).wait_for(
                lambda: call_id in self.speaking_of_call and call_id in self.transcribe_of_call, timeout
            )
            if not ready:
                return None
            speaking_id = self.speaking_of_call[call_id]
            greeted = self._condition(speaking_id).wait_for(
                lambda: bool(self.says.get(speaking_id)), max(deadline - time.monotonic(), 0.0)
            )
            return (speaking_id, self.transcribe_of_call[call_id]) if greeted else None


class WatchingSimulator(VoipbinSimulator):
    """The VoIPBin simulator, telling `observed` about every successful POST as it answers it."""

    def __init__(self, observed: Observed, **options: Any) -> None:
        super().__init__(**options)
        self.observed = observed

    def handle(self, method: str, target: str, headers: Mapping[str, str], raw_body: bytes) -> Reply | None:
        """Answer as the simulator does, then record the request if it succeeded."""
        received_at = time.monotonic()
        reply = super().handle(method, target, headers, raw_body)
        if method == "POST" and reply is not None and reply.status < 300:
            try:
                body = json.loads(raw_body) if raw_body.strip() else None
            except ValueError:
                body = None
            self.observed.record(urlsplit(target).path, body, reply.body, received_at)
        return reply


# ---------------------------------------------------------------------------------------------------------
# The fake LLM's scripted replies
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LlmCall:
    """One chat completion the fake LLM answered."""

    tag: str | None
    stream: bool
    baseline: bool
    received_at: float
    prompt_tokens: int
    completion_tokens: int


class Replies:
    """The fake LLM's responder: the planned reply of the tag in the caller's words, else the summary."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._planned: dict[str, str] = {}
        self.calls: list[LlmCall] = []

    def plan(self, tag: str, text: str) -> None:
        """The reply to give to the turn tagged `tag`."""
        with self._lock:
            self._planned[tag] = text

    def __call__(self, request: RecordedRequest) -> Script:
        """The Script for one request (called by the fake's server threads)."""
        body = request.body if isinstance(request.body, dict) else {}
        stream = body.get("stream") is True
        baseline_tag = request.header(BASELINE_HEADER)
        tag: str | None = baseline_tag
        if stream and tag is None:
            found = _TAG.search(str(request.messages[-1].get("content", ""))) if request.messages else None
            tag = found.group(0) if found else None
        with self._lock:
            text = self._planned.get(tag, SUMMARY) if tag is not None else SUMMARY
            self.calls.append(
                LlmCall(
                    tag=tag,
                    stream=stream,
                    baseline=baseline_tag is not None,
                    received_at=request.received_at,
                    prompt_tokens=_prompt_tokens(request.messages),
                    completion_tokens=len(tokenize(text)),
                )
            )
        return Script.text(text)

    def first_request_at(self, tag: str, after: float) -> float | None:
        """When the streamed request of a turn arrived (its first after `after`, if retried)."""
        with self._lock:
            return next(
                (
                    c.received_at
                    for c in self.calls
                    if c.tag == tag and c.stream and not c.baseline and c.received_at >= after
                ),
                None,
            )


def _prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """The fake's rough token count of the prompt (words and punctuation marks)."""
    return sum(len(tokenize(m["content"])) for m in messages if isinstance(m.get("content"), str))


# ---------------------------------------------------------------------------------------------------------
# The stack, timed
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvocationRecord:
    """One function invocation: wall and CPU time in the process, and the VoIPBin event it handled."""

    function: str
    started: float
    ended: float
    cpu_ms: float  # the invoking thread's CPU time (not the threads it starts, e.g. a background flush)
    event_type: str | None
    data_id: str | None

    @property
    def duration_ms(self) -> float:
        """Wall time of the handler in ms."""
        return (self.ended - self.started) * 1000


@dataclass
class TimedStack(LocalStack):
    """LocalStack that records every invocation's wall time and when the ingress received each webhook."""

    records: list[InvocationRecord] = field(default_factory=list)
    ingress_received: dict[str, float] = field(default_factory=dict)
    function_started: dict[tuple[str, str], float] = field(default_factory=dict)
    ingress_answers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._records_lock = threading.Lock()

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Invoke a function once in this process, as LocalStack does, timed."""
        started, cpu_started = time.monotonic(), time.thread_time()
        event_type, data_id = _event_identity(event)
        with self._records_lock:
            if data_id is not None:
                if function == "IngressFunction":
                    self.ingress_received.setdefault(data_id, started)
                else:
                    self.function_started.setdefault((function, data_id), started)
        handler = self._handler(function)
        with self._lock:
            self.invocations[function] = self.invocations.get(function, 0) + 1
        memory, timeout = self._contexts[function]
        try:
            result = handler(event, LocalContext(function, memory, timeout))
            if function == "IngressFunction" and data_id is not None and isinstance(result, dict):
                self.ingress_answers[data_id] = f"{result.get('statusCode')} {result.get('body')}"
            return result
        finally:
            cpu_ms = (time.thread_time() - cpu_started) * 1000
            record = InvocationRecord(function, started, time.monotonic(), cpu_ms, event_type, data_id)
            with self._records_lock:
                self.records.append(record)

    def records_since(self, index: int) -> list[InvocationRecord]:
        """Invocations that ended after the first `index` ones."""
        with self._records_lock:
            return self.records[index:]

    def record_count(self) -> int:
        """How many invocations have ended."""
        with self._records_lock:
            return len(self.records)


def _event_identity(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(VoIPBin event type, data.id) of an HTTP API event's body or an EventBridge event's detail."""
    envelope: Any = event.get("detail")
    if envelope is None and isinstance(event.get("body"), str):
        try:
            envelope = json.loads(event["body"])
        except ValueError:
            return None, None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("data"), dict):
        return None, None
    data_id = envelope["data"].get("id")
    return str(envelope.get("type")), str(data_id) if data_id is not None else None


@functools.cache
def memory_mb(function: str) -> int:
    """The function's MemorySize in template.yaml (Globals' when it sets none)."""
    return function_limits()[function][0]


# ---------------------------------------------------------------------------------------------------------
# The harness
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Call:
    """A call answered through the stack."""

    call: dict[str, Any]
    speaking_id: str
    transcribe_id: str
    streaming_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def id(self) -> str:
        """The call's id."""
        return str(self.call["id"])

    def hung_up(self) -> dict[str, Any]:
        """The call as call_hangup carries it after the caller hung up."""
        return {**self.call, "status": "hangup", "hangup_by": "remote", "hangup_reason": "normal"}


class BenchError(Exception):
    """The stack did not do what the benchmark needs (a call not answered, a reply missing)."""


class Harness(StackDriver):
    """Everything running, and the helpers the benchmarks drive it with (see the module docstring)."""

    def __init__(
        self, stack: TimedStack, simulator: WatchingSimulator, llm: FakeOpenAI, replies: Replies, dynamodb_url: str
    ) -> None:
        super().__init__(stack, simulator)
        self.stack: TimedStack = stack
        self.voipbin: WatchingSimulator = simulator
        self.dynamodb_url = dynamodb_url
        self.llm = llm
        self.replies = replies
        self.observed = simulator.observed

    def send(self, event_type: str, data: dict[str, Any]) -> int:
        """POST a signed webhook as VoIPBin does, one attempt, not waiting: the status the ingress answered."""
        return self.webhook(event_type, data, wait=False, attempts=1) or 0

    def answer_call(self, caller: str, *, timeout: float = 60.0, wait_idle: bool = True) -> Call:
        """A new call answered through call_progressing, its greeting said."""
        call = self.voipbin.add_call(caller, OURS)
        status = self.send("call_progressing", call)
        if status != 200:
            raise BenchError(f"call_progressing answered {status}")
        if wait_idle:
            self.stack.wait_idle()
        media = self.observed.wait_call_media(str(call["id"]), timeout)
        if media is None:
            raise BenchError(f"call {call['id']} was not answered within {timeout:.0f} s")
        return Call(call, *media)

    def say_turn(self, call: Call, tag: str, reply: str) -> dict[str, Any]:
        """Plan the reply to a tagged utterance and send its transcript_created; the transcript sent."""
        self.replies.plan(tag, reply)
        transcript = self.voipbin.add_transcript(call.transcribe_id, question(tag))
        status = self.send("transcript_created", transcript)
        if status != 200:
            raise BenchError(f"transcript_created answered {status}")
        return transcript

    def dynamodb_clients(self) -> tuple[Any, Any]:
        """The boto3 clients the functions use in this process: the store's and Powertools idempotency's."""
        from voipbin_ai.store.dynamodb import get_store
        from voipbin_ai.store.idempotency import _persistence_layer

        return get_store().client, _persistence_layer().client


def bench_environment(simulator: VoipbinSimulator, llm: FakeOpenAI, dynamodb_url: str) -> dict[str, str]:
    """What the functions see (as tests/e2e sets it), with quiet observability and placeholder credentials."""
    return {
        "EVENT_BUS_NAME": "voipbin-ai-bench",
        "VOIPBIN_API_URL": simulator.base_url,
        "VOIPBIN_API_TOKEN": simulator.token,
        "VOIPBIN_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": "bench-key",
        "LLM_MODEL": "bench-model",
        "LLM_MAX_RETRIES": "0",
        "SMS_BURST_SECONDS": "0",
        "TABLE_NAME": TABLE_NAME,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_url,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }


# Listen backlog of the loopback servers: http.server's default of 5 drops connection attempts beyond it
# when hundreds of calls connect at once, and a dropped SYN costs a 1 s retransmission.
LISTEN_BACKLOG: Final = 1024


def _widen_backlogs(*servers: Any) -> None:
    """listen() again with a deep backlog (Linux takes a new backlog on a listening socket)."""
    for server in servers:
        if server is not None:
            server.socket.listen(LISTEN_BACKLOG)


@contextlib.contextmanager
def running(
    *, workers: int = 16, dynamodb_url: str | None = None, log: Callable[[str], None] | None = None
) -> Iterator[Harness]:
    """DynamoDB Local, the simulator, the fake LLM and the stack, for as long as the block runs.

    With dynamodb_url, that DynamoDB Local (whose table TABLE_NAME exists) is used instead of a new one.
    """
    from local.dynamodb_local import create_table
    from local.dynamodb_local import running as dynamodb_running

    observed = Observed()
    replies = Replies()
    with contextlib.ExitStack() as stack:
        if dynamodb_url is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="voipbin-ai-bench-")))
            if log:
                log("starting DynamoDB Local")
            dynamodb = stack.enter_context(dynamodb_running(workdir))
            create_table(dynamodb.client(), TABLE_NAME)
            dynamodb_url = dynamodb.endpoint_url
        simulator = stack.enter_context(WatchingSimulator(observed, token=TOKEN, webhook_secret=WEBHOOK_SECRET))
        llm = stack.enter_context(FakeOpenAI(default=replies, ttft=TTFT_S, token_delay=TOKEN_DELAY_S))
        local_stack = TimedStack(bench_environment(simulator, llm, dynamodb_url), workers=workers)
        _widen_backlogs(simulator._server, llm._server, local_stack._server, local_stack.bus._endpoint._server)
        stack.enter_context(local_stack.running())
        harness = Harness(local_stack, simulator, llm, replies, dynamodb_url)
        yield harness
