"""Concurrent calls on one stack process per core: overhead under load, every reply said once (section 5)."""

import contextlib
import json
import logging
import multiprocessing
import os
import random
import time
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Final

from bench.harness import OURS, Call, Harness, log, running, spoken_pieces, stage_summaries, summarize, turn_reply

THINK_S: Final = (0.5, 1.5)  # the caller's pause before the next utterance, uniform
TURN_TIMEOUT_S: Final = 60.0
COUNTED: Final = ("turns_sent", "lost_replies", "duplicated_sentences", "replies_cut_short", "fallback_lines")


@dataclass
class CallRun:
    """What one simulated call did: (tag, reply, transcript) per turn."""

    call: Call | None = None
    turns: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    error: str | None = None


@contextlib.contextmanager
def lambda_like_pools(size: int) -> Iterator[None]:
    """Per-container pools sized for `size` concurrent invocations while the block runs."""
    import boto3
    import httpx2
    from botocore.config import Config

    from voipbin_ai.logic import voice
    from voipbin_ai.store.dynamodb import get_store
    from voipbin_ai.store.idempotency import _persistence_layer
    from voipbin_ai.voipbin.client import get_client

    store, idempotency, voipbin = get_store(), _persistence_layer(), get_client()
    saved = (voice._background, store.client, idempotency.client, voipbin._http)
    config = Config(max_pool_connections=size)
    voice._background = ThreadPoolExecutor(max_workers=size, thread_name_prefix="flush")
    store._client = boto3.client("dynamodb", config=config)
    idempotency.client = boto3.client("dynamodb", config=config)
    limits = httpx2.Limits(max_connections=size, max_keepalive_connections=size)
    old = voipbin._http
    voipbin._http = httpx2.Client(base_url=old.base_url, timeout=old.timeout, headers=old.headers, limits=limits)
    try:
        yield
    finally:
        voice._background.shutdown(wait=True)
        voipbin._http.close()
        voice._background, store._client, idempotency.client, voipbin._http = saved


def _fallback_line() -> str:
    from voipbin_ai.config import agent_config

    agent = agent_config().of_number(OURS)
    assert agent is not None, "the benchmarks' number has an agent"
    return agent.channels.voice.fallback


def _drive(harness: Harness, run: CallRun, *, level: int, index: int, turns: int, think: tuple[float, float]) -> None:
    rng = random.Random(level * 100_000 + index)
    try:
        time.sleep(rng.uniform(0, think[1]))  # calls start spread out
        run.call = harness.answer_call(f"+1555{level:03d}{index:04d}", timeout=TURN_TIMEOUT_S, wait_idle=False)
        for turn in range(turns):
            time.sleep(rng.uniform(*think))
            tag = f"ZL{level}C{index}N{turn}"
            reply = turn_reply(tag, turn)
            sent = time.monotonic()
            run.turns.append((tag, reply, harness.say_turn(run.call, tag, reply)))
            ends = (spoken_pieces(reply)[-1], _fallback_line())
            harness.voipbin.wait_said(run.call.speaking_id, ends, TURN_TIMEOUT_S, after=sent)
        harness.send("call_hangup", run.call.hung_up())
    except Exception as error:  # counted with the level, never fatal to the benchmark
        run.error = f"{type(error).__name__}: {error}"


def run_slice(
    harness: Harness, level: int, indices: Sequence[int], turns: int, think: tuple[float, float]
) -> dict[str, Any]:
    """Some calls of a level, in this process: samples and counts, merged by `merge`."""
    fallback = _fallback_line()
    dead_before = len(harness.stack.dead_letters)
    runs = [CallRun() for _ in indices]
    cpu_before = time.process_time()
    with lambda_like_pools(len(indices) + 8):
        with ThreadPoolExecutor(len(indices), thread_name_prefix="call") as calls:
            for index, run in zip(indices, runs, strict=True):
                calls.submit(_drive, harness, run, level=level, index=index, turns=turns, think=think)
        harness.stack.wait_idle()  # what the calls set off still runs on the widened pools
    part: dict[str, Any] = dict.fromkeys(COUNTED, 0) | {"overhead_ms": [], "end_to_end_ms": [], "stages": []}
    part |= {"lost": [], "dead_letters": len(harness.stack.dead_letters) - dead_before}
    part |= {"call_errors": [run.error for run in runs if run.error], "cpu_s": time.process_time() - cpu_before}
    for run in runs:
        if run.call is None:
            continue
        timeline = harness.voipbin.said(run.call.speaking_id)
        said = [text for _, text in timeline]
        starts = [harness.stack.ingress_received(str(transcript["id"])) or 0.0 for *_, transcript in run.turns]
        starts.append(float("inf"))
        part["turns_sent"] += len(run.turns)
        for number, (tag, reply, transcript) in enumerate(run.turns):
            counts = [said.count(piece) for piece in spoken_pieces(reply)]
            if not any(counts):  # between this transcript and the next: the fallback line, or nothing
                if any(text == fallback and starts[number] <= at < starts[number + 1] for at, text in timeline):
                    part["fallback_lines"] += 1
                else:
                    part["lost_replies"] += 1
                    part["lost"].append(_lost(harness, tag, str(transcript["id"])))
                continue
            part["duplicated_sentences"] += sum(1 for count in counts if count > 1)
            part["replies_cut_short"] += 0 if all(counts) else 1
            if counts[0]:
                timing = harness.turn_timing(run.call, transcript, tag, reply)
                part["overhead_ms"].append(timing.overhead_ms)
                part["end_to_end_ms"].append(timing.end_to_end_ms)
                part["stages"].append(timing.stages)
    return part


def _lost(harness: Harness, tag: str, transcript_id: str) -> dict[str, Any]:
    """What is known of a turn whose reply was never said."""
    received = harness.stack.ingress_received(transcript_id)
    return {
        "tag": tag,
        "ingress_received": received is not None,
        # A transcript travels the voice events queue, not the bus.
        "published": sum(
            1
            for sent in harness.stack.queues.sent_to("VoiceEventsQueue")
            if json.loads(sent["body"])["data"].get("id") == transcript_id
        ),
        "invocations_ms": [
            round(r.duration_ms)
            for r in harness.stack.records
            if r.data_id == transcript_id and r.function != "IngressFunction"
        ],
        "llm_asked": harness.first_request_at(tag, received or 0.0) is not None,
    }


def _worker(connection: Connection, dynamodb_url: str, workers: int) -> None:
    """A stack process: runs the slices it is sent until it is sent None."""
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    with running(workers=workers, dynamodb_url=dynamodb_url) as harness:
        run_slice(harness, 0, [0], 2, (0.0, 0.0))  # warm: the LLM client's import and connections
        connection.send("ready")
        while (task := connection.recv()) is not None:
            try:
                connection.send(run_slice(harness, *task))
            except Exception as error:
                connection.send({"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()})


def merge(level: int, parts: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    """One level's result from its processes' parts."""
    good = [part for part in parts if "error" not in part]
    overhead = [value for part in good for value in part["overhead_ms"]]
    end_to_end = [value for part in good for value in part["end_to_end_ms"]]
    totals = {key: sum(part[key] for part in good) for key in (*COUNTED, "dead_letters")}
    return {
        "calls": level,
        **totals,
        "overhead_ms": summarize(overhead) if overhead else None,
        "end_to_end_ms": summarize(end_to_end) if end_to_end else None,
        "stages_ms": stage_summaries([stage for part in good for stage in part["stages"]]),
        "lost": [lost for part in good for lost in part["lost"]][:20],
        "calls_failed": sum(len(part["call_errors"]) for part in good),
        "errors": [part["error"] for part in parts if "error" in part]
        + [error for part in good for error in part["call_errors"]][:5],
        "turns_per_s": round(totals["turns_sent"] / wall, 1),
        "stack_cpu_share": round(sum(part["cpu_s"] for part in good) / wall, 2),
        "samples_ms": overhead,
    }


def measure_scale(dynamodb_url: str, levels: Sequence[int], *, turns: int) -> dict[str, Any]:
    """Every level in turn, on one stack process per core (at most 4)."""
    count = max(1, min(os.cpu_count() or 1, 4))
    context = multiprocessing.get_context("spawn")
    pipes = [context.Pipe() for _ in range(count)]
    workers = max(levels) // count + 48  # bus workers: every call's turn, answer and hangup at once
    processes = [
        context.Process(target=_worker, args=(theirs, dynamodb_url, workers), daemon=True) for _, theirs in pipes
    ]
    log(f"scale: starting {count} stack process(es)")
    for process in processes:
        process.start()
    results = []
    try:
        for ours, _ in pipes:
            if not ours.poll(120) or ours.recv() != "ready":
                raise RuntimeError("a stack process did not start (see its output)")
        for calls in levels:
            started = time.monotonic()
            for offset, (ours, _) in enumerate(pipes):
                ours.send((calls, list(range(offset, calls, count)), turns, THINK_S))
            result = merge(calls, [ours.recv() for ours, _ in pipes], time.monotonic() - started)
            log(f"scale: {calls} calls: overhead {result['overhead_ms']}, lost {result['lost_replies']}")
            results.append(result)
    finally:
        for ours, _ in pipes:
            with contextlib.suppress(OSError):
                ours.send(None)
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
    return {"processes": count, "turns_per_call": turns, "think_s": list(THINK_S), "levels": results}
