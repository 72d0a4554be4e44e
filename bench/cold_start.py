"""Cold start of every function: a fresh process imports the built artifact and handles one event.

Each function of template.yaml runs N times from `sam build`'s output (the function folder first on
sys.path, then the layer's python/ folder, as local/lambda_bootstrap.py lays them out), with the environment
the project's runner resolves from the template (local.invoke.load_function). Every run is timed in phases
on one clock: interpreter start, init (importing the handler module), handle (one sample event from
events/), exit. A bare `python -I -c pass` on the same interpreter is the baseline. One extra run under
`-X importtime` gives the heaviest top-level packages of init and handle.

The build ships bytecode (the Makefile's build targets compile every module with `--invalidation-mode
unchecked-hash`, since /var/task and /opt are read-only in Lambda and SAM's zips carry 1980 timestamps). The
runs never write bytecode (`-B`): `shipped` runs the build as it is, `source` a copy without any .pyc, which
is what every cold start compiled before the build shipped it. Tracing is as the template sets it (Active:
the variables Lambda sets for it are set, the daemon address a UDP sink; no X-Ray SDK reads them).

The floor: the third-party modules the function's own code imports while its handler module loads (read
off the `-X importtime` run: the third-party children of first-party modules), imported alone by a fresh
`python -I -B -c "import ..."` with the same sys.path; the handler module's import is timed the same way,
the two runs alternating, in both layouts. Their ratio is what the function's own code adds to the
libraries it cannot do without.

The functions reach DynamoDB Local (idempotency records; the table is emptied before every run) and, for
the ingress, a local EventBridge endpoint (local.bus.LocalBus, which accepts PutEvents and delivers
nowhere). VOIPBIN_API_URL and OPENAI_BASE_URL pass through from the caller's environment when set. A run
whose handling fails is recorded with its error, not fatal. Local CPU is not Lambda's: a 512 MB function
gets about a third of a vCPU there, so these figures are lower bounds and best read as relative costs.

    python -m bench.cold_start --runs 10 [--bytecode both|shipped|source] [--output PATH]
"""

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from local.lambda_bootstrap import PHASE_MARKER
from local.template import REPO_ROOT, TEMPLATE, parsed_template

if TYPE_CHECKING:
    from local.dynamodb_local import DynamoDBLocal
    from local.invoke import LocalFunction

BUILD_DIR = REPO_ROOT / ".aws-sam" / "build"
EVENTS_DIR = REPO_ROOT / "events"
ENV_VARS_FILE = EVENTS_DIR / "env.json"
BOOTSTRAP = REPO_ROOT / "local" / "lambda_bootstrap.py"
DEFAULT_RUNS = 10
# Pairs of fresh imports (the handler module, then its floor) behind each init ratio, at the least.
RATIO_RUNS = 7
TOP_IMPORTS = 8
# Endpoints the caller may point the functions at (a VoIPBin simulator, a fake or real LLM server).
PASSED_THROUGH = ("VOIPBIN_API_URL", "OPENAI_BASE_URL")
TABLE_NAME = "bench-cold-start"
REGION = "us-east-1"
HTTP_EVENT_TYPES = frozenset({"HttpApi", "Api"})
# Seconds a run may take: Lambda's 10 s init budget plus a function's timeout, and slack for a busy machine.
RUN_TIMEOUT_S = 120.0
# An endpoint nothing listens on: without DynamoDB Local the functions fail fast instead of reaching AWS.
_NOWHERE = "http://127.0.0.1:9"
_IMPORTTIME_PREFIX = "import time:"
# What Lambda sets for an active-tracing function; the trace header is per invocation, fixed here.
_TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

Bytecode = Literal["shipped", "source"]
# Top-level packages that are the project's own: the layer's, and each function's handler package.
FIRST_PARTY: Final = frozenset({"voipbin_ai"})


@dataclass(frozen=True)
class FunctionSpec:
    """One function of the template, as far as choosing its sample event and reporting it go."""

    name: str
    code_uri: str
    trigger: Literal["http", "eventbridge", "other"]
    tracing: bool
    routes: tuple[str, ...] = ()


@dataclass
class RunTiming:
    """One fresh-process run, in ms from the parent's spawn of the interpreter.

    total_ms ends when the handler returns (a Lambda cold start's span); process_ms adds the interpreter's
    exit, which Lambda never waits for (it freezes the environment instead).
    """

    process_ms: float
    total_ms: float | None = None
    startup_ms: float | None = None
    init_ms: float | None = None
    handle_ms: float | None = None
    exit_ms: float | None = None
    ok: bool = False
    error: str | None = None


@dataclass
class FunctionRuns:
    """All runs of one function in one bytecode mode."""

    runs: list[RunTiming] = field(default_factory=list)

    def summary(self, baseline_ms: float) -> dict[str, Any]:
        """Median and p90 of every phase over the successful runs, and total minus the baseline."""
        good = [run for run in self.runs if run.ok]
        errors = Counter(run.error for run in self.runs if run.error)
        return {
            "runs": len(self.runs),
            "ok_runs": len(good),
            "init_ms": describe([run.init_ms for run in self.runs if run.init_ms is not None]),
            "handle_ms": describe([run.handle_ms for run in good if run.handle_ms is not None]),
            "startup_ms": describe([run.startup_ms for run in good if run.startup_ms is not None]),
            "total_ms": describe([run.total_ms for run in good if run.total_ms is not None]),
            "total_minus_baseline_ms": describe(
                [run.total_ms - baseline_ms for run in good if run.total_ms is not None]
            ),
            "exit_ms": describe([run.exit_ms for run in good if run.exit_ms is not None]),
            "process_ms": describe([run.process_ms for run in good]),
            "errors": [{"error": error, "runs": count} for error, count in errors.most_common(3)],
        }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linearly interpolated between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def describe(values: Sequence[float]) -> dict[str, float] | None:
    """Median, p90, min and max in ms (rounded to 0.1 ms), or None without values."""
    if not values:
        return None
    return {
        "median": round(statistics.median(values), 1),
        "p90": round(percentile(values, 90), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }


def discover_functions(template: Path = TEMPLATE) -> list[FunctionSpec]:
    """Every AWS::Serverless::Function of the template, with its trigger kind and tracing setting."""
    parsed = parsed_template(template)
    global_tracing = parsed.get("Globals", {}).get("Function", {}).get("Tracing")
    specs = []
    for name, resource in parsed["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties", {})
        events = properties.get("Events", {}).values()
        kinds = {event.get("Type") for event in events}
        routes = tuple(
            f"{str(event['Properties'].get('Method', 'ANY')).upper()} {event['Properties'].get('Path', '')}"
            for event in events
            if event.get("Type") in HTTP_EVENT_TYPES
        )
        trigger: Literal["http", "eventbridge", "other"] = (
            "http" if kinds & HTTP_EVENT_TYPES else "eventbridge" if "EventBridgeRule" in kinds else "other"
        )
        tracing = properties.get("Tracing", global_tracing) == "Active"
        specs.append(FunctionSpec(name, str(properties.get("CodeUri", "")), trigger, tracing, routes))
    return specs


def sample_event_file(spec: FunctionSpec, events_dir: Path = EVENTS_DIR) -> Path | None:
    """The function's sample event: events/<code folder>.json, else the first event its trigger matches."""
    from local.bus import rules_from_template

    named = events_dir / f"{Path(spec.code_uri.rstrip('/')).name}.json"
    candidates = [named] if named.is_file() else []
    candidates += sorted(path for path in events_dir.glob("*.json") if path != named and path.name != "env.json")
    rules = [rule for rule in rules_from_template(TEMPLATE) if rule.function == spec.name]
    for path in candidates:
        event = json.loads(path.read_text(encoding="utf-8"))
        if spec.trigger == "http" and event.get("routeKey") in spec.routes:
            return path
        if spec.trigger == "eventbridge" and any(rule.matches(event) for rule in rules):
            return path
    return None


def _copy_without_bytecode(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


@dataclass(frozen=True)
class Layout:
    """Where the code and layer folders of every function are, for one bytecode mode."""

    mode: Bytecode
    python_flags: tuple[str, ...]
    code_dirs: dict[str, Path]
    layer_dirs: dict[Path, Path]

    def place(self, function: "LocalFunction") -> "LocalFunction":
        """The function with its folders moved to this layout."""
        return replace(
            function,
            code_dir=self.code_dirs.get(function.name, function.code_dir),
            layer_dirs=tuple(self.layer_dirs.get(d, d) for d in function.layer_dirs),
        )


def shipped_layout() -> Layout:
    """The build as `sam build` ships it, with its bytecode, none written (Lambda's read-only tree)."""
    return Layout("shipped", ("-B",), {}, {})


def source_layout(functions: Sequence["LocalFunction"], workdir: Path) -> Layout:
    """A copy of the build without bytecode, run with -B: every module compiled at every cold start."""
    code_dirs = {f.name: _copy_without_bytecode(f.code_dir, workdir / "task" / f.name) for f in functions}
    layers = {d for f in functions for d in f.layer_dirs}
    layer_dirs = {d: _copy_without_bytecode(d, workdir / "opt" / d.parent.name / d.name) for d in sorted(layers)}
    return Layout("source", ("-B",), code_dirs, layer_dirs)


def probe_environment(function: "LocalFunction", tracing: bool, xray_daemon: str) -> dict[str, str]:
    """The child's environment: local.invoke's, plus what Lambda sets for an active-tracing function."""
    environment = {
        **function.environment,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LAMBDA_TASK_ROOT": str(function.code_dir),
        "_HANDLER": function.handler,
        "TZ": ":UTC",
    }
    if tracing:
        # SAM CLI marks local runs; Lambda does not.
        environment.pop("AWS_SAM_LOCAL", None)
        environment.update(
            {
                "_X_AMZN_TRACE_ID": _TRACE_HEADER,
                "AWS_XRAY_DAEMON_ADDRESS": xray_daemon,
                "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            }
        )
    return environment


def run_probe(
    function: "LocalFunction",
    event: Any,
    environment: dict[str, str],
    *,
    python_flags: Sequence[str] = (),
    importtime: bool = False,
) -> tuple[RunTiming, str]:
    """One cold start in a fresh interpreter; returns its timing and its stderr."""
    with tempfile.TemporaryDirectory(prefix="bench-probe-") as work:
        request_path, result_path = Path(work, "request.json"), Path(work, "result.json")
        from local.invoke import bootstrap_request

        request = {**bootstrap_request(function, event), "phase_markers": True}
        request_path.write_text(json.dumps(request), encoding="utf-8")
        command = [sys.executable, "-I", *python_flags, *(["-X", "importtime"] if importtime else [])]
        command += [str(BOOTSTRAP), str(request_path), str(result_path)]
        spawned = time.monotonic()
        try:
            completed = subprocess.run(
                command,
                cwd=function.code_dir,
                env=environment,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return RunTiming(process_ms=RUN_TIMEOUT_S * 1000, error=f"timed out after {RUN_TIMEOUT_S:.0f} s"), ""
        ended = time.monotonic()
        timing = RunTiming(process_ms=(ended - spawned) * 1000)
        if not result_path.is_file():
            tail = completed.stderr.strip().splitlines()[-1:] or ["no output"]
            timing.error = f"the probe exited with code {completed.returncode}: {tail[0]}"
            return timing, completed.stderr
        result = json.loads(result_path.read_text(encoding="utf-8"))
    timing.startup_ms = (result["started"] - spawned) * 1000
    if "init_ended" in result:
        timing.init_ms = (result["init_ended"] - result["init_started"]) * 1000
    if "handle_ended" in result:
        timing.handle_ms = (result["handle_ended"] - result["handle_started"]) * 1000
        timing.total_ms = (result["handle_ended"] - spawned) * 1000
        timing.exit_ms = (ended - result["handle_ended"]) * 1000
    timing.error = _failed(result) or _rejected(result.get("payload"))
    timing.ok = bool(result["ok"]) and timing.error is None
    return timing, completed.stderr


def _failed(result: dict[str, Any]) -> str | None:
    """The handler's exception, as the bootstrap reports it in Lambda's error shape."""
    if result["ok"]:
        return None
    payload = result.get("payload") or {}
    return f"{payload.get('errorType')}: {payload.get('errorMessage')}"


def _rejected(payload: Any) -> str | None:
    """An HTTP function's answer that is not a 2xx (e.g. the ingress could not publish) is a failed run."""
    if isinstance(payload, dict) and isinstance(payload.get("statusCode"), int) and payload["statusCode"] >= 300:
        return f"HTTP {payload['statusCode']}: {str(payload.get('body', ''))[:200]}"
    return None


def measure_baseline(runs: int) -> list[float]:
    """Wall time in ms of `python -I -c pass` on this interpreter, the floor every cold start stands on."""
    times = []
    for _ in range(runs + 1):
        started = time.monotonic()
        subprocess.run([sys.executable, "-I", "-c", "pass"], check=True, capture_output=True)
        times.append((time.monotonic() - started) * 1000)
    return times[1:]  # the first run warms the file cache


@dataclass
class _ImportNode:
    name: str
    self_us: int
    cumulative_us: int
    level: int
    children: list["_ImportNode"] = field(default_factory=list)


def parse_importtime(stderr: str) -> dict[str, list[_ImportNode]]:
    """`-X importtime` lines as trees (lines come children first), split into phases by the probe's markers."""
    phases: dict[str, list[_ImportNode]] = {}
    phase: str | None = None
    pending: list[_ImportNode] = []
    for line in stderr.splitlines():
        if line.startswith(PHASE_MARKER):
            if phase is not None:
                phases[phase] = pending
            phase, pending = line[len(PHASE_MARKER) :].strip(), []
            continue
        if phase is None or not line.startswith(_IMPORTTIME_PREFIX):
            continue
        parts = line[len(_IMPORTTIME_PREFIX) :].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line
        raw_name = parts[2][1:]  # one space follows the separator, then two per nesting level
        node = _ImportNode(
            name=raw_name.strip(),
            self_us=int(parts[0]),
            cumulative_us=int(parts[1]),
            level=(len(raw_name) - len(raw_name.lstrip(" "))) // 2,
        )
        while pending and pending[-1].level > node.level:
            node.children.insert(0, pending.pop())
        pending.append(node)
    if phase is not None:
        phases[phase] = pending
    phases.pop("end", None)
    return phases


def package_times(roots: Sequence[_ImportNode]) -> dict[str, dict[str, float]]:
    """Per top-level package, cumulative ms and self ms.

    Cumulative: its outermost imports, with the dependencies they pulled in first; self: its own modules only
    (these add up to the phase's total).
    """
    totals: dict[str, dict[str, float]] = {}

    def visit(node: _ImportNode, enclosing: frozenset[str]) -> None:
        package = node.name.split(".")[0]
        entry = totals.setdefault(package, {"cumulative_ms": 0.0, "self_ms": 0.0})
        entry["self_ms"] += node.self_us / 1000
        if package not in enclosing:
            entry["cumulative_ms"] += node.cumulative_us / 1000
        for child in node.children:
            visit(child, enclosing | {package})

    for root in roots:
        visit(root, frozenset())
    return totals


def import_breakdown(stderr: str, handler_module: str, top: int = TOP_IMPORTS) -> dict[str, Any]:
    """The heaviest top-level packages of init and handle together, each with its per-phase cumulative ms."""
    phases = parse_importtime(stderr)
    per_phase = {name: package_times(roots) for name, roots in phases.items()}
    combined: dict[str, dict[str, float]] = {}
    for name, packages in per_phase.items():
        for package, times in packages.items():
            entry = combined.setdefault(package, {"cumulative_ms": 0.0, "self_ms": 0.0})
            entry["cumulative_ms"] += times["cumulative_ms"]
            entry["self_ms"] += times["self_ms"]
            entry[f"{name}_ms"] = times["cumulative_ms"]
    handler_package = handler_module.split(".", maxsplit=1)[0]
    ranked = sorted(
        (item for item in combined.items() if item[0] != handler_package),
        key=lambda item: item[1]["cumulative_ms"],
        reverse=True,
    )
    stdlib = sys.stdlib_module_names
    return {
        "phase_totals_ms": {
            name: round(sum(root.cumulative_us for root in roots) / 1000, 1) for name, roots in phases.items()
        },
        "top": [
            {
                "package": package,
                "cumulative_ms": round(times["cumulative_ms"], 1),
                "self_ms": round(times["self_ms"], 1),
                "init_ms": round(times.get("init_ms", 0.0), 1),
                "handle_ms": round(times.get("handle_ms", 0.0), 1),
                "stdlib": package in stdlib,
            }
            for package, times in ranked[:top]
        ],
        "note": "-X importtime's own overhead inflates these; cumulative figures of different packages overlap.",
    }


@contextlib.contextmanager
def _udp_sink() -> Iterator[str]:
    """A bound UDP port standing in for the X-Ray daemon: segments are sent and dropped, as in Lambda."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        host, port = sink.getsockname()[:2]
        yield f"{host}:{port}"


def _empty_table(dynamodb: "DynamoDBLocal | None") -> None:
    """Remove every item, so each run's idempotency check sees a first delivery."""
    if dynamodb is None:
        return
    client = dynamodb.client()
    for page in client.get_paginator("scan").paginate(TableName=TABLE_NAME, ProjectionExpression="pk, sk"):
        for item in page.get("Items", []):
            client.delete_item(TableName=TABLE_NAME, Key={"pk": item["pk"], "sk": item["sk"]})


def _shell_environment(dynamodb_url: str, bus_url: str) -> dict[str, str]:
    """Only these reach the functions (with the template's own values): local endpoints and fake credentials."""
    shell = {
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_url,
        "AWS_ENDPOINT_URL_EVENTBRIDGE": bus_url,
        "TABLE_NAME": TABLE_NAME,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": REGION,
    }
    shell.update({name: os.environ[name] for name in PASSED_THROUGH if os.environ.get(name)})
    return shell


def floor_modules(stderr: str, first_party: frozenset[str]) -> list[str]:
    """The third-party modules the project's own code imports while the handler module loads, in that order.

    Read off an `-X importtime` run: the modules of its init phase imported by first-party modules that are
    neither first-party nor the standard library (what they import in turn is theirs, so it is not listed).
    The phase's roots are the handler module's own imports (importlib.import_module leaves that module
    itself out of the tree).
    """
    needed: list[str] = []

    def visit(nodes: Sequence[_ImportNode]) -> None:
        for node in nodes:
            package = node.name.split(".")[0]
            if package in first_party:
                visit(node.children)
            elif package not in sys.stdlib_module_names and node.name not in needed:
                needed.append(node.name)

    visit(parse_importtime(stderr).get("init", []))
    return needed


def _import_ms(function: "LocalFunction", environment: dict[str, str], modules: Sequence[str], layout: Layout) -> float:
    """Wall time in ms of a fresh interpreter that puts the function's folders on sys.path and imports modules."""
    path = [str(function.code_dir), *(str(d) for d in function.layer_dirs)]
    code = f"import sys; sys.path[:0] = {path!r}; import {', '.join(['sys', *modules])}"
    command = [sys.executable, "-I", *layout.python_flags, "-c", code]
    started = time.monotonic()
    subprocess.run(
        command, cwd=function.code_dir, env=environment, capture_output=True, timeout=RUN_TIMEOUT_S, check=True
    )
    return (time.monotonic() - started) * 1000


def init_against_floor(
    function: "LocalFunction", environment: dict[str, str], floor: Sequence[str], layout: Layout, runs: int
) -> dict[str, Any]:
    """The handler module's import against its floor's, alternating fresh processes; medians and their ratio."""
    module = function.handler.rsplit(".", 1)[0]
    init, alone = [], []
    try:
        for attempt in range(runs + 1):
            handler_ms = _import_ms(function, environment, [module], layout)
            floor_ms = _import_ms(function, environment, floor, layout)
            if attempt:  # the first pair warms the file cache
                init.append(handler_ms)
                alone.append(floor_ms)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        return {"error": f"import failed: {error}"}
    return {
        "handler_import_ms": describe(init),
        "floor_import_ms": describe(alone),
        "ratio": round(statistics.median(init) / statistics.median(alone), 3),
    }


def _measure_function(
    spec: FunctionSpec,
    function: "LocalFunction",
    event: Any,
    layouts: Sequence[Layout],
    runs: int,
    *,
    xray_daemon: str,
    dynamodb: "DynamoDBLocal | None",
    baseline_ms: float,
) -> dict[str, Any]:
    first = layouts[0]
    placed = first.place(function)
    _empty_table(dynamodb)
    timing, stderr = run_probe(
        placed,
        event,
        probe_environment(placed, spec.tracing, xray_daemon),
        python_flags=first.python_flags,
        importtime=True,
    )
    module = function.handler.rsplit(".", 1)[0]
    floor = floor_modules(stderr, FIRST_PARTY | {module.split(".")[0]})
    modes: dict[str, Any] = {}
    for layout in layouts:
        placed = layout.place(function)
        environment = probe_environment(placed, spec.tracing, xray_daemon)
        results = FunctionRuns()
        for attempt in range(runs + 1):
            _empty_table(dynamodb)
            timing_of_run, _ = run_probe(placed, event, environment, python_flags=layout.python_flags)
            if attempt:  # the first run warms the file cache
                results.runs.append(timing_of_run)
        ratio_runs = max(runs, RATIO_RUNS)
        modes[layout.mode] = {
            **results.summary(baseline_ms),
            "init_vs_floor": init_against_floor(placed, environment, floor, layout, ratio_runs),
        }
    result: dict[str, Any] = {
        "trigger": spec.trigger,
        "memory_mb": function.memory_mb,
        "tracing": spec.tracing,
        "floor_modules": floor,
        **modes[first.mode],
        "imports": import_breakdown(stderr, module),
    }
    if timing.error:
        result["imports"]["run_error"] = timing.error
    result.update({f"bytecode_{mode}": summary for mode, summary in modes.items() if mode != first.mode})
    return result


def measure(
    runs: int = DEFAULT_RUNS,
    *,
    bytecode: Literal["both", "shipped", "source"] = "both",
    build_dir: Path = BUILD_DIR,
    events_dir: Path = EVENTS_DIR,
    log: bool = True,
) -> dict[str, Any]:
    """Run the whole cold-start benchmark; the JSON-serialisable result (see module docstring)."""
    from local.bus import LocalBus, rules_from_template
    from local.dynamodb_local import DynamoDBLocalError, create_table, running
    from local.invoke import LocalInvokeError, load_function

    specs = discover_functions()
    env_vars = json.loads(ENV_VARS_FILE.read_text(encoding="utf-8"))
    baseline = measure_baseline(runs)
    baseline_ms = statistics.median(baseline)
    report: dict[str, Any] = {
        "runs": runs,
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "bytecode": "shipped: the build's .pyc (unchecked-hash), none written (Lambda's read-only /var/task, /opt)",
            "tracing": "as the template sets it (Active: Lambda's variables set, no X-Ray SDK in the layer)",
            "dynamodb": "DynamoDB Local on loopback (idempotency records)",
            "eventbridge": "local.bus.LocalBus on loopback (PutEvents accepted, nothing delivered)",
            "passed_through": sorted(name for name in PASSED_THROUGH if os.environ.get(name)),
        },
        "baseline": {"command": "python -I -c pass", "wall_ms": describe(baseline)},
        "ingress": {},
        "functions": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-cold-start-") as workdir, contextlib.ExitStack() as stack:
        dynamodb: DynamoDBLocal | None = None
        try:
            dynamodb = stack.enter_context(running(Path(workdir)))
            create_table(dynamodb.client(), TABLE_NAME)
        except DynamoDBLocalError as error:
            # The functions that need the table then fail, and each records why; the ingress does not need it.
            report["environment"]["dynamodb"] = f"unavailable ({error}); functions that need it fail"
        bus = LocalBus(rules_from_template(), lambda _function, _event: None).start()
        stack.callback(bus.stop)
        xray_daemon = stack.enter_context(_udp_sink())
        shell = _shell_environment(dynamodb.endpoint_url if dynamodb else _NOWHERE, bus.url)
        loaded: dict[str, LocalFunction] = {}
        for spec in specs:
            group = "ingress" if spec.trigger == "http" else "functions"
            try:
                loaded[spec.name] = load_function(spec.name, build_dir=build_dir, env_vars=env_vars, shell_env=shell)
            except LocalInvokeError as error:
                report[group][spec.name] = {"trigger": spec.trigger, "error": f"{error} (run `make build`)"}
        layouts = [shipped_layout()] if bytecode != "source" else []
        if bytecode != "shipped":
            layouts.append(source_layout(list(loaded.values()), Path(workdir)))
        for spec in specs:
            group = "ingress" if spec.trigger == "http" else "functions"
            if spec.name not in loaded:
                continue
            event_file = sample_event_file(spec, events_dir)
            if event_file is None:
                report[group][spec.name] = {"trigger": spec.trigger, "error": f"no sample event in {events_dir}"}
                continue
            if log:
                print(f"cold start: {spec.name} x {runs} ({event_file.name})", file=sys.stderr)
            event = json.loads(event_file.read_text(encoding="utf-8"))
            result = _measure_function(
                spec,
                loaded[spec.name],
                event,
                layouts,
                runs,
                xray_daemon=xray_daemon,
                dynamodb=dynamodb,
                baseline_ms=baseline_ms,
            )
            report[group][spec.name] = {"event": event_file.name, **result}
    if bytecode == "source":
        report["environment"]["bytecode"] = "source: a copy of the build without .pyc, none written"
    elif bytecode == "both":
        report["environment"]["bytecode"] += "; bytecode_source: the same runs on a copy without .pyc"
    return report


def main(argv: list[str] | None = None) -> int:
    """CLI: print the result as JSON (and write it to --output if given)."""
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="fresh-process runs per function")
    parser.add_argument(
        "--bytecode",
        choices=("both", "shipped", "source"),
        default="both",
        help="shipped: the build's .pyc; source: a copy without .pyc; both: shipped, with source beside it",
    )
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR, help="sam build output")
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    result = measure(args.runs, bytecode=args.bytecode, build_dir=args.build_dir)
    text = json.dumps(result, indent=2)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
