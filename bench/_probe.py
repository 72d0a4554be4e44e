"""Child side of the cold-start benchmark: one Lambda-style cold start, timed phase by phase.

Run as `python -I [-B] [-X importtime] _probe.py <request.json> <result.json>` in a fresh process. It lays
out sys.path exactly as local/lambda_bootstrap.py does (code folder, then layer folders) and uses its
LocalContext, loaded by path because -I keeps the repository off sys.path. Times are time.monotonic(),
which on Linux is one clock for every process, so the parent can place them against its own spawn time.
Markers on stderr split `-X importtime` output into the init and handle phases.
"""

import time

STARTED = time.monotonic()

import importlib  # noqa: E402 - the start time is taken before anything else is imported
import importlib.util  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

PHASE_MARKER = "bench-probe-phase:"


def _context_class(bootstrap_path: str) -> Any:
    """LocalContext of the project's runner, so the context object is the one the local stack uses."""
    spec = importlib.util.spec_from_file_location("_bench_lambda_bootstrap", bootstrap_path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {bootstrap_path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.LocalContext


def main(request_path: str, result_path: str) -> int:
    """Import the handler (init), call it once with the event (handle), write the timings and outcome."""
    with open(request_path, encoding="utf-8") as file:
        request = json.load(file)
    context_class = _context_class(request["bootstrap"])
    sys.path[:0] = [request["code_dir"], *request["layer_dirs"]]
    module_name, handler_name = request["handler"].rsplit(".", 1)
    result: dict[str, Any] = {"started": STARTED, "ok": False}
    try:
        print(PHASE_MARKER + "init", file=sys.stderr, flush=True)
        result["init_started"] = time.monotonic()
        handler = getattr(importlib.import_module(module_name), handler_name)
        result["init_ended"] = time.monotonic()
        context = context_class(request["function_name"], request["memory_mb"], request["timeout_s"])
        print(PHASE_MARKER + "handle", file=sys.stderr, flush=True)
        result["handle_started"] = time.monotonic()
        payload = handler(request["event"], context)
        result["handle_ended"] = time.monotonic()
        print(PHASE_MARKER + "end", file=sys.stderr, flush=True)
        result.update(ok=True, payload=payload)
    except Exception as error:
        result["error"] = f"{type(error).__name__}: {error}"
    with open(result_path, "w", encoding="utf-8") as file:
        json.dump(result, file, default=str)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
