"""Concurrent calls through the local stack: overhead under load, and every reply said exactly once.

Each level runs N simulated calls at once, each in its own thread: answered (call_progressing, greeting),
then T turns, each waiting for its whole reply, then a random pause (the caller thinking) before the next
utterance, then hung up. A turn's overhead is measured as in bench/turns.py (ingress -> first /say, minus
the fake LLM's time to its first sentence). After the level, every turn's sentences are looked up in what
the simulator was asked to say: a turn none of whose sentences was said is lost, a sentence said twice is
duplicated; turns answered by the fallback line (the LLM's deadline passed) and dead letters are counted
apart.

The calls are spread over one stack process per CPU core (each with its own simulator and fake LLM, all
on the one DynamoDB Local): a single Python process serves about ten turns a second before its GIL is
the bottleneck, where Lambda runs every concurrent invocation in a container of its own. Within a process
the functions still share what a container has once (the voice channel's flush pool of 2 threads, the
boto3 and httpx connection pools), so while a level runs those are widened to the process's calls, and
the loopback servers listen with a deep backlog. The CPU is not widened: every call, DynamoDB Local and
the fakes share this machine's cores, which Lambda would not; how the overhead grows here is a property
of the machine as much as of the code.
"""

import contextlib
import logging
import multiprocessing
import os
import random
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Final

from bench.harness import Call, Harness, running, spoken_pieces, turn_reply
from bench.turns import summarize, turn_timing

LEVELS: Final = (10, 50, 200)
TURNS: Final = 10
# The caller's pause between the end of a reply and the next utterance's transcript, seconds (uniform).
THINK_S: Final = (0.5, 1.5)
TURN_TIMEOUT_S: Final = 60.0
WORKER_START_TIMEOUT_S: Final = 120.0


@dataclass
class CallRun:
    """What one simulated call did."""

    call: Call | None = None
    turns: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (tag, reply, transcript)
    timeouts: int = 0
    error: str | None = None


@contextlib.contextmanager
def lambda_like_pools(size: int) -> Iterator[None]:
    """Per-container pools sized for `size` concurrent invocations while the block runs (module docstring)."""
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
    old_http = voipbin._http
    voipbin._http = httpx2.Client(
        base_url=old_http.base_url,
        timeout=old_http.timeout,
        headers=old_http.headers,
        limits=httpx2.Limits(max_connections=size, max_keepalive_connections=size),
    )
    try:
        yield
    finally:
        voice._background.shutdown(wait=True)
        voipbin._http.close()
        voice._background, store._client, idempotency.client, voipbin._http = saved


def _drive(harness: Harness, run: CallRun, *, level: int, index: int, turns: int, think: tuple[float, float]) -> None:
    rng = random.Random(level * 100_000 + index)
    try:
        time.sleep(rng.uniform(0, think[1]))  # calls start spread out, as they would
        call = harness.answer_call(f"+1555{level:03d}{index:04d}", timeout=TURN_TIMEOUT_S, wait_idle=False)
        run.call = call
        fallback = _fallback_line()
        for turn in range(turns):
            time.sleep(rng.uniform(*think))
            tag = f"ZL{level}C{index}N{turn}"
            reply = turn_reply(tag, turn)
            sent = time.monotonic()
            transcript = harness.say_turn(call, tag, reply)
            run.turns.append((tag, reply, transcript))
            # The reply's last sentence, or the fallback line when the LLM's deadline passed.
            ends = (spoken_pieces(reply)[-1], fallback)
            if not harness.observed.wait_said(call.speaking_id, ends, TURN_TIMEOUT_S, after=sent):
                run.timeouts += 1
        harness.send("call_hangup", call.hung_up())
    except Exception as error:  # reported with the level, never fatal to the benchmark
        run.error = f"{type(error).__name__}: {error}"


def run_slice(
    harness: Harness, level: int, indices: Sequence[int], turns: int, think: tuple[float, float]
) -> dict[str, Any]:
    """Some calls of a level, in this process: raw samples and counts, merged by measure_scale."""
    fallback = _fallback_line()
    dead_before = len(harness.stack.dead_letters)
    runs = [CallRun() for _ in indices]
    cpu_before, started = time.process_time(), time.monotonic()
    with lambda_like_pools(len(indices) + 8):
        threads = [
            threading.Thread(
                target=_drive,
                args=(harness, run),
                kwargs={"level": level, "index": index, "turns": turns, "think": think},
                daemon=True,
            )
            for index, run in zip(indices, runs, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        harness.stack.wait_idle()
    part: dict[str, Any] = {
        "overhead_ms": [],
        "end_to_end_ms": [],
        "turns_sent": sum(len(run.turns) for run in runs),
        "lost_replies": 0,
        "duplicated_sentences": 0,
        "replies_cut_short": 0,
        "fallback_lines": 0,
        "turn_timeouts": sum(run.timeouts for run in runs),
        "dead_letters": len(harness.stack.dead_letters) - dead_before,
        "call_errors": [run.error for run in runs if run.error],
        "lost_details": [],
        "stages_ms": {"to_function_ms": [], "to_llm_ms": [], "after_llm_ms": []},
        "cpu_s": time.process_time() - cpu_before,
        "wall_s": time.monotonic() - started,
    }
    for run in runs:
        if run.call is None:
            continue
        timeline = harness.observed.said(run.call.speaking_id)
        said = [text for _, text in timeline]
        starts = [harness.stack.ingress_received.get(str(transcript["id"]), 0.0) for _, _, transcript in run.turns]
        for number, (tag, reply, transcript) in enumerate(run.turns):
            counts = [said.count(piece) for piece in spoken_pieces(reply)]
            if not any(counts):
                # Between this turn's transcript and the next one's: the fallback line, or nothing (lost).
                until = starts[number + 1] if number + 1 < len(starts) else float("inf")
                if any(text == fallback and starts[number] <= at < until for at, text in timeline):
                    part["fallback_lines"] += 1
                else:
                    part["lost_replies"] += 1
                    part["lost_details"].append(_lost_detail(harness, run.call, tag, transcript))
                continue
            part["duplicated_sentences"] += sum(1 for count in counts if count > 1)
            part["replies_cut_short"] += 0 if all(counts) else 1
            if counts[0]:
                timing = turn_timing(harness, run.call, transcript, tag, reply)
                part["overhead_ms"].append(timing.overhead_ms)
                part["end_to_end_ms"].append(timing.end_to_end_ms)
                for stage, values in part["stages_ms"].items():
                    value = getattr(timing, stage)
                    if value is not None:
                        values.append(value)
    return part


def _lost_detail(harness: Harness, call: Call, tag: str, transcript: dict[str, Any]) -> dict[str, Any]:
    """What is known of a turn whose reply was never said, for the report."""
    transcript_id = str(transcript["id"])
    received = harness.stack.ingress_received.get(transcript_id)
    invocations = [r for r in harness.stack.records if r.data_id == transcript_id]
    return {
        "tag": tag,
        "ingress_received": received is not None,
        "function_invocations": [
            {"function": r.function, "duration_ms": round(r.duration_ms, 1)}
            for r in invocations
            if r.function != "IngressFunction"
        ],
        "ingress_answer": harness.stack.ingress_answers.get(transcript_id),
        "published": sum(
            1
            for event in list(harness.stack.bus.published)
            if (event.get("detail") or {}).get("data", {}).get("id") == transcript_id
        ),
        "llm_requested": harness.replies.first_request_at(tag, received or 0.0) is not None,
        "said_after": [text for at, text in harness.observed.said(call.speaking_id) if received and at >= received][:4],
    }


def _fallback_line() -> str:
    from voipbin_ai.config import agent_config

    return agent_config().channels.voice.fallback


def _worker(connection: Connection, dynamodb_url: str, workers: int) -> None:
    """A stack process: runs the slices it is sent until it is sent None."""
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    with running(workers=workers, dynamodb_url=dynamodb_url) as harness:
        run_slice(harness, 0, [0], 2, (0.0, 0.0))  # warm: the LLM client's first import and connections
        connection.send("ready")
        while (task := connection.recv()) is not None:
            try:
                connection.send(run_slice(harness, *task))
            except Exception as error:
                connection.send({"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()})


class Workers:
    """One stack process per core, started once for every level."""

    def __init__(self, dynamodb_url: str, processes: int, max_calls: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.connections: list[Connection] = []
        self.processes = []
        for _ in range(processes):
            ours, theirs = context.Pipe()
            workers = max_calls // processes + 48  # bus workers: every call's turn, answer and hangup at once
            process = context.Process(target=_worker, args=(theirs, dynamodb_url, workers), daemon=True)
            process.start()
            self.connections.append(ours)
            self.processes.append(process)
        for connection in self.connections:
            try:
                ready = connection.poll(WORKER_START_TIMEOUT_S) and connection.recv() == "ready"
            except EOFError:
                ready = False
            if not ready:
                self.close()
                raise RuntimeError("a stack process did not start (see its output above)")

    def run(self, level: int, turns: int, think: tuple[float, float]) -> list[dict[str, Any]]:
        """A level's calls, dealt round-robin to the processes; their partial results."""
        count = len(self.connections)
        for offset, connection in enumerate(self.connections):
            connection.send((level, list(range(offset, level, count)), turns, think))
        return [connection.recv() for connection in self.connections]

    def close(self) -> None:
        """Stop the processes."""
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.send(None)
        for process in self.processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()


def merge(
    level: int, turns: int, think: tuple[float, float], parts: list[dict[str, Any]], wall: float
) -> dict[str, Any]:
    """One level's result from its processes' parts."""
    errors = [part["error"] for part in parts if "error" in part]
    parts = [part for part in parts if "error" not in part]
    overheads = [value for part in parts for value in part["overhead_ms"]]
    end_to_end = [value for part in parts for value in part["end_to_end_ms"]]
    counted = ("turns_sent", "lost_replies", "duplicated_sentences", "replies_cut_short", "fallback_lines")
    totals = {key: sum(part[key] for part in parts) for key in (*counted, "turn_timeouts", "dead_letters")}
    call_errors = [error for part in parts for error in part["call_errors"]]
    stages = {
        stage: summarize(values)
        for stage in ("to_function_ms", "to_llm_ms", "after_llm_ms")
        if (values := [value for part in parts for value in part["stages_ms"][stage]])
    }
    return {
        "calls": level,
        "turns_per_call": turns,
        "think_s": list(think),
        "processes": len(parts) + len(errors),
        **totals,
        "turns_measured": len(overheads),
        "overhead_ms": summarize(overheads) if overheads else None,
        "end_to_end_ms": summarize(end_to_end) if end_to_end else None,
        "stages_ms": stages,
        "lost_details": [detail for part in parts for detail in part["lost_details"]][:20],
        "calls_failed": len(call_errors),
        "call_errors": call_errors[:5],
        "process_errors": errors,
        "wall_s": round(wall, 1),
        "turns_per_s": round(totals["turns_sent"] / wall, 1),
        "stack_cpu_share": round(sum(part["cpu_s"] for part in parts) / wall, 2),
        "samples": {"overhead_ms": overheads},
    }


def measure_scale(
    dynamodb_url: str,
    levels: Sequence[int] = LEVELS,
    *,
    turns: int = TURNS,
    think: tuple[float, float] = THINK_S,
    processes: int | None = None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Every level in turn, and how the overhead grows from the smallest to the largest."""
    count = processes or max(1, min(os.cpu_count() or 1, 4))
    log(f"scale: starting {count} stack process(es)")
    workers = Workers(dynamodb_url, count, max(levels))
    results = []
    try:
        for calls in levels:
            started = time.monotonic()
            result = merge(calls, turns, think, workers.run(calls, turns, think), time.monotonic() - started)
            overhead = result["overhead_ms"] or {}
            log(
                f"scale: {calls} calls: overhead p50 {overhead.get('p50')} ms, p95 {overhead.get('p95')} ms, "
                f"lost {result['lost_replies']}, duplicated {result['duplicated_sentences']} ({result['wall_s']} s)"
            )
            results.append(result)
    finally:
        workers.close()
    growth: dict[str, Any] = {}
    first, last = results[0]["overhead_ms"], results[-1]["overhead_ms"]
    if first and last:
        growth = {
            "from_calls": results[0]["calls"],
            "to_calls": results[-1]["calls"],
            **{f"{q}_ratio": round(last[q] / first[q], 2) if first[q] > 0 else None for q in ("p50", "p95", "p99")},
        }
    return {"processes": count, "levels": results, "growth": growth}
