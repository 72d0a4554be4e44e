"""The whole benchmark suite (`make bench`): bench/results.json, the plots and BENCHMARKS.md.

    python -m bench.run [--quick] [--cold-start-runs N] [--no-cold-start]

In order: cold starts (fresh processes, bench/cold_start.py), then on one local stack the voice turn
overhead, the streaming gain, usage and cost (bench/turns.py), and the scale levels (bench/scale.py).
A phase that fails is recorded with its error and the others still run; the exit status is then 1.
--quick runs every phase small, to check the suite itself (its figures mean little).
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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.template import REPO_ROOT

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results.json"
LATENCY_PNG = BENCH_DIR / "latency.png"
STREAMING_PNG = BENCH_DIR / "streaming.png"
MARKDOWN = REPO_ROOT / "BENCHMARKS.md"
FUNCTION_LOG = BENCH_DIR / "functions.log"


@dataclass(frozen=True)
class Plan:
    """How much of each phase to run."""

    quick: bool
    cold_start_runs: int
    overhead_calls: int
    overhead_turns: int
    streaming_repetitions: int
    usage_turns: int
    usage_calls: int
    usage_sms: int
    scale_levels: tuple[int, ...]
    scale_turns: int

    @classmethod
    def full(cls) -> "Plan":
        """The suite as `make bench` runs it (about 7 minutes on 2 cores)."""
        return cls(False, 1, 20, 10, 6, 10, 2, 10, (10, 50, 200), 10)

    @classmethod
    def small(cls) -> "Plan":
        """Every phase, small (about 1.5 minutes)."""
        return cls(True, 1, 3, 4, 2, 4, 1, 2, (3, 6, 12), 3)


def _stdout_to(path: Path) -> None:
    """Send file descriptor 1 (this process's and its children's stdout: the functions' logs) to a file."""
    sys.stdout.flush()
    with path.open("wb") as file:
        os.dup2(file.fileno(), sys.stdout.fileno())


def log(message: str) -> None:
    """Progress, on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu_model = platform.processor() or platform.machine()
    memory = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": cpu_model,
        "cpus": os.cpu_count(),
        "memory": memory,
        "platform": platform.platform(terse=True),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load_average": round(load, 2) if load is not None else None,
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
    results.setdefault("phase_seconds", {})[name] = round(time.monotonic() - started, 1)
    log(f"{name}: done in {time.monotonic() - started:.0f} s")


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def cold_starts(runs: int) -> dict[str, Any]:
    """bench/cold_start.py with and without the shipped bytecode; VoIPBin is the simulator, the LLM a fake."""
    from bench.cold_start import BUILD_DIR, measure
    from local.fake_openai import FakeOpenAI
    from local.voipbin_simulator import VoipbinSimulator

    if not (BUILD_DIR / "template.yaml").is_file():
        return {"error": f"no build in {BUILD_DIR}: run `make build` (sam build) first"}
    env_vars = json.loads((REPO_ROOT / "events" / "env.json").read_text(encoding="utf-8"))["Parameters"]
    with (
        VoipbinSimulator(token=env_vars["VOIPBIN_API_TOKEN"]) as simulator,
        FakeOpenAI() as llm,
        _environment(VOIPBIN_API_URL=simulator.base_url, OPENAI_BASE_URL=llm.base_url),
    ):
        return measure(runs, bytecode="both")


def run(plan: Plan, *, cold_start: bool = True) -> dict[str, Any]:
    """Every phase; the results as written to results.json."""
    from bench import harness, scale, turns
    from bench.harness import TOKEN_DELAY_S, TTFT_S

    started = time.monotonic()
    results: dict[str, Any] = {
        "environment": machine(),
        "config": {**asdict(plan), "llm_ttft_ms": TTFT_S * 1000, "llm_token_delay_ms": TOKEN_DELAY_S * 1000},
    }
    if cold_start:
        phase(results, "cold_start", lambda: cold_starts(plan.cold_start_runs))
    with harness.running(workers=32, log=log) as bench:
        phase(
            results,
            "turn_overhead",
            lambda: turns.measure_overhead(bench, calls=plan.overhead_calls, turns=plan.overhead_turns, log=log),
        )
        phase(
            results,
            "streaming",
            lambda: turns.measure_streaming(bench, repetitions=plan.streaming_repetitions, log=log),
        )
        phase(
            results,
            "usage",
            lambda: turns.measure_usage(
                bench,
                turns=plan.usage_turns,
                calls=plan.usage_calls,
                sms=plan.usage_sms,
                cold_start=results.get("cold_start"),
                log=log,
            ),
        )
        phase(
            results,
            "scale",
            lambda: scale.measure_scale(bench.dynamodb_url, plan.scale_levels, turns=plan.scale_turns, log=log),
        )
        results["dead_letters"] = [
            {"function": letter.function, "error": letter.error} for letter in bench.stack.dead_letters
        ]
    results["runtime_s"] = round(time.monotonic() - started, 1)
    return results


def plots(results: dict[str, Any]) -> None:
    """latency.png (turn overhead: sequential and per scale level) and streaming.png."""
    from bench.plot import latency_plot

    series: dict[str, list[float]] = {}
    overhead = results.get("turn_overhead") or {}
    if "samples" in overhead:
        series["sequential"] = overhead["samples"]["overhead_ms"]
    for level in (results.get("scale") or {}).get("levels", []):
        series[f"{level['calls']} concurrent calls"] = level["samples"]["overhead_ms"]
    latency_plot(series, LATENCY_PNG, "Voice turn overhead: ingress → first /say, minus the LLM (ms)")
    streaming: dict[str, list[float]] = {}
    for size in (results.get("streaming") or {}).get("sizes", []):
        streaming[f"{size['sentences']} sentence(s), streaming"] = size["streaming_samples_ms"]
        streaming[f"{size['sentences']} sentence(s), baseline"] = size["baseline_samples_ms"]
    latency_plot(streaming, STREAMING_PNG, "Time to the first /say: streaming vs. whole completion (ms)")


def main(argv: list[str] | None = None) -> int:
    """CLI: run, then write results.json, the PNGs and BENCHMARKS.md."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every phase, small: checks the suite, not the code")
    parser.add_argument("--cold-start-runs", type=int, help="fresh-process runs per function (default 1)")
    parser.add_argument("--no-cold-start", action="store_true", help="skip the cold starts (they need `make build`)")
    parser.add_argument(
        "--show-logs", action="store_true", help=f"the functions' logs on stdout, not in {FUNCTION_LOG.name}"
    )
    args = parser.parse_args(argv)
    if not args.show_logs:
        _stdout_to(FUNCTION_LOG)
    # Metrics are off (POWERTOOLS_METRICS_DISABLED): Powertools says so once per handler.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    plan = Plan.small() if args.quick else Plan.full()
    if args.cold_start_runs is not None:
        if args.cold_start_runs < 1:
            parser.error("--cold-start-runs must be at least 1")
        plan = replace(plan, cold_start_runs=args.cold_start_runs)
    results = run(plan, cold_start=not args.no_cold_start)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    plots(results)
    from bench.report import render

    markdown = render(
        results,
        latency_png=LATENCY_PNG.relative_to(REPO_ROOT).as_posix(),
        streaming_png=STREAMING_PNG.relative_to(REPO_ROOT).as_posix(),
    )
    MARKDOWN.write_text(markdown, encoding="utf-8")
    log(f"wrote {RESULTS.relative_to(REPO_ROOT)}, {LATENCY_PNG.name}, {STREAMING_PNG.name} and {MARKDOWN.name}")
    if not args.show_logs:
        log(f"the functions' logs are in {FUNCTION_LOG.relative_to(REPO_ROOT)}")
    failed = [name for name, value in results.items() if isinstance(value, dict) and "error" in value]
    if failed:
        log(f"phases that failed: {', '.join(failed)}")
    log(f"total {results['runtime_s']:.0f} s")
    return 1 if failed or results.get("dead_letters") else 0


if __name__ == "__main__":
    sys.exit(main())
