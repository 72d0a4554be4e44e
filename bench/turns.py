"""Voice turns on the local stack, one at a time: overhead, streaming gain, usage and cost (BENCHMARKS.md 1, 2, 4)."""

import contextlib
import json
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Final
from unittest import mock

from bench.cost import Assumptions, DynamoDBUsage, Invocation, UnitUsage, consumed_capacity, price
from bench.harness import (
    BASELINE_HEADER,
    OURS,
    Call,
    Harness,
    InvocationRecord,
    completion_seconds,
    first_piece_seconds,
    log,
    ms,
    question,
    reply_text,
    stage_summaries,
    summarize,
    turn_reply,
)
from local.fake_openai import CHAT_PATH, tokenize
from local.stack import function_limits
from voipbin_ai import config

STREAMING_SIZES: Final = (1, 3, 6)
# Besides transcript_created, VoIPBin sends speech started (the transcript function: barge-in), interim
# results and speech ended (dropped at the ingress) for each utterance: an assumption on its behaviour.
INTERIM_RESULTS: Final = 3
# A queued message is three SQS requests: send, receive, delete. As deployed, each unit queues one delayed
# action (then DelayedActionFunction): an SMS's answer after its burst window (SMS_BURST_SECONDS=1; the runs
# use 0, the same work in the SMS function), the silence check after a call's greeting and after each reply
# (the runs turn it off; a caller who speaks in time makes it moot, so it does almost nothing). The voice
# events the ingress queues (VoiceEventsQueue) are counted as the runs send them.
SQS_REQUESTS_PER_MESSAGE: Final = 3
VOICE_EVENTS_QUEUE: Final = "VoiceEventsQueue"


def measure_overhead(harness: Harness, *, calls: int, turns: int) -> dict[str, Any]:
    """Calls of turns one after another (2 or 3 sentences a reply), each waited for; calls left open."""
    _warm_up(harness)
    timings = []
    for index in range(calls):
        call = harness.answer_call(f"+1555100{index:04d}")
        for turn in range(turns):
            tag = f"ZO{index}N{turn}"
            timings.append(harness.timed_turn(call, tag, turn_reply(tag, turn)))
        log(f"turn overhead: {len(timings)} turns")
    return {
        "calls": calls,
        "turns_per_call": turns,
        "overhead_ms": summarize([t.overhead_ms for t in timings]),
        "end_to_end_ms": summarize([t.end_to_end_ms for t in timings]),
        "llm_first_sentence_ms": summarize([t.llm_first_piece_ms for t in timings]),
        "stages_ms": stage_summaries([t.stages for t in timings]),
        "samples_ms": [t.overhead_ms for t in timings],
    }


def _warm_up(harness: Harness) -> None:
    """A call of two turns, not measured: a process's first turn imports the LLM client and connects."""
    call = harness.answer_call("+15551009999")
    for turn in range(2):
        harness.say_turn(call, f"ZW{turn}", reply_text(f"ZW{turn}", 2))
        harness.stack.wait_idle()
    harness.send("call_hangup", call.hung_up())
    harness.stack.wait_idle()


def measure_streaming(harness: Harness, *, repetitions: int) -> dict[str, Any]:
    """Streaming and baseline interleaved, for replies of 1, 3 and 6 sentences; medians."""
    import httpx2
    import openai

    calls = {size: harness.answer_call(f"+1555200{size:04d}") for size in STREAMING_SIZES}
    speaking = harness.answer_call("+15552009999").speaking_id
    streamed: dict[int, list[float]] = defaultdict(list)
    whole: dict[int, list[float]] = defaultdict(list)
    headers = {"Authorization": f"Bearer {harness.voipbin.token}"}
    with (
        openai.OpenAI(base_url=harness.llm.base_url, api_key="bench-key", max_retries=0, timeout=30) as llm,
        httpx2.Client(base_url=harness.voipbin.base_url + "/", headers=headers, timeout=30) as voipbin,
    ):

        def baseline_ms(tag: str, reply: str) -> float:
            """A usual webhook bot with nothing in between: the whole completion, then one /say of all of it."""
            harness.replies.plan(tag, reply)
            started = time.monotonic()
            completion = llm.chat.completions.create(
                model="bench-model",
                messages=[{"role": "user", "content": question(tag)}],
                extra_headers={BASELINE_HEADER: tag},
            )
            text = completion.choices[0].message.content or ""
            voipbin.post(f"speakings/{speaking}/say", json={"text": text}).raise_for_status()
            return ms(next(at for at, said in harness.voipbin.said(speaking) if said == text) - started)

        for repetition in range(repetitions + 1):  # the first warms each call and the baseline's connections
            for size in STREAMING_SIZES:
                tag = f"ZS{size}N{repetition}"
                streaming_ms = harness.timed_turn(calls[size], tag, reply_text(tag, size)).end_to_end_ms
                baseline = baseline_ms(f"ZB{size}N{repetition}", reply_text(tag, size))
                if repetition:
                    streamed[size].append(streaming_ms)
                    whole[size].append(baseline)
    log(f"streaming gain: {repetitions} repetitions of {len(STREAMING_SIZES)} sizes")
    sizes = []
    for size in STREAMING_SIZES:
        reply = reply_text("ZS0N0", size)
        streaming, whole_ms = statistics.median(streamed[size]), statistics.median(whole[size])
        sizes.append(
            {
                "sentences": size,
                "reply_tokens": len(tokenize(reply)),
                "llm_first_sentence_ms": ms(first_piece_seconds(reply)),
                "llm_whole_reply_ms": ms(completion_seconds(reply)),
                "streaming_first_say_ms": round(streaming, 1),
                "baseline_first_say_ms": round(whole_ms, 1),
                "ratio": round(whole_ms / streaming, 2),
                "streaming_samples_ms": streamed[size],
                "baseline_samples_ms": whole[size],
            }
        )
    return {"repetitions": repetitions, "sizes": sizes}


@dataclass
class UnitMeasure:
    """What N units of one kind used, summed."""

    units: int = 0
    dynamodb: DynamoDBUsage = field(default_factory=DynamoDBUsage)
    invocations: list[InvocationRecord] = field(default_factory=list)
    published: list[dict[str, Any]] = field(default_factory=list)
    queued_voice_events: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def webhooks(self) -> int:
        """Webhooks sent: each is one invocation of the ingress."""
        return sum(record.function == "IngressFunction" for record in self.invocations)

    def per_unit(self) -> dict[str, Any]:
        """Averages per unit, for the report."""
        n = max(self.units, 1)
        handled: dict[str, list[InvocationRecord]] = defaultdict(list)
        for record in self.invocations:  # the ingress as one; the others by the event they handled
            name = record.function.removesuffix("Function")
            handled[name if name == "Ingress" else f"{name} ({record.event_type or 'warm-up'})"].append(record)
        return {
            "units": self.units,
            "dynamodb_operations": {name: count / n for name, count in sorted(self.dynamodb.operations.items())},
            "dynamodb_calls": self.dynamodb.operations.total() / n,
            "read_units": round(self.dynamodb.read_units / n, 2),
            "write_units": round(self.dynamodb.write_units / n, 2),
            "invocations": {
                name: {
                    "count": len(records) / n,
                    "mean_ms": round(statistics.fmean(r.duration_ms for r in records), 1),
                    "mean_cpu_ms": round(statistics.fmean(r.cpu_ms for r in records), 1),
                }
                for name, records in sorted(handled.items())
            },
            "webhooks": self.webhooks / n,
            "put_events_entries": len(self.published) / n,
            "queued_voice_events": self.queued_voice_events / n,
            "input_tokens": round(self.prompt_tokens / n, 1),
            "output_tokens": round(self.completion_tokens / n, 1),
        }

    def usage(self, init_ms: dict[str, float]) -> UnitUsage:
        """One unit's UnitUsage for bench.cost, with the one delayed action each unit queues as deployed."""
        n = max(self.units, 1)
        times: dict[str, list[float]] = defaultdict(list)
        for record in self.invocations:
            times[record.function].append(record.duration_ms)
        memory = {function: limits[0] for function, limits in function_limits().items()}
        sizes = [len(json.dumps(event.get("detail", {}))) / 1024 for event in self.published]  # bus entries' KB
        invocations = [
            Invocation(f, memory[f], statistics.fmean(t), len(t) / n, init_ms.get(f, 0.0))
            for f, t in sorted(times.items())
        ]
        consumer = "DelayedActionFunction"
        invocations.append(Invocation(consumer, memory[consumer], 1.0, init_ms=init_ms.get(consumer, 0.0)))
        return UnitUsage(
            http_requests=self.webhooks / n,
            put_events_entries=len(self.published) / n,
            event_size_kb=statistics.fmean(sizes) if sizes else 0.0,
            invocations=tuple(invocations),
            dynamodb_read_units=self.dynamodb.read_units / n,
            dynamodb_write_units=self.dynamodb.write_units / n,
            sqs_requests=SQS_REQUESTS_PER_MESSAGE * (1 + self.queued_voice_events / n),
            input_tokens=self.prompt_tokens / n,
            output_tokens=self.completion_tokens / n,
        )


class Meter:
    """Runs units of work one at a time, each waited for, and adds up what each used."""

    def __init__(self, harness: Harness) -> None:
        from voipbin_ai.store.dynamodb import get_store
        from voipbin_ai.store.idempotency import _persistence_layer

        self.harness, self.voipbin, self.send = harness, harness.voipbin, harness.send
        self.clients = get_store().client, _persistence_layer().client  # those the functions use here

    @contextlib.contextmanager
    def unit(self, into: UnitMeasure, *, new_unit: bool = True) -> Iterator[None]:
        """The block is one unit (or, new_unit False, more of the last one): it and all it set off, counted."""
        stack, llm = self.harness.stack, self.harness.llm
        records, published, requests = len(stack.records), len(stack.bus.published), len(llm.requests(CHAT_PATH))
        queued = len(stack.queues.sent_to(VOICE_EVENTS_QUEUE))
        with consumed_capacity(*self.clients) as usage:
            yield
            stack.wait_idle()
        into.units += int(new_unit)
        into.dynamodb += usage
        into.invocations += stack.records[records:]
        into.published += stack.bus.published[published:]
        into.queued_voice_events += len(stack.queues.sent_to(VOICE_EVENTS_QUEUE)) - queued
        for request in llm.requests(CHAT_PATH)[requests:]:
            contents = [m["content"] for m in request.messages if isinstance(m.get("content"), str)]
            into.prompt_tokens += sum(len(tokenize(content)) for content in contents)
            into.completion_tokens += len(tokenize(self.harness.replies.text(request)))

    def voice_turn(self, call: Call, tag: str) -> None:
        """One utterance's webhooks: speech started, interim results, speech ended, the transcript."""
        speech = self.voipbin.speech_started  # the data of every speech event
        self.send("transcribe_speech_started", speech(call.transcribe_id))
        self.harness.stack.wait_idle()  # sent as the caller starts; the transcript comes seconds later
        for index in range(INTERIM_RESULTS):
            self.send("transcribe_speech_interim", speech(call.transcribe_id) | {"message": f"what are {index}"})
        self.send("transcribe_speech_ended", speech(call.transcribe_id))
        self.harness.replies.plan(tag, reply_text(tag, 2))
        self.send("transcript_created", self.voipbin.add_transcript(call.transcribe_id, question(tag)))

    def answer(self, caller: str) -> Call:
        """A call's webhooks until it is answered, its greeting said, and its transcribe created."""
        call = self.harness.answer_call(caller, ringing=True)
        self.send("transcribe_created", self._transcribe(call.transcribe_id))
        return call

    def hang_up(self, call: Call) -> None:
        """The caller hanging up."""
        self.send("call_terminating", {**call.call, "status": "terminating"})
        self.send("call_hangup", call.hung_up())
        self.send("transcribe_done", {**self._transcribe(call.transcribe_id), "status": "done"})

    def _transcribe(self, transcribe_id: str) -> dict[str, Any]:
        return next(t for t in self.voipbin.resources("transcribes") if t["id"] == transcribe_id)

    def sms(self, theirs: str, tag: str) -> None:
        """An inbound SMS and its conversation copy, our reply, and the webhooks of our own reply."""
        self.harness.replies.plan(tag, f"{tag} we are open from eight to six on weekdays.")
        message = self.voipbin.inbound_sms(theirs, OURS, question(tag))
        sent_before = len(self.voipbin.sent_messages())
        self.send("message_created", message)
        self.send("conversation_message_created", {"id": message["id"], "text": message["text"]})
        self.harness.stack.wait_idle()
        for ours in self.voipbin.sent_messages()[sent_before:]:
            self.send("message_created", ours)
            self.send("message_updated", {**ours, "status": "delivered"})


def measure_usage(harness: Harness, *, turns: int, calls: int, sms: int, init_ms: dict[str, float]) -> dict[str, Any]:
    """Usage per voice turn (after the reply ended, and barging in), per call's other events, per SMS."""
    meter = Meter(harness)
    after_reply, barge_in, call_events, sms_units = UnitMeasure(), UnitMeasure(), UnitMeasure(), UnitMeasure()
    for index in range(calls):
        # After the reply: the pace is raised so that the reply has finished playing at once (nothing to flush).
        with mock.patch.dict(os.environ, SPEECH_CHARS_PER_SECOND="100000"):
            config.channel_settings.cache_clear()  # settings are cached per container
            with meter.unit(call_events):
                call = meter.answer(f"+1555300{index:04d}")
            for turn in range(turns // 2):
                with meter.unit(after_reply):
                    meter.voice_turn(call, f"ZU{index}N{turn}")
        config.channel_settings.cache_clear()
        # Barging in: speech started flushes the reply still playing. The first such turn follows a reply
        # said at the raised pace (already over), so it is not counted.
        with meter.unit(UnitMeasure()):
            meter.voice_turn(call, f"ZU{index}W")
        for turn in range(turns // 2, turns):
            with meter.unit(barge_in):
                meter.voice_turn(call, f"ZU{index}N{turn}")
        with meter.unit(call_events, new_unit=False):
            meter.hang_up(call)
    log(f"usage: {after_reply.units + barge_in.units} voice turns, {call_events.units} calls")
    for index in range(sms):
        with meter.unit(sms_units):
            meter.sms(f"+1555400{index % max(1, sms // 2):04d}", f"ZM{index}")
    log(f"usage: {sms_units.units} SMS")
    assumptions = Assumptions()
    units = {"voice turn": after_reply, "voice turn, barging in": barge_in, "call": call_events, "SMS": sms_units}
    return {
        "units": {name: unit.per_unit() for name, unit in units.items()},
        "init_ms": init_ms,
        "assumptions": asdict(assumptions),
        "cost": price(after_reply.usage(init_ms), call_events.usage(init_ms), sms_units.usage(init_ms), assumptions),
    }
