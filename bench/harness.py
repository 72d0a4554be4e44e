"""The local stack under measurement: DynamoDB Local, the VoIPBin simulator, the fake LLM and every function.

All is timed in this process on time.monotonic(): every invocation, the ingress's included (TimedStack), each
/say (WatchingSimulator), each LLM request (the fake's own record). Each turn's words carry a tag and every
sentence of its reply starts with it, so lost and duplicated sentences are counted exactly.
"""

import contextlib
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from local import dynamodb_local
from local.backing import agent_file
from local.driver import StackDriver, fakes_environment
from local.fake_openai import CHAT_PATH, FakeOpenAI, RecordedRequest, Script, tokenize
from local.stack import LocalStack
from local.voipbin_simulator import VoipbinSimulator
from local.voipbin_state import Reply
from voipbin_ai.ai.channels import speakable
from voipbin_ai.sentences import SentenceChunker

OURS: Final = "+15559876543"
TABLE_NAME: Final = "voipbin-ai-bench"
SUMMARY: Final = "The caller asked about opening hours and prices."
# The fake LLM's pace (seconds): time to first token, then per token; about 50 tokens a second.
TTFT_S: Final = 0.2
TOKEN_DELAY_S: Final = 0.02
# Short sentences without clause marks, so a first piece is always a whole sentence.
SENTENCES: Final = (
    "we are open from eight to six.",
    "on Saturday we close at one.",
    "a check-up costs eighty dollars.",
    "you can book on our website.",
    "please bring your insurance card.",
    "can I help with anything else?",
)
CLOSERS: Final = ("thank you.", "anything else?")
BASELINE_HEADER: Final = "x-bench-baseline"
_TAG: Final = re.compile(r"\bZ[0-9A-Z]+\b")
STAGES: Final = ("to_function_ms", "to_llm_ms", "after_llm_ms")
_SAY_PATH: Final = re.compile(r"^/v1\.0/speakings/([^/]+)/say$")


def log(message: str) -> None:
    """Progress, on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """n, mean, p50, p95, p99 and max, rounded to 0.1 (statistics.quantiles, inclusive)."""
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
    return {
        "n": len(values),
        "mean": round(statistics.fmean(values), 1),
        **{f"p{q}": round(cuts[q - 1], 1) for q in (50, 95, 99)},
        "max": round(max(values), 1),
    }


def ms(seconds: float) -> float:
    """Seconds as ms, rounded to 0.1."""
    return round(seconds * 1000, 1)


def reply_text(tag: str, sentences: int) -> str:
    """A reply of `sentences` sentences, each starting with the tag."""
    return " ".join(f"{tag} {SENTENCES[i % len(SENTENCES)]}" for i in range(sentences))


def turn_reply(tag: str, turn: int) -> str:
    """A voice turn's reply: a sentence of SENTENCES, then one or two short ones."""
    closers = CLOSERS[: 1 + turn % 2]
    return " ".join([f"{tag} {SENTENCES[turn % len(SENTENCES)]}", *(f"{tag} {closer}" for closer in closers)])


def question(tag: str) -> str:
    """What the caller says in a tagged turn."""
    return f"{tag} what are your opening hours and prices?"


def _released(text: str) -> list[tuple[int, str]]:
    """(index of the token that released it, piece) of every /say the voice channel makes of a streamed reply."""
    chunker, tokens = SentenceChunker(), tokenize(text)
    pieces = [(index, chunk) for index, token in enumerate(tokens) for chunk in chunker.feed(token)]
    pieces += [(len(tokens) - 1, chunk) for chunk in chunker.flush()]
    return [(index, piece) for index, chunk in pieces if (piece := speakable(chunk))]


def spoken_pieces(text: str) -> list[str]:
    """The /say pieces the voice channel makes of a reply streamed token by token."""
    return [piece for _, piece in _released(text)]


def first_piece_seconds(text: str) -> float:
    """When the fake has streamed enough of `text` for the chunker to release its first piece.

    Token i leaves at TTFT_S + i * TOKEN_DELAY_S; a sentence is released by the next non-space character.
    """
    return TTFT_S + _released(text)[0][0] * TOKEN_DELAY_S


def completion_seconds(text: str) -> float:
    """When the fake has sent the last token of `text`."""
    return TTFT_S + TOKEN_DELAY_S * max(len(tokenize(text)) - 1, 0)


class WatchingSimulator(VoipbinSimulator):
    """The VoIPBin simulator, keeping every /say and each call's speaking and transcribe as it answers them.

    A condition per key (speaking, call) lets hundreds of driver threads wait without polling.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._watch = threading.Lock()
        self._conditions: dict[str, threading.Condition] = {}
        self.says: dict[str, list[tuple[float, str]]] = {}
        self.media: dict[str, dict[str, str]] = {}

    def _condition(self, key: str) -> threading.Condition:
        return self._conditions.setdefault(key, threading.Condition(self._watch))

    def handle(self, method: str, target: str, headers: Mapping[str, str], raw_body: bytes) -> Reply | None:
        """Answer as the simulator does, then keep what a successful POST said or created."""
        received_at = time.monotonic()
        reply = super().handle(method, target, headers, raw_body)
        if method != "POST" or reply is None or reply.status >= 300 or not isinstance(reply.body, dict):
            return reply
        path, body = target.split("?", 1)[0], json.loads(raw_body or b"{}")
        with self._watch:
            if say := _SAY_PATH.match(path):
                self.says.setdefault(say[1], []).append((received_at, str(body.get("text", ""))))
                self._condition(say[1]).notify_all()
            elif path in ("/v1.0/speakings", "/v1.0/transcribes") and body.get("reference_id"):
                call_id = str(body["reference_id"])
                self.media.setdefault(call_id, {}).setdefault(path.rsplit("/", 1)[1], str(reply.body.get("id")))
                self._condition(call_id).notify_all()
        return reply

    def said(self, speaking_id: str) -> list[tuple[float, str]]:
        """(received_at, text) of every /say of a speaking, in order."""
        with self._watch:
            return list(self.says.get(speaking_id, []))

    def wait_said(self, speaking_id: str, texts: Sequence[str], timeout: float, *, after: float = 0.0) -> bool:
        """Wait until one of `texts` was said on the speaking at or after `after`."""
        with self._watch:
            return self._condition(speaking_id).wait_for(
                lambda: any(at >= after and said in texts for at, said in self.says.get(speaking_id, ())), timeout
            )

    def wait_call_media(self, call_id: str, timeout: float) -> tuple[str, str] | None:
        """(speaking id, transcribe id) of a call once both exist and its greeting was said."""
        deadline = time.monotonic() + timeout
        with self._watch:
            media = self.media.setdefault(call_id, {})
            if not self._condition(call_id).wait_for(lambda: len(media) == 2, timeout):
                return None
            speaking = media["speakings"]
            left = max(deadline - time.monotonic(), 0.0)
            greeted = self._condition(speaking).wait_for(lambda: bool(self.says.get(speaking)), left)
            return (speaking, media["transcribes"]) if greeted else None


def request_tag(request: RecordedRequest) -> str | None:
    """The tag of a turn's streamed request (from the caller's words) or of the baseline's (its header)."""
    streamed = isinstance(request.body, dict) and request.body.get("stream") is True
    if (tag := request.header(BASELINE_HEADER)) is not None or not streamed:
        return tag
    found = _TAG.search(str(request.messages[-1].get("content", ""))) if request.messages else None
    return found[0] if found else None


class Replies:
    """The fake LLM's responder: the reply planned for the tag in the caller's words, else the summary."""

    def __init__(self) -> None:
        self._planned: dict[str, str] = {}

    def plan(self, tag: str, text: str) -> None:
        """The reply to give to the turn tagged `tag`."""
        self._planned[tag] = text

    def text(self, request: RecordedRequest) -> str:
        """The reply to one request."""
        return self._planned.get(request_tag(request) or "", SUMMARY)

    def __call__(self, request: RecordedRequest) -> Script:
        """The Script for one request (called by the fake's server threads)."""
        return Script.text(self.text(request))


@dataclass(frozen=True)
class InvocationRecord:
    """One function invocation: its wall and thread CPU time here, and the VoIPBin event it handled."""

    function: str
    started: float
    ended: float
    cpu_ms: float  # the invoking thread's only (not a background flush)
    event_type: str | None
    data_id: str | None

    @property
    def duration_ms(self) -> float:
        """Wall time of the handler."""
        return (self.ended - self.started) * 1000


@dataclass
class TimedStack(LocalStack):
    """LocalStack recording every invocation, and when each function first saw each event."""

    records: list[InvocationRecord] = field(default_factory=list)
    first_seen: dict[tuple[str, str], float] = field(default_factory=dict)

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Invoke as LocalStack does, timed."""
        started, cpu_started = time.monotonic(), time.thread_time()
        event_type, data_id = _event_identity(event)
        if data_id is not None:
            with self._lock:
                self.first_seen.setdefault((function, data_id), started)
        try:
            return super().invoke(function, event)
        finally:
            cpu_ms = (time.thread_time() - cpu_started) * 1000
            record = InvocationRecord(function, started, time.monotonic(), cpu_ms, event_type, data_id)
            with self._lock:
                self.records.append(record)

    def ingress_received(self, data_id: str) -> float | None:
        """When the ingress first received the webhook of this VoIPBin resource."""
        return self.first_seen.get(("IngressFunction", data_id))


def _event_identity(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(VoIPBin event type, data.id) of an HTTP API event's or SQS record's body, or an EventBridge event's detail."""
    envelope: Any = event.get("detail")
    body = event["Records"][0].get("body") if event.get("Records") else event.get("body")
    if envelope is None and isinstance(body, str):
        with contextlib.suppress(ValueError):
            envelope = json.loads(body)
    if not isinstance(envelope, dict) or not isinstance(envelope.get("data"), dict):
        return None, None
    data_id = envelope["data"].get("id")
    return str(envelope.get("type")), None if data_id is None else str(data_id)


@dataclass
class Call:
    """A call answered through the stack."""

    call: dict[str, Any]
    speaking_id: str
    transcribe_id: str

    def hung_up(self) -> dict[str, Any]:
        """The call as call_hangup carries it after the caller hung up."""
        return {**self.call, "status": "hangup", "hangup_by": "remote", "hangup_reason": "normal"}


@dataclass(frozen=True)
class TurnTiming:
    """One turn in ms: end to end (ingress -> first /say), the fake LLM's share, and the three stages."""

    end_to_end_ms: float
    llm_first_piece_ms: float
    overhead_ms: float
    stages: dict[str, float]  # those of STAGES that are known


def stage_summaries(stages: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each stage summarized over the turns where it is known."""
    return {s: summarize(values) for s in STAGES if (values := [t[s] for t in stages if s in t])}


class BenchError(Exception):
    """The stack did not do what the benchmark needs (a call not answered, a reply missing)."""


@dataclass
class Harness(StackDriver):
    """Everything running, and what the benchmarks drive it with."""

    stack: TimedStack
    voipbin: WatchingSimulator
    llm: FakeOpenAI
    replies: Replies

    def send(self, event_type: str, data: dict[str, Any]) -> int:
        """POST a signed webhook once, not waiting: the ingress's status."""
        return self.webhook(event_type, data, wait=False, attempts=1) or 0

    def answer_call(self, caller: str, *, timeout: float = 60.0, wait_idle: bool = True, ringing: bool = False) -> Call:
        """A new call answered through call_progressing (after call_created and call_ringing), its greeting said."""
        call = self.voipbin.add_call(caller, OURS)
        if ringing:
            self.send("call_created", {**call, "status": "dialing"})
            self.send("call_ringing", {**call, "status": "ringing"})
        if (status := self.send("call_progressing", call)) != 200:
            raise BenchError(f"call_progressing answered {status}")
        if wait_idle:
            self.stack.wait_idle()
        if (media := self.voipbin.wait_call_media(str(call["id"]), timeout)) is None:
            raise BenchError(f"call {call['id']} was not answered within {timeout:.0f} s")
        return Call(call, *media)

    def say_turn(self, call: Call, tag: str, reply: str) -> dict[str, Any]:
        """Plan the reply to a tagged utterance and send its transcript_created; the transcript sent."""
        self.replies.plan(tag, reply)
        transcript = self.voipbin.add_transcript(call.transcribe_id, question(tag))
        if (status := self.send("transcript_created", transcript)) != 200:
            raise BenchError(f"transcript_created answered {status}")
        return transcript

    def timed_turn(self, call: Call, tag: str, reply: str) -> TurnTiming:
        """A tagged turn, waited for: its timeline."""
        transcript = self.say_turn(call, tag, reply)
        self.stack.wait_idle()
        return self.turn_timing(call, transcript, tag, reply)

    def turn_timing(self, call: Call, transcript: dict[str, Any], tag: str, reply: str) -> TurnTiming:
        """A finished turn's timeline, from what the stack, the fake LLM and the simulator recorded."""
        transcript_id = str(transcript["id"])
        received = self.stack.ingress_received(transcript_id) or 0.0
        first = spoken_pieces(reply)[0]
        said = next((at for at, text in self.voipbin.said(call.speaking_id) if text == first and at >= received), None)
        if said is None:
            raise BenchError(f"turn {tag}: its first sentence was never said")
        llm = first_piece_seconds(reply)
        started = self.stack.first_seen.get(("TranscriptCreatedFunction", transcript_id))
        asked = self.first_request_at(tag, received)
        stages = {"after_llm_ms": ms(said - asked - llm)} if asked is not None else {}
        if started is not None:
            stages["to_function_ms"] = ms(started - received)
            if asked is not None:
                stages["to_llm_ms"] = ms(asked - started)
        return TurnTiming(ms(said - received), ms(llm), ms(said - received - llm), stages)

    def first_request_at(self, tag: str, after: float) -> float | None:
        """When the fake LLM received a turn's streamed request (its first after `after`)."""
        requests = self.llm.requests(CHAT_PATH)
        return next((r.received_at for r in requests if r.received_at >= after and request_tag(r) == tag), None)


@contextlib.contextmanager
def running(*, workers: int = 16, dynamodb_url: str | None = None) -> Iterator[Harness]:
    """DynamoDB Local (or the one at dynamodb_url, whose table exists), the fakes and the stack."""
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="voipbin-ai-bench-")))
        if dynamodb_url is None:
            log("starting DynamoDB Local")
            dynamodb = stack.enter_context(dynamodb_local.running(workdir))
            dynamodb_local.create_table(dynamodb.client(), TABLE_NAME)
            dynamodb_url = dynamodb.endpoint_url
        simulator = stack.enter_context(WatchingSimulator())
        replies = Replies()
        llm = stack.enter_context(FakeOpenAI(default=replies, ttft=TTFT_S, token_delay=TOKEN_DELAY_S))
        environment = fakes_environment(simulator, llm) | {
            "TABLE_NAME": TABLE_NAME,
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_url,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
            # Each turn waits until the stack is idle, which a pending silence check would put off for
            # minutes, and a text thread's idle check (summary.channels) for hours; the cost model counts
            # the silence checks as deployed (bench/turns.py).
            "AGENT_CONFIG_FILE": str(agent_file(workdir, {"silence.enabled": False, "summary.channels": ["voice"]})),
        }
        local_stack = TimedStack(environment, workers=workers)
        stack.enter_context(local_stack.running())
        yield Harness(local_stack, simulator, llm, replies)
