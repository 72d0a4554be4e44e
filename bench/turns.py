"""Voice turns on the local stack: overhead per turn, the gain of sentence streaming, and usage and cost.

1. Overhead: calls of sequential turns, each waited for. A turn's overhead is the time from the ingress
   receiving the transcript_created webhook to the simulator receiving the turn's first /say, minus the fake
   LLM's time to its first sentence (ttft + token_delay per token up to the token that lets the chunker
   release the sentence). What is left is the backend's own work: ingress, bus, idempotency, the turn's
   DynamoDB reads and writes, the prompt, parsing the stream, recording the sentence and /say.
2. Streaming gain: the same turn with replies of 1, 3 and 6 sentences, against a baseline that asks the same
   fake LLM without streaming and then POSTs one /say with the whole text (what a usual webhook bot does),
   run with no infrastructure at all between the two (a floor for any such bot), timed from the same moment.
3. Usage: DynamoDB operations and consumed capacity (through the boto3 clients' events), function
   invocations and their wall time, webhooks and bus entries, and LLM tokens, per voice turn, per call's
   other events and per SMS, each unit driven alone and waited for; then bench.cost.price on them.

Every measurement runs in this process (tests/e2e's setup): see bench/harness.py.
"""

import contextlib
import os
import statistics
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from bench.cold_start import percentile
from bench.cost import CostInputs, DynamoDBUsage, Invocation, TokenUsage, UnitUsage, consumed_capacity, price
from bench.harness import (
    BASELINE_HEADER,
    OURS,
    TOKEN_DELAY_S,
    TTFT_S,
    BenchError,
    Call,
    Harness,
    InvocationRecord,
    completion_seconds,
    first_piece_seconds,
    memory_mb,
    question,
    reply_text,
    spoken_pieces,
    turn_reply,
)
from local.fake_openai import tokenize

STREAMING_SIZES: Final = (1, 3, 6)
# What VoIPBin sends around one caller utterance besides transcript_created (an assumption on its behaviour):
# speech started (routed to the transcript function: barge-in), interim results and speech ended (dropped).
INTERIM_RESULTS: Final = 3
# As deployed (SMS_BURST_SECONDS=1), each SMS queues its answer on the delayed-actions queue and
# DelayedActionFunction answers it; the runs use 0 (answered at once, the same work in the SMS function), so
# the cost adds the queue's requests (send, receive, delete) and the consumer's invocation per SMS.
DEPLOYED_SMS_QUEUED_ACTIONS: Final = 1.0
SQS_REQUESTS_PER_MESSAGE: Final = 3


def summarize(values: Sequence[float]) -> dict[str, float]:
    """n, mean, p50, p95, p99, min and max (ms, rounded to 0.1)."""
    return {
        "n": len(values),
        "mean": round(statistics.fmean(values), 1),
        "p50": round(percentile(values, 50), 1),
        "p95": round(percentile(values, 95), 1),
        "p99": round(percentile(values, 99), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


# ---------------------------------------------------------------------------------------------------------
# 1. Overhead per turn
# ---------------------------------------------------------------------------------------------------------


@dataclass
class TurnTiming:
    """One turn's timeline, in ms from the ingress receiving its transcript."""

    tag: str
    sentences: int
    end_to_end_ms: float  # ingress -> first /say received by the simulator
    llm_first_piece_ms: float  # the fake LLM's time to the first sentence, from its request
    overhead_ms: float
    to_function_ms: float | None  # ingress -> transcript function started (ingress, PutEvents, bus)
    to_llm_ms: float | None  # transcript function started -> LLM request received
    after_llm_ms: float | None  # first sentence ready at the fake -> first /say received


def turn_timing(harness: Harness, call: Call, transcript: dict[str, Any], tag: str, reply: str) -> TurnTiming:
    """The timeline of a finished turn, from what the stack, the fake LLM and the simulator recorded."""
    transcript_id = str(transcript["id"])
    received = harness.stack.ingress_received[transcript_id]
    pieces = spoken_pieces(reply)
    first_say = next(
        (at for at, text in harness.observed.said(call.speaking_id) if text == pieces[0] and at >= received), None
    )
    if first_say is None:
        raise ValueError(f"turn {tag}: its first sentence was never said")
    first_piece = first_piece_seconds(reply)
    started = harness.stack.function_started.get(("TranscriptCreatedFunction", transcript_id))
    asked = harness.replies.first_request_at(tag, received)
    return TurnTiming(
        tag=tag,
        sentences=len(pieces),
        end_to_end_ms=_ms(first_say - received),
        llm_first_piece_ms=_ms(first_piece),
        overhead_ms=_ms(first_say - received - first_piece),
        to_function_ms=_ms(started - received) if started is not None else None,
        to_llm_ms=_ms(asked - started) if asked is not None and started is not None else None,
        after_llm_ms=_ms(first_say - asked - first_piece) if asked is not None else None,
    )


def measure_overhead(
    harness: Harness, *, calls: int = 20, turns: int = 10, log: Callable[[str], None]
) -> dict[str, Any]:
    """Sequential calls of sequential turns (2 or 3 sentences a reply); every turn waited for."""
    warm_up(harness)
    timings: list[TurnTiming] = []
    for call_index in range(calls):
        call = harness.answer_call(f"+1555100{call_index:04d}")
        for turn in range(turns):
            tag = f"ZO{call_index}N{turn}"
            reply = turn_reply(tag, turn)
            transcript = harness.say_turn(call, tag, reply)
            harness.stack.wait_idle()
            timings.append(turn_timing(harness, call, transcript, tag, reply))
        # The call is left open: its hangup (and summary) is not part of this measurement.
        if (call_index + 1) % 5 == 0:
            log(f"turn overhead: {len(timings)} turns")
    stages = {
        "to_function_ms": [t.to_function_ms for t in timings if t.to_function_ms is not None],
        "to_llm_ms": [t.to_llm_ms for t in timings if t.to_llm_ms is not None],
        "after_llm_ms": [t.after_llm_ms for t in timings if t.after_llm_ms is not None],
    }
    return {
        "calls": calls,
        "turns_per_call": turns,
        "overhead_ms": summarize([t.overhead_ms for t in timings]),
        "end_to_end_ms": summarize([t.end_to_end_ms for t in timings]),
        "llm_first_sentence_ms": summarize([t.llm_first_piece_ms for t in timings]),
        "stages_ms": {name: summarize(values) for name, values in stages.items() if values},
        "samples": {
            "overhead_ms": [t.overhead_ms for t in timings],
            "end_to_end_ms": [t.end_to_end_ms for t in timings],
        },
    }


def warm_up(harness: Harness) -> None:
    """One call of two turns, not measured: the first turn of a process imports the LLM client and connects."""
    call = harness.answer_call("+15551009999")
    for turn in range(2):
        tag = f"ZW{turn}"
        harness.say_turn(call, tag, reply_text(tag, 2))
        harness.stack.wait_idle()
    harness.send("call_hangup", call.hung_up())
    harness.stack.wait_idle()


# ---------------------------------------------------------------------------------------------------------
# 2. Streaming gain
# ---------------------------------------------------------------------------------------------------------


class Baseline:
    """A usual webhook bot with nothing in between: the whole completion, then one /say of all of it."""

    def __init__(self, harness: Harness, call: Call) -> None:
        import httpx2
        import openai

        self.harness = harness
        self.call = call
        self._llm = openai.OpenAI(base_url=harness.llm.base_url, api_key="bench-key", max_retries=0, timeout=30)
        self._voipbin = httpx2.Client(
            base_url=harness.voipbin.base_url + "/",
            headers={"Authorization": f"Bearer {harness.voipbin.token}"},
            timeout=30,
        )

    def close(self) -> None:
        """Close its clients."""
        self._llm.close()
        self._voipbin.close()

    def first_say_ms(self, tag: str, reply: str) -> float:
        """From "webhook received" to the simulator receiving the one /say."""
        self.harness.replies.plan(tag, reply)
        started = time.monotonic()
        completion = self._llm.chat.completions.create(
            model="bench-model",
            messages=[{"role": "user", "content": question(tag)}],
            extra_headers={BASELINE_HEADER: tag},
        )
        text = completion.choices[0].message.content or ""
        self._voipbin.post(f"speakings/{self.call.speaking_id}/say", json={"text": text}).raise_for_status()
        said = next(at for at, said in self.harness.observed.said(self.call.speaking_id) if said == text)
        return _ms(said - started)


def measure_streaming(harness: Harness, *, repetitions: int = 8, log: Callable[[str], None]) -> dict[str, Any]:
    """Streaming and baseline side by side, interleaved, for replies of 1, 3 and 6 sentences."""
    calls = {size: harness.answer_call(f"+1555200{size:04d}") for size in STREAMING_SIZES}
    baseline = Baseline(harness, harness.answer_call("+15552009999"))
    streamed: dict[int, list[float]] = defaultdict(list)
    whole: dict[int, list[float]] = defaultdict(list)
    try:
        # Repetition -1 warms each call (its transcribe's mapping) and the baseline's connections; not counted.
        for repetition in range(-1, repetitions):
            for size in STREAMING_SIZES:
                tag = f"ZS{size}N{repetition + 1}"
                reply = reply_text(tag, size)  # the same sentences every time: one LLM timing per size
                transcript = harness.say_turn(calls[size], tag, reply)
                harness.stack.wait_idle()
                streaming_ms = turn_timing(harness, calls[size], transcript, tag, reply).end_to_end_ms
                baseline_ms = baseline.first_say_ms(f"ZB{size}N{repetition + 1}", reply)
                if repetition >= 0:
                    streamed[size].append(streaming_ms)
                    whole[size].append(baseline_ms)
        log(f"streaming gain: {repetitions} repetitions of {len(STREAMING_SIZES)} sizes")
    finally:
        baseline.close()
    results = []
    for size in STREAMING_SIZES:
        reply = reply_text("ZS0N0", size)
        streaming_ms = statistics.median(streamed[size])
        baseline_ms = statistics.median(whole[size])
        results.append(
            {
                "sentences": size,
                "reply_tokens": len(tokenize(reply)),
                "llm_first_sentence_ms": _ms(first_piece_seconds(reply)),
                "llm_whole_reply_ms": _ms(completion_seconds(reply)),
                "streaming_first_say_ms": round(streaming_ms, 1),
                "baseline_first_say_ms": round(baseline_ms, 1),
                "ratio": round(baseline_ms / streaming_ms, 2),
                "streaming_samples_ms": streamed[size],
                "baseline_samples_ms": whole[size],
            }
        )
    return {"repetitions": repetitions, "sizes": results}


# ---------------------------------------------------------------------------------------------------------
# 3. Usage per unit, and its cost
# ---------------------------------------------------------------------------------------------------------


@dataclass
class UnitMeasure:
    """What N units of one kind used, summed."""

    units: int = 0
    dynamodb: DynamoDBUsage = field(default_factory=DynamoDBUsage)
    invocations: list[InvocationRecord] = field(default_factory=list)
    webhooks: int = 0
    published: list[dict[str, Any]] = field(default_factory=list)
    llm_prompt_tokens: int = 0
    llm_completion_tokens: int = 0
    llm_requests: int = 0

    def add(self, usage: DynamoDBUsage, *, new_unit: bool = True) -> None:
        """Fold one unit's DynamoDB usage into the sum."""
        self.units += int(new_unit)
        self.dynamodb.operations.update(usage.operations)
        self.dynamodb.failed.update(usage.failed)
        self.dynamodb.read_units += usage.read_units
        self.dynamodb.write_units += usage.write_units
        self.dynamodb.reported_read_units += usage.reported_read_units
        self.dynamodb.reported_write_units += usage.reported_write_units
        for operation, units in usage.units_by_operation.items():
            totals = self.dynamodb.units_by_operation.setdefault(operation, {"read_units": 0.0, "write_units": 0.0})
            totals["read_units"] += units["read_units"]
            totals["write_units"] += units["write_units"]

    def per_unit(self) -> dict[str, Any]:
        """Averages per unit, for the report."""
        n = max(self.units, 1)
        ops = Counter({name: count / n for name, count in self.dynamodb.operations.items()})
        handled: dict[str, list[InvocationRecord]] = defaultdict(list)
        for record in self.invocations:  # the ingress as one; the others by the event they handled
            ingress = record.function == "IngressFunction"
            handled[record.function if ingress else f"{record.function} ({record.event_type})"].append(record)
        return {
            "units": self.units,
            "dynamodb": {
                "operations": dict(sorted(ops.items())),
                "calls": round(sum(ops.values()), 2),
                "read_units": round(self.dynamodb.read_units / n, 2),
                "write_units": round(self.dynamodb.write_units / n, 2),
                "reported_read_units": round(self.dynamodb.reported_read_units / n, 2),
                "reported_write_units": round(self.dynamodb.reported_write_units / n, 2),
                "failed": {name: count / n for name, count in self.dynamodb.failed.items()},
            },
            "invocations": {
                name: {
                    "count": round(len(records) / n, 2),
                    "mean_ms": round(statistics.fmean(r.duration_ms for r in records), 1),
                    "mean_cpu_ms": round(statistics.fmean(r.cpu_ms for r in records), 1),
                }
                for name, records in sorted(handled.items())
            },
            "webhooks": round(self.webhooks / n, 2),
            "put_events_entries": round(len(self.published) / n, 2),
            "event_size_kb": round(self.event_size_kb(), 2),
            "llm": {
                "requests": round(self.llm_requests / n, 2),
                "input_tokens": round(self.llm_prompt_tokens / n, 1),
                "output_tokens": round(self.llm_completion_tokens / n, 1),
            },
        }

    def event_size_kb(self) -> float:
        """Average size of a bus entry's detail, KB."""
        import json

        sizes = [len(json.dumps(event.get("detail", {}))) for event in self.published]
        return statistics.fmean(sizes) / 1024 if sizes else 0.0

    def usage(self, init_ms: dict[str, float], queued_as_deployed: float = 0.0) -> UnitUsage:
        """UnitUsage for bench.cost (per unit); queued_as_deployed: delayed actions a unit queues as deployed."""
        n = max(self.units, 1)
        functions: dict[str, list[float]] = defaultdict(list)
        for record in self.invocations:
            functions[record.function].append(record.duration_ms)
        consumer = "DelayedActionFunction"
        deployed = (
            (Invocation(consumer, memory_mb(consumer), 1.0, count=queued_as_deployed),) if queued_as_deployed else ()
        )
        return UnitUsage(
            http_requests=self.webhooks / n,
            put_events_entries=len(self.published) / n,
            event_size_kb=self.event_size_kb(),
            invocations=tuple(
                Invocation(
                    function,
                    memory_mb(function),
                    statistics.fmean(times),
                    count=len(times) / n,
                    init_ms=init_ms.get(function, 0.0),
                )
                for function, times in sorted(functions.items())
            )
            + deployed,
            dynamodb_read_units=self.dynamodb.read_units / n,
            dynamodb_write_units=self.dynamodb.write_units / n,
            sqs_requests=SQS_REQUESTS_PER_MESSAGE * queued_as_deployed,
        )

    def tokens(self) -> TokenUsage:
        """LLM tokens per unit (the fake's count: words and punctuation marks)."""
        n = max(self.units, 1)
        return TokenUsage(input_tokens=self.llm_prompt_tokens / n, output_tokens=self.llm_completion_tokens / n)


class Meter:
    """Runs units of work one at a time and adds up what each used."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.clients = harness.dynamodb_clients()
        self._webhook = harness.send
        self.webhooks = 0

    def webhook(self, event_type: str, data: dict[str, Any]) -> int:
        """Send a webhook, counted."""
        self.webhooks += 1
        return self._webhook(event_type, data)

    def unit(self, into: UnitMeasure, work: Callable[[], None], *, new_unit: bool = True) -> None:
        """Run one unit (or, new_unit False, more of the last one) and wait for everything it triggered."""
        stack = self.harness.stack
        records, published = stack.record_count(), len(stack.bus.published)
        llm_calls, webhooks = len(self.harness.replies.calls), self.webhooks
        with consumed_capacity(*self.clients) as usage:
            work()
            stack.wait_idle()
        into.add(usage, new_unit=new_unit)
        into.invocations += stack.records_since(records)
        into.published += stack.bus.published[published:]
        into.webhooks += self.webhooks - webhooks
        for call in self.harness.replies.calls[llm_calls:]:
            into.llm_requests += 1
            into.llm_prompt_tokens += call.prompt_tokens
            into.llm_completion_tokens += call.completion_tokens


def _now() -> str:
    """Now as VoIPBin writes it, to the microsecond (speech events are deduplicated on their time)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _speech(call: Call, event_id: str, message: str = "") -> dict[str, Any]:
    return {
        "id": event_id,
        "customer_id": call.call["customer_id"],
        "streaming_id": call.streaming_id,
        "transcribe_id": call.transcribe_id,
        "direction": "in",
        "message": message,
        "tm_event": _now(),
        "tm_create": _now(),
    }


def _voice_turn(meter: Meter, call: Call, tag: str) -> Callable[[], None]:
    """The webhooks of one caller utterance: speech started, interim results, speech ended, the transcript."""

    def work() -> None:
        harness = meter.harness
        meter.webhook("transcribe_speech_started", _speech(call, str(uuid.uuid4())))
        harness.stack.wait_idle()  # VoIPBin sends it as the caller starts; the transcript comes seconds later
        for index in range(INTERIM_RESULTS):
            meter.webhook("transcribe_speech_interim", _speech(call, str(uuid.uuid4()), f"what are {index}"))
        meter.webhook("transcribe_speech_ended", _speech(call, str(uuid.uuid4())))
        reply = reply_text(tag, 2)
        harness.replies.plan(tag, reply)
        meter.webhook("transcript_created", harness.voipbin.add_transcript(call.transcribe_id, question(tag)))

    return work


def _transcribe_of(harness: Harness, call: Call) -> dict[str, Any]:
    return next(t for t in harness.voipbin.resources("transcribes") if t["id"] == call.transcribe_id)


def measure_usage(
    harness: Harness,
    *,
    turns: int = 10,
    calls: int = 2,
    sms: int = 10,
    cold_start: dict[str, Any] | None = None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Usage per voice turn (after the reply ended, and barging in), per call's other events and per SMS."""
    meter = Meter(harness)
    turn_after_reply, turn_barge_in, call_events, sms_units = UnitMeasure(), UnitMeasure(), UnitMeasure(), UnitMeasure()
    for call_index in range(calls):
        answered: list[Call] = []
        # The usual turn: the caller speaks after the reply (and the greeting) finished playing, so there is
        # nothing to flush. The speech pace is raised so that "finished playing" comes at once, not seconds later.
        with _speech_pace("100000"):
            meter.unit(call_events, _answer(meter, f"+1555300{call_index:04d}", answered))
            call = answered[0]
            for turn in range(turns // 2):
                meter.unit(turn_after_reply, _voice_turn(meter, call, f"ZU{call_index}N{turn}"))
        # Barge-in: the caller talks over the reply while it plays; speech started flushes it. The first such
        # turn follows a reply said at the raised pace (already over), so it is not counted.
        meter.unit(UnitMeasure(), _voice_turn(meter, call, f"ZU{call_index}W"))
        for turn in range(turns // 2, turns):
            meter.unit(turn_barge_in, _voice_turn(meter, call, f"ZU{call_index}N{turn}"))
        meter.unit(call_events, _hang_up(meter, call), new_unit=False)
    log(f"usage: {turn_after_reply.units + turn_barge_in.units} voice turns, {call_events.units} calls")
    threads = max(1, sms // 2)
    for index in range(sms):
        theirs = f"+1555400{index % threads:04d}"
        meter.unit(sms_units, _sms(meter, theirs, f"ZM{index}"))
    log(f"usage: {sms_units.units} SMS")
    init_ms = _init_ms(cold_start)
    inputs = CostInputs(
        voice_turn=turn_after_reply.usage(init_ms),
        call_events=call_events.usage(init_ms),
        sms=sms_units.usage(init_ms, queued_as_deployed=DEPLOYED_SMS_QUEUED_ACTIONS),
        tokens_per_turn=turn_after_reply.tokens(),
        tokens_per_call=call_events.tokens(),
        tokens_per_sms=sms_units.tokens(),
    )
    return {
        "per_voice_turn": turn_after_reply.per_unit(),
        "per_voice_turn_barge_in": turn_barge_in.per_unit(),
        "per_call_non_turn_events": call_events.per_unit(),
        "per_sms": sms_units.per_unit(),
        "webhooks_sent": {
            "voice_turn": f"transcribe_speech_started, {INTERIM_RESULTS} x transcribe_speech_interim, "
            "transcribe_speech_ended, transcript_created",
            "call": "call_created, call_ringing, call_progressing, transcribe_created, call_terminating, "
            "call_hangup, transcribe_done",
            "sms": "message_created (inbound), conversation_message_created (its copy), message_created "
            "(our reply, outbound), message_updated (our reply delivered)",
        },
        "init_ms_from_cold_start": init_ms,
        "deployed_sms_queued_actions": DEPLOYED_SMS_QUEUED_ACTIONS,
        "fake_llm": {"ttft_ms": TTFT_S * 1000, "token_delay_ms": TOKEN_DELAY_S * 1000},
        "cost": price(inputs),
    }


@contextlib.contextmanager
def _speech_pace(chars_per_second: str) -> Iterator[None]:
    """SPEECH_CHARS_PER_SECOND for the functions while the block runs (the settings are cached per container)."""
    from voipbin_ai import config

    saved = os.environ.get("SPEECH_CHARS_PER_SECOND")
    os.environ["SPEECH_CHARS_PER_SECOND"] = chars_per_second
    config.channel_settings.cache_clear()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("SPEECH_CHARS_PER_SECOND", None)
        else:
            os.environ["SPEECH_CHARS_PER_SECOND"] = saved
        config.channel_settings.cache_clear()


def _answer(meter: Meter, caller: str, answered: list[Call]) -> Callable[[], None]:
    """The webhooks of a call being answered; the call is appended to `answered`."""

    def work() -> None:
        harness = meter.harness
        call = harness.voipbin.add_call(caller, OURS)
        meter.webhook("call_created", {**call, "status": "dialing"})
        meter.webhook("call_ringing", {**call, "status": "ringing"})
        meter.webhook("call_progressing", call)
        harness.stack.wait_idle()
        media = harness.observed.wait_call_media(str(call["id"]), 30.0)
        if media is None:
            raise BenchError(f"call {call['id']} was not answered")
        answered.append(Call(call, *media))
        meter.webhook("transcribe_created", _transcribe_of(harness, answered[-1]))

    return work


def _hang_up(meter: Meter, call: Call) -> Callable[[], None]:
    """The webhooks of the caller hanging up."""

    def work() -> None:
        meter.webhook("call_terminating", {**call.call, "status": "terminating"})
        meter.webhook("call_hangup", call.hung_up())
        meter.webhook("transcribe_done", {**_transcribe_of(meter.harness, call), "status": "done"})

    return work


def _sms(meter: Meter, theirs: str, tag: str) -> Callable[[], None]:
    """The webhooks of one inbound SMS and our reply to it."""

    def work() -> None:
        harness = meter.harness
        harness.replies.plan(tag, f"{tag} we are open from eight to six on weekdays.")
        message = {
            "id": str(uuid.uuid4()),
            "customer_id": "5e4a0680-804e-11ec-8477-2fea5968d85b",
            "type": "sms",
            "source": {"type": "tel", "target": theirs},
            "targets": [{"destination": {"type": "tel", "target": OURS}, "status": "received", "parts": 1}],
            "text": question(tag),
            "direction": "inbound",
            "tm_create": _now(),
        }
        sent_before = len(harness.voipbin.sent_messages())
        meter.webhook("message_created", message)
        meter.webhook("conversation_message_created", {"id": message["id"], "text": message["text"]})
        harness.stack.wait_idle()
        for ours in harness.voipbin.sent_messages()[sent_before:]:
            meter.webhook("message_created", ours)
            meter.webhook("message_updated", {**ours, "status": "delivered"})

    return work


def _init_ms(cold_start: dict[str, Any] | None) -> dict[str, float]:
    """Billed INIT per function: interpreter start + handler import, medians of the cold-start runs."""
    if not cold_start:
        return {}
    init: dict[str, float] = {}
    for group in ("ingress", "functions"):
        for name, result in cold_start.get(group, {}).items():
            startup, imported = result.get("startup_ms"), result.get("init_ms")
            if imported:
                init[name] = round((startup or {}).get("median", 0.0) + imported["median"], 1)
    return init
