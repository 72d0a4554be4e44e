"""The whole benchmark suite (`make bench`): bench/results.json, the plots, and BENCHMARKS.md's tables.

    python -m bench.run [--quick] [--cold-start-runs N] [--no-cold-start] [--show-logs]

A phase that fails is recorded with its error, the others still run, and the exit status is 1.
"""

import argparse
import contextlib
import json
import os
import platform
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cold_start, harness, scale, turns
from bench.harness import log
from bench.plot import latency_plot
from bench.report import update
from local.template import REPO_ROOT

BENCH_DIR = Path(__file__).resolve().parent
MARKDOWN = REPO_ROOT / "BENCHMARKS.md"
FUNCTION_LOG = BENCH_DIR / "functions.log"


@dataclass(frozen=True)
class Plan:
    """How much of each phase to run."""

    quick: bool = False
    cold_start_runs: int = 1
    overhead_calls: int = 20
    overhead_turns: int = 10
    streaming_repetitions: int = 6
    usage_turns: int = 10
    usage_calls: int = 2
    usage_sms: int = 10
    scale_levels: tuple[int, ...] = (10, 50, 200)
    scale_turns: int = 10


QUICK = Plan(True, 1, 3, 4, 2, 4, 1, 2, (3, 6, 12), 3)


def _proc(path: str, key: str, default: str) -> str:
    """A value of /proc/cpuinfo or /proc/meminfo."""
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    return default


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": _proc("/proc/cpuinfo", "model name", platform.machine()),
        "cpus": os.cpu_count(),
        "memory": f"{int(_proc('/proc/meminfo', 'MemTotal', '0 kB').split()[0]) / 1024**2:.1f} GiB",
        "platform": platform.platform(terse=True),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load_average": round(os.getloadavg()[0], 2),
    }


def phase(results: dict[str, Any], name: str, work: Callable[[], dict[str, Any]]) -> None:
    """Run one phase into results[name]; a failure is recorded, not raised."""
    started = time.monotonic()
    log(f"{name}: start")
    try:
        results[name] = work()
    except Exception as error:
        results[name] = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(limit=8)}
        log(f"{name}: FAILED: {type(error).__name__}: {error}")
    log(f"{name}: done in {time.monotonic() - started:.0f} s")


def billed_init_ms(cold_start: dict[str, Any]) -> dict[str, float]:
    """INIT billed per function on a cold start: interpreter start plus the handler's import (shipped)."""
    return {
        name: round((result["shipped"]["startup_ms"] or 0.0) + result["shipped"]["init_ms"], 1)
        for name, result in cold_start.get("functions", {}).items()
        if result.get("shipped", {}).get("init_ms") is not None
    }


def run(plan: Plan, *, cold_starts: bool = True) -> dict[str, Any]:
    """Every phase; the results as written to results.json."""
    started = time.monotonic()
    results: dict[str, Any] = {
        "environment": machine(),
        "plan": asdict(plan),
        "llm": {"ttft_ms": harness.TTFT_S * 1000, "token_delay_ms": harness.TOKEN_DELAY_S * 1000},
    }
    if cold_starts:
        phase(results, "cold_start", lambda: cold_start.measure(plan.cold_start_runs))
    init_ms = billed_init_ms(results.get("cold_start", {}))
    with harness.running(workers=32) as bench:
        overhead = {"calls": plan.overhead_calls, "turns": plan.overhead_turns}
        phase(results, "turn_overhead", lambda: turns.measure_overhead(bench, **overhead))
        phase(results, "streaming", lambda: turns.measure_streaming(bench, repetitions=plan.streaming_repetitions))
        usage = {"turns": plan.usage_turns, "calls": plan.usage_calls, "sms": plan.usage_sms}
        phase(results, "usage", lambda: turns.measure_usage(bench, **usage, init_ms=init_ms))
        dynamodb_url = bench.stack.environment["AWS_ENDPOINT_URL_DYNAMODB"]
        phase(results, "scale", lambda: scale.measure_scale(dynamodb_url, plan.scale_levels, turns=plan.scale_turns))
        results["dead_letters"] = [{"function": d.function, "error": d.error} for d in bench.stack.dead_letters]
    results["runtime_s"] = round(time.monotonic() - started, 1)
    return results


def plots(results: dict[str, Any]) -> None:
    """latency.png (turn overhead: sequential and per scale level) and streaming.png."""
    series = {"sequential": results.get("turn_overhead", {}).get("samples_ms", [])}
    series |= {
        f"{level['calls']} concurrent calls": level["samples_ms"]
        for level in results.get("scale", {}).get("levels", [])
    }
    latency_plot(series, BENCH_DIR / "latency.png", "Voice turn overhead: ingress → first /say, minus the LLM (ms)")
    sizes, kinds = results.get("streaming", {}).get("sizes", []), ("streaming", "baseline")
    streaming = {f"{s['sentences']} sentence(s), {kind}": s[f"{kind}_samples_ms"] for s in sizes for kind in kinds}
    latency_plot(streaming, BENCH_DIR / "streaming.png", "Time to the first /say: streaming vs. whole completion (ms)")


def main(argv: list[str] | None = None) -> int:
    """CLI: run, then write results.json, the PNGs and BENCHMARKS.md's tables."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every phase, small: checks the suite, not the code")
    parser.add_argument("--cold-start-runs", type=int, default=1, help="fresh-process runs per function")
    parser.add_argument("--no-cold-start", action="store_true", help="skip the cold starts")
    parser.add_argument("--show-logs", action="store_true", help="the functions' logs on stdout, not in functions.log")
    args = parser.parse_args(argv)
    if args.cold_start_runs < 1:
        parser.error("--cold-start-runs must be at least 1")
    if not args.show_logs:  # file descriptor 1, so the stack processes' logs go there too
        sys.stdout.flush()
        with FUNCTION_LOG.open("wb") as file:
            os.dup2(file.fileno(), sys.stdout.fileno())
    warnings.filterwarnings("ignore", message="No application metrics to publish")  # metrics are off
    results = run(
        replace(QUICK if args.quick else Plan(), cold_start_runs=args.cold_start_runs),
        cold_starts=not args.no_cold_start,
    )
    (BENCH_DIR / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    plots(results)
    MARKDOWN.write_text(update(MARKDOWN.read_text(encoding="utf-8"), results), encoding="utf-8")
    failed = [name for name, value in results.items() if isinstance(value, dict) and "error" in value]
    log(f"wrote bench/results.json, the plots and {MARKDOWN.name}'s tables in {results['runtime_s']:.0f} s")
    if failed:
        log(f"phases that failed: {', '.join(failed)}")
    return 1 if failed or results["dead_letters"] else 0


if __name__ == "__main__":
    sys.exit(main())
