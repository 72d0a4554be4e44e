"""The local demo: VoIPBin's webhooks, signed, through the ingress, the bus and the functions.

DynamoDB Local holds the table (template.yaml's shape). Every function runs as Lambda lays it out (the
local runner, a fresh process per invocation) and the bus routes by template.yaml's rules. Run with
`make demo`.
"""

import contextlib
import json
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from local.bus import LocalBus, rules_from_template
from local.dynamodb_local import DynamoDBLocalError, create_table, running
from local.invoke import InvokeResult, LocalFunction, LocalInvokeError, invoke, load_function
from local.lambda_events import http_api_event
from voipbin_ai.voipbin.signature import SIGNATURE_HEADER, sign

REPO_ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = REPO_ROOT / "events"
WEBHOOK_PATH = "/webhooks/voipbin"
DEMO_TABLE = "voipbin-ai-demo"
# The story told, in order: a call is answered, the caller starts speaking and says something, a partial
# transcript (dropped at the ingress), the call ends, VoIPBin delivers the hangup again (acted on once), and
# an SMS comes in.
SCRIPT = (
    "call_progressing.json",
    "transcribe_speech_started.json",
    "transcript_created.json",
    "ingress_dropped_type.json",
    "call_hangup.json",
    "call_hangup.json",
    "inbound_sms.json",
)
# Keys every Powertools log line carries; the demo shows only what the function itself logged.
_CONTEXT_KEYS = {
    "level",
    "location",
    "message",
    "timestamp",
    "service",
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
    "correlation_id",
    "xray_trace_id",
}


def webhook_body(event_file: str) -> bytes:
    """The webhook body VoIPBin would POST for a sample event: compact JSON, as Go marshals it."""
    event = json.loads((EVENTS_DIR / event_file).read_text(encoding="utf-8"))
    if "detail" in event:
        return json.dumps(event["detail"], separators=(",", ":"), ensure_ascii=False).encode()
    return str(event["body"]).encode()


def log_records(logs: str) -> list[dict[str, Any]]:
    """The structured log lines of an invocation (metrics lines left out)."""
    records = []
    for line in logs.splitlines():
        if line.startswith("{") and '"message"' in line:
            records.append(json.loads(line))
    return records


def describe(result: InvokeResult) -> str:
    """One line per log record: its message and the function's own keys."""
    lines = []
    for record in log_records(result.logs):
        extras = " ".join(f"{k}={v}" for k, v in record.items() if k not in _CONTEXT_KEYS)
        lines.append(f"{record['message']}  {extras}".rstrip())
    if not result.ok:
        lines.append(f"ERROR {result.payload.get('errorType')}: {result.payload.get('errorMessage')}")
    return "\n      ".join(lines) or "(no log)"


def main() -> int:
    """Play SCRIPT through the local stack and print what each piece did."""
    env_vars = json.loads((EVENTS_DIR / "env.json").read_text(encoding="utf-8"))
    secret = env_vars["Parameters"]["VOIPBIN_WEBHOOK_SECRET"]
    output_lock = threading.Lock()

    functions: dict[str, LocalFunction] = {}

    def deliver(function_name: str, event: dict[str, Any]) -> None:
        result = invoke(functions[function_name], event)
        with output_lock:
            print(f"   bus -> {function_name:<26} {result.duration_s * 1000:5.0f} ms  {describe(result)}")

    with tempfile.TemporaryDirectory(prefix="voipbin-ai-demo-") as workdir, contextlib.ExitStack() as stack:
        try:
            dynamodb = stack.enter_context(running(Path(workdir)))
        except DynamoDBLocalError as error:
            print(f"error: DynamoDB Local: {error}", file=sys.stderr)
            return 2
        create_table(dynamodb.client(), DEMO_TABLE)
        bus = LocalBus(rules_from_template(), deliver).start()
        stack.callback(bus.stop)
        # Only what the demo sets reaches the functions: the template's values, env.json and the local services.
        shell = {
            "AWS_ENDPOINT_URL_EVENTBRIDGE": bus.url,
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb.endpoint_url,
            "TABLE_NAME": DEMO_TABLE,
        }
        try:
            for name in {"IngressFunction", *(rule.function for rule in bus.rules)}:
                functions[name] = load_function(name, env_vars=env_vars, shell_env=shell)
        except LocalInvokeError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"Local stack: DynamoDB Local {dynamodb.endpoint_url}, bus {bus.url}, {len(bus.rules)} rules\n")
        _play(functions["IngressFunction"], secret, bus, output_lock)
    return 0


def _play(ingress: LocalFunction, secret: str, bus: LocalBus, output_lock: threading.Lock) -> None:
    """Send SCRIPT's webhooks, signed, through the ingress, then one forged one."""
    for event_file in SCRIPT:
        body = webhook_body(event_file)
        request = http_api_event(
            body,
            path=WEBHOOK_PATH,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body)},
        )
        result = invoke(ingress, request)
        answer = json.loads(result.payload.get("body") or "{}") if result.ok else {}
        with output_lock:
            print(
                f"VoIPBin -> POST {WEBHOOK_PATH} {answer.get('type', event_file):<26} "
                f"{result.payload.get('statusCode', 'ERR')} {answer.get('status', '')}  "
                f"({result.duration_s * 1000:.0f} ms)"
            )
        bus.wait_idle()
    forged = webhook_body("transcript_created.json")
    request = http_api_event(forged, path=WEBHOOK_PATH, headers={SIGNATURE_HEADER: sign("wrong", forged)})
    result = invoke(ingress, request)
    print(f"Forged  -> POST {WEBHOOK_PATH} {'(wrong signature)':<26} {result.payload.get('statusCode')}")


if __name__ == "__main__":
    sys.exit(main())
