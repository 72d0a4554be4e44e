"""Run one function as `sam local invoke` would, without Docker.

The function's built code stands in for /var/task and the built layer for /opt/python (both from
`sam build`'s output), in a fresh Python process, with the environment SAM CLI itself resolves from the
template (Globals + function, parameters and Refs resolved) plus `--env-vars` overrides in SAM's own
format. Unlike SAM, boto3's endpoint variables (AWS_ENDPOINT_URL_*) pass through from the shell, so a
function can reach DynamoDB Local or a local bus.

    python -m local.invoke IngressFunction -e events/ingress.json --env-vars events/env.json
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.template import REPO_ROOT

DEFAULT_BUILD_DIR = REPO_ROOT / ".aws-sam" / "build"
_BOOTSTRAP = Path(__file__).resolve().parent / "lambda_bootstrap.py"
# Lambda gives a function's init phase up to 10 s on top of its configured timeout.
_INIT_BUDGET_S = 10
_PASSED_THROUGH_PREFIXES = ("AWS_ENDPOINT_URL",)


class LocalInvokeError(Exception):
    """The function cannot be run locally (no build, unknown function, bad env-vars file)."""


@dataclass(frozen=True)
class LocalFunction:
    """Everything needed to start one function the way Lambda does."""

    name: str
    handler: str
    code_dir: Path
    layer_dirs: tuple[Path, ...]
    environment: dict[str, str]
    memory_mb: int
    timeout_s: int


@dataclass(frozen=True)
class InvokeResult:
    """What the invocation returned (or Lambda's error shape), its logs, and how long it took."""

    ok: bool
    payload: Any
    logs: str
    duration_s: float


def load_function(
    name: str,
    *,
    build_dir: Path = DEFAULT_BUILD_DIR,
    env_vars: dict[str, dict[str, str]] | None = None,
    shell_env: dict[str, str] | None = None,
) -> LocalFunction:
    """Resolve a function of the built template exactly as SAM CLI does for `sam local invoke`."""
    template = build_dir / "template.yaml"
    if not template.is_file():
        raise LocalInvokeError(f"{template} is missing: run `make build` (sam build) first")
    function = _sam_function(template, name)
    layer_dirs = tuple(build_dir / layer.codeuri / "python" for layer in function.layers if layer.codeuri)
    return LocalFunction(
        name=name,
        handler=function.handler or "",
        code_dir=build_dir / (function.codeuri or ""),
        layer_dirs=layer_dirs,
        environment=function_environment(name, template=template, env_vars=env_vars, shell_env=shell_env),
        memory_mb=int(function.memory or 128),
        timeout_s=int(function.timeout or 3),
    )


def function_environment(
    name: str,
    *,
    template: Path,
    env_vars: dict[str, dict[str, str]] | None = None,
    shell_env: dict[str, str] | None = None,
) -> dict[str, str]:
    """A function's environment as SAM CLI resolves it.

    The template's values (Globals + function, parameters' defaults and Refs resolved), the shell's values
    of declared names, then `--env-vars`.
    """
    from samcli.local.lambdafn.env_vars import EnvironmentVariables

    function = _sam_function(template, name)
    shell = dict(os.environ if shell_env is None else shell_env)
    overrides = dict((env_vars or {}).get("Parameters", {}))
    overrides.update((env_vars or {}).get(name, {}))
    variables = (function.environment or {}).get("Variables", {})
    resolved = EnvironmentVariables(
        function.name,
        function.memory,
        function.timeout,
        function.handler,
        function.logging_config,
        variables=variables,
        shell_env_values=shell,
        override_values=overrides,
        aws_creds={
            "region": shell.get("AWS_DEFAULT_REGION", "us-east-1"),
            "key": shell.get("AWS_ACCESS_KEY_ID", "local"),
            "secret": shell.get("AWS_SECRET_ACCESS_KEY", "local"),
            "sessiontoken": shell.get("AWS_SESSION_TOKEN", ""),
        },
    ).resolve()
    resolved.update({k: v for k, v in shell.items() if k.startswith(_PASSED_THROUGH_PREFIXES)})
    return {k: str(v) for k, v in resolved.items()}


def _sam_function(template: Path, name: str) -> Any:
    from samcli.lib.providers.sam_function_provider import SamFunctionProvider
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    stacks, _ = SamLocalStackProvider.get_stacks(str(template))
    function = SamFunctionProvider(stacks).get(name)
    if function is None:
        raise LocalInvokeError(f"no function {name!r} in {template}")
    return function


@dataclass(frozen=True)
class BootstrapRun:
    """One fresh process of lambda_bootstrap.py: its result file (None if it wrote none) and its output."""

    result: dict[str, Any] | None
    stdout: str
    stderr: str
    returncode: int | None  # None: killed at the timeout
    spawned: float  # time.monotonic(), the clock of the result's phase times
    seconds: float


def process_environment(function: LocalFunction) -> dict[str, str]:
    """A fresh process's environment: the function's own, and what Lambda's runtime sets beside it."""
    return {
        **function.environment,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LAMBDA_TASK_ROOT": str(function.code_dir),
        "_HANDLER": function.handler,
        "TZ": ":UTC",
    }


def run_bootstrap(
    function: LocalFunction, event: Any, *, timeout: float, flags: Sequence[str] = (), phase_markers: bool = False
) -> BootstrapRun:
    """Import the handler and call it once in a fresh `python -I` (and flags) process, as a cold start does."""
    request = {
        "code_dir": str(function.code_dir),
        "layer_dirs": [str(d) for d in function.layer_dirs],
        "handler": function.handler,
        "function_name": function.name,
        "memory_mb": function.memory_mb,
        "timeout_s": function.timeout_s,
        "event": event,
        "phase_markers": phase_markers,
    }
    with tempfile.TemporaryDirectory(prefix="local-invoke-") as work:
        request_path, result_path = Path(work, "request.json"), Path(work, "result.json")
        request_path.write_text(json.dumps(request), encoding="utf-8")
        spawned = time.monotonic()
        try:
            completed = subprocess.run(
                [sys.executable, "-I", *flags, str(_BOOTSTRAP), str(request_path), str(result_path)],
                cwd=function.code_dir,
                env=process_environment(function),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as expired:
            stdout, stderr = _text(expired.stdout), _text(expired.stderr)
            return BootstrapRun(None, stdout, stderr, None, spawned, time.monotonic() - spawned)
        seconds = time.monotonic() - spawned
        result = json.loads(result_path.read_text(encoding="utf-8")) if result_path.is_file() else None
        return BootstrapRun(result, completed.stdout, completed.stderr, completed.returncode, spawned, seconds)


def invoke(function: LocalFunction, event: Any) -> InvokeResult:
    """Run the handler once in a fresh process (a cold start, every time) and collect its result."""
    run = run_bootstrap(function, event, timeout=function.timeout_s + _INIT_BUDGET_S)
    logs = run.stdout + run.stderr
    if run.returncode is None:
        timeout = {"errorMessage": f"Task timed out after {function.timeout_s} seconds"}
        return InvokeResult(False, timeout, logs, run.seconds)
    if run.result is None:
        crash = {"errorMessage": f"the runtime exited with code {run.returncode}", "errorType": "Runtime"}
        return InvokeResult(False, crash, logs, run.seconds)
    return InvokeResult(bool(run.result["ok"]), run.result["payload"], logs, run.seconds)


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode("utf-8", "replace")
    return output or ""


def main(argv: list[str] | None = None) -> int:
    """CLI: print the function's logs to stderr and its result to stdout, like `sam local invoke`."""
    parser = argparse.ArgumentParser(prog="python -m local.invoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("function", help="logical id in template.yaml, e.g. IngressFunction")
    parser.add_argument("-e", "--event", type=Path, required=True, help="event JSON file (see events/)")
    parser.add_argument("-n", "--env-vars", type=Path, help="JSON overrides in sam local's --env-vars format")
    parser.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD_DIR, help="sam build output")
    args = parser.parse_args(argv)
    try:
        env_vars = json.loads(args.env_vars.read_text(encoding="utf-8")) if args.env_vars else None
        function = load_function(args.function, build_dir=args.build_dir, env_vars=env_vars)
        result = invoke(function, json.loads(args.event.read_text(encoding="utf-8")))
    except (LocalInvokeError, OSError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sys.stderr.write(result.logs)
    print(f"REPORT Duration: {result.duration_s * 1000:.0f} ms (fresh process)", file=sys.stderr)
    print(json.dumps(result.payload, indent=2))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
