"""Child side of the local runner and of the cold-start benchmark: import the handler as Lambda would, call it once.

Run as `python -I [-B] [-X importtime] lambda_bootstrap.py <request.json> <result.json>` (isolated: no
PYTHONPATH, no cwd on sys.path); the request names the code and layer folders, which go first on sys.path
like /var/task and /opt/python. Logs go to stdout/stderr as in Lambda; the result (or Lambda's error shape)
goes to a file, with when each phase began and ended (time.monotonic(), one clock for every process on
Linux, so the parent can place them against its own spawn time). With `phase_markers` in the request, a
marker line on stderr starts each phase, to split `-X importtime` output into init and handle.
"""

import time

STARTED = time.monotonic()

import importlib  # noqa: E402 - the start time is taken before anything else is imported
import json  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
import uuid  # noqa: E402
from typing import Any  # noqa: E402

PHASE_MARKER = "lambda-bootstrap-phase:"


class LocalContext:
    """The Lambda context object, with a real deadline."""

    def __init__(self, function_name: str, memory_mb: int, timeout_s: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """What Powertools Idempotency reads to know how long the invocation may still run."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main(request_path: str, result_path: str) -> int:
    """Load the handler from the code and layer folders (init), invoke it once (handle), write the result file."""
    with open(request_path, encoding="utf-8") as file:
        request = json.load(file)
    sys.path[:0] = [request["code_dir"], *request["layer_dirs"]]
    module_name, handler_name = request["handler"].rsplit(".", 1)

    def phase(name: str) -> float:
        if request.get("phase_markers"):
            print(PHASE_MARKER + name, file=sys.stderr, flush=True)
        return time.monotonic()

    result: dict[str, Any] = {"started": STARTED, "ok": False}
    try:
        result["init_started"] = phase("init")
        handler = getattr(importlib.import_module(module_name), handler_name)
        result["init_ended"] = time.monotonic()
        context = LocalContext(request["function_name"], request["memory_mb"], request["timeout_s"])
        result["handle_started"] = phase("handle")
        payload = handler(request["event"], context)
        result["handle_ended"] = phase("end")
        result.update(ok=True, payload=payload)
    except Exception as error:
        result["payload"] = {
            "errorMessage": str(error),
            "errorType": type(error).__name__,
            "stackTrace": traceback.format_exception(error),
        }
    with open(result_path, "w", encoding="utf-8") as file:
        json.dump(result, file, default=str)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
