"""Cold starts of every built function, with and without its bytecode, against its floor (section 3)."""

import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from bench.harness import log
from local.bus import LocalBus, rules_from_template
from local.driver import fakes_environment
from local.dynamodb_local import DynamoDBLocal, create_table, running
from local.fake_openai import FakeOpenAI
from local.invoke import LocalFunction, LocalInvokeError, load_function, process_environment, run_bootstrap
from local.lambda_bootstrap import PHASE_MARKER
from local.queue import LocalQueues, consumers_from_template
from local.template import REPO_ROOT, template_resources
from local.voipbin_simulator import VoipbinSimulator

EVENTS_DIR: Final = REPO_ROOT / "events"
RATIO_RUNS: Final = 11  # pairs of fresh imports behind each init ratio, at the least
TABLE_NAME: Final = "bench-cold-start"
RUN_TIMEOUT_S: Final = 120.0  # Lambda's 10 s init budget plus a timeout, with slack for a busy machine
FIRST_PARTY: Final = frozenset({"voipbin_ai"})
_IMPORTTIME: Final = "import time:"


def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _without_bytecode(source: Path, target: Path) -> Path:
    return Path(shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")))


def source_layout(function: LocalFunction, workdir: Path) -> LocalFunction:
    """The function on a copy of its code and layers without any .pyc."""
    layers = tuple(_without_bytecode(d, workdir / "opt" / d.parent.name) for d in function.layer_dirs)
    return replace(function, code_dir=_without_bytecode(function.code_dir, workdir / "task"), layer_dirs=layers)


@dataclass
class RunTiming:
    """One fresh-process run, in ms; total is from spawning the interpreter to the handler's return."""

    startup_ms: float | None = None
    init_ms: float | None = None
    handle_ms: float | None = None
    total_ms: float | None = None
    error: str | None = None


def run_probe(function: LocalFunction, event: Any, *, importtime: bool = False) -> tuple[RunTiming, str]:
    """One cold start in a fresh interpreter that writes no bytecode: its timing and its stderr."""
    flags = ["-B", *(["-X", "importtime"] if importtime else [])]
    run = run_bootstrap(function, event, timeout=RUN_TIMEOUT_S, flags=flags, phase_markers=True)
    if run.returncode is None:
        return RunTiming(error=f"timed out after {RUN_TIMEOUT_S:.0f} s"), ""
    if (result := run.result) is None:
        tail = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return RunTiming(error=f"exited with code {run.returncode}: {tail}"), run.stderr
    timing = RunTiming(startup_ms=(result["started"] - run.spawned) * 1000)
    if "init_ended" in result:
        timing.init_ms = (result["init_ended"] - result["init_started"]) * 1000
    if "handle_ended" in result:
        timing.handle_ms = (result["handle_ended"] - result["handle_started"]) * 1000
        timing.total_ms = (result["handle_ended"] - run.spawned) * 1000
    payload = result.get("payload") or {}
    if not result["ok"]:
        timing.error = f"{payload.get('errorType')}: {payload.get('errorMessage')}"
    elif isinstance(payload.get("statusCode"), int) and payload["statusCode"] >= 300:
        timing.error = f"HTTP {payload['statusCode']}: {str(payload.get('body', ''))[:200]}"
    return timing, run.stderr


@dataclass
class ImportNode:
    """One module of an `-X importtime` tree."""

    name: str
    cumulative_us: int
    level: int
    children: list["ImportNode"] = field(default_factory=list)


def parse_importtime(stderr: str) -> dict[str, list[ImportNode]]:
    """`-X importtime` lines as trees (children come first), split into phases by the bootstrap's markers."""
    phases: dict[str, list[ImportNode]] = {}
    pending: list[ImportNode] = []
    for line in stderr.splitlines():
        if line.startswith(PHASE_MARKER):
            pending = phases.setdefault(line.removeprefix(PHASE_MARKER).strip(), [])
            continue
        parts = line.removeprefix(_IMPORTTIME).split("|")
        if not line.startswith(_IMPORTTIME) or len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # not an import line, or the header
        raw = parts[2][1:]  # one space after the separator, then two per nesting level
        node = ImportNode(raw.strip(), int(parts[1]), (len(raw) - len(raw.lstrip(" "))) // 2)
        while pending and pending[-1].level > node.level:
            node.children.insert(0, pending.pop())
        pending.append(node)
    phases.pop("end", None)
    return phases


def heaviest_packages(roots: Sequence[ImportNode], exclude: Collection[str], top: int = 5) -> list[tuple[str, float]]:
    """Top-level packages by cumulative ms: their outermost imports, with what those pulled in first."""
    totals: dict[str, float] = {}

    def visit(node: ImportNode, enclosing: frozenset[str]) -> None:
        package = node.name.split(".")[0]
        if package not in enclosing:
            totals[package] = totals.get(package, 0.0) + node.cumulative_us / 1000
        for child in node.children:
            visit(child, enclosing | {package})

    for root in roots:
        visit(root, frozenset())
    return sorted(((p, round(t, 1)) for p, t in totals.items() if p not in exclude), key=lambda i: -i[1])[:top]


def floor_modules(stderr: str, first_party: frozenset[str]) -> list[str]:
    """The third-party modules that first-party modules import at init, in order (their own imports aside).

    The init phase's roots are the handler module's imports (import_module leaves the module itself out).
    """
    needed: list[str] = []

    def visit(nodes: Sequence[ImportNode]) -> None:
        for node in nodes:
            package = node.name.split(".")[0]
            if package in first_party:
                visit(node.children)
            elif package not in sys.stdlib_module_names and node.name not in needed:
                needed.append(node.name)

    visit(parse_importtime(stderr).get("init", []))
    return needed


def _spawn_ms(command: Sequence[str], **options: Any) -> float:
    """Wall time of a fresh process, from its spawn to its exit."""
    started = time.monotonic()
    subprocess.run(command, capture_output=True, timeout=RUN_TIMEOUT_S, check=True, **options)
    return (time.monotonic() - started) * 1000


def _import_ms(function: LocalFunction, modules: Sequence[str]) -> float:
    """Wall time of a fresh interpreter that puts the function's folders on sys.path and imports modules.

    It ends with os._exit, not the interpreter's shutdown: Lambda's init ends once the handler is imported,
    and a container is frozen or killed, never finalized, so tearing the modules down is no part of it. The
    collector is off, as voipbin_ai/entry.py has it while a function's code is imported: the floor and the
    init are measured alike, and their ratio stays what the project's own code adds.
    """
    path = [str(function.code_dir), *map(str, function.layer_dirs)]
    imports = ", ".join(["sys", *modules])
    code = f"import gc, os, sys; gc.disable(); sys.path[:0] = {path!r}; import {imports}; os._exit(0)"
    return _spawn_ms([sys.executable, "-I", "-B", "-c", code], cwd=function.code_dir, env=process_environment(function))


def init_against_floor(function: LocalFunction, floor: Sequence[str], runs: int) -> dict[str, Any]:
    """The handler module's import against its floor's, alternating fresh processes: medians and ratio."""
    module = function.handler.rsplit(".", 1)[0]
    pairs = [(_import_ms(function, [module]), _import_ms(function, floor)) for _ in range(runs + 1)][1:]
    init, alone = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    return {"init_ms": round(init, 1), "floor_ms": round(alone, 1), "ratio": round(init / alone, 3)}


def _empty_table(dynamodb: DynamoDBLocal) -> None:
    """Every item removed, so each run's idempotency check sees a first delivery."""
    client = dynamodb.client()
    for page in client.get_paginator("scan").paginate(TableName=TABLE_NAME, ProjectionExpression="pk, sk"):
        for item in page.get("Items", []):
            client.delete_item(TableName=TABLE_NAME, Key={"pk": item["pk"], "sk": item["sk"]})


def _runs(function: LocalFunction, event: Any, runs: int, dynamodb: DynamoDBLocal, floor: list[str]) -> dict[str, Any]:
    """Medians of `runs` cold starts (after one that warms the file cache), and init ÷ floor."""
    timings = []
    for _ in range(runs + 1):
        _empty_table(dynamodb)
        timings.append(run_probe(function, event)[0])
    good = [t for t in timings[1:] if t.error is None]
    errors = sorted({t.error for t in timings[1:] if t.error})
    return {
        "ok_runs": f"{len(good)}/{runs}",
        "errors": errors[:3],
        **{
            phase: _median([v for t in good if (v := getattr(t, phase)) is not None])
            for phase in ("startup_ms", "init_ms", "handle_ms", "total_ms")
        },
        "init_vs_floor": init_against_floor(function, floor, max(runs, RATIO_RUNS)),
    }


def measure(runs: int) -> dict[str, Any]:
    """Every function in both layouts; VoIPBin is the simulator, the LLM a fake that answers at once."""
    env_vars = json.loads((EVENTS_DIR / "env.json").read_text(encoding="utf-8"))
    baseline = [_spawn_ms([sys.executable, "-I", "-c", "pass"]) for _ in range(runs + 2)]
    report: dict[str, Any] = {"runs": runs, "python_pass_ms": _median(baseline[1:]), "functions": {}}
    with tempfile.TemporaryDirectory(prefix="bench-cold-start-") as workdir, contextlib.ExitStack() as stack:
        dynamodb = stack.enter_context(running(Path(workdir)))
        create_table(dynamodb.client(), TABLE_NAME)
        bus = LocalBus(rules_from_template(), lambda _function, _event: None).start()
        stack.callback(bus.stop)
        # Delayed actions (the silence check after a greeting) and queued voice events are accepted and never run.
        queues = LocalQueues(consumers_from_template(), lambda _function, _event: None, lambda *_: None).start()
        stack.callback(queues.stop)
        simulator = stack.enter_context(VoipbinSimulator(token=env_vars["Parameters"]["VOIPBIN_API_TOKEN"]))
        llm = stack.enter_context(FakeOpenAI())
        # The conversation the sample message belongs to exists at VoIPBin, as a real message's does.
        message = json.loads((EVENTS_DIR / "conversation_message_created.json").read_text(encoding="utf-8"))
        data = message["detail"]["data"]
        simulator.add_conversation(
            data["reference_type"], data["source"]["target"], conversation_id=data["conversation_id"]
        )
        shell = fakes_environment(simulator, llm) | {  # events/env.json's values come first, as SAM takes them
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb.endpoint_url,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": bus.url,
            "AWS_ENDPOINT_URL_SQS": queues.url,
            "DELAYED_ACTIONS_QUEUE_URL": queues.queue_url("DelayedActionsQueue"),
            "VOICE_EVENTS_QUEUE_URL": queues.queue_url("VoiceEventsQueue"),
            "TABLE_NAME": TABLE_NAME,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        for name, resource in template_resources("AWS::Serverless::Function").items():
            entry: dict[str, Any] = report["functions"].setdefault(name, {})
            event_file = EVENTS_DIR / f"{Path(resource['Properties']['CodeUri']).name}.json"
            try:
                function = load_function(name, env_vars=env_vars, shell_env=shell)
            except LocalInvokeError as error:
                entry["error"] = str(error)
                continue
            log(f"cold start: {name} x {runs} ({event_file.name})")
            event = json.loads(event_file.read_text(encoding="utf-8"))
            _empty_table(dynamodb)
            _, stderr = run_probe(function, event, importtime=True)
            # The function's own modules (its app), imported by the layer's entry (voipbin_ai/entry.py).
            own = frozenset(path.stem for path in function.code_dir.glob("*.py"))
            floor = floor_modules(stderr, FIRST_PARTY | own)
            phases = parse_importtime(stderr)
            roots = [*phases.get("init", []), *phases.get("handle", [])]
            entry |= {
                "event": event_file.name,
                "memory_mb": function.memory_mb,
                "floor_modules": floor,
                "heaviest_imports_ms": heaviest_packages(roots, exclude=own),
                "shipped": _runs(function, event, runs, dynamodb, floor),
                "source": _runs(source_layout(function, Path(workdir, name)), event, runs, dynamodb, floor),
            }
    return report
