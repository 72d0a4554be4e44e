"""What each function imports at cold start: the ingress (the only code VoIPBin waits on) takes neither the
LLM client nor the AI core, and answering a call does not import openai (about 0.35 s).

Checked in a fresh interpreter, as Lambda starts one; timings are benchmarks' business, not tests'.
"""

import json
import subprocess
import sys
from functools import cache

import pytest

from tests.helpers import REPO_ROOT

# function -> modules it must not import at cold start
LEAN = {
    "ingress": ("openai", "voipbin_ai.ai", "voipbin_ai.store", "httpx"),
    "call_progressing": ("openai", "voipbin_ai.ai.core", "voipbin_ai.ai.llm"),
}


@cache
def cold_modules(function: str) -> frozenset[str]:
    probe = f"import json, sys; import functions.{function}.app; print(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO_ROOT,
        # LAMBDA_TASK_ROOT: tracing is on, as deployed (the Tracer patches what it traces at import).
        env={
            "PYTHONPATH": f"{REPO_ROOT / 'shared'}:{REPO_ROOT}",
            "PATH": "/usr/bin:/bin",
            "LAMBDA_TASK_ROOT": str(REPO_ROOT),
            "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return frozenset(json.loads(completed.stdout))


@pytest.mark.parametrize(("function", "module"), [(f, m) for f, modules in LEAN.items() for m in modules])
def test_a_lean_function_does_not_import(function: str, module: str) -> None:
    assert not any(name == module or name.startswith(f"{module}.") for name in cold_modules(function))


def test_the_probe_sees_what_the_functions_do_import() -> None:
    assert "voipbin_ai.voipbin.signature" in cold_modules("ingress")
    assert "aws_xray_sdk.ext.botocore.patch" in cold_modules("ingress")  # tracing was on
    assert {"openai", "aws_xray_sdk.ext.httpx.patch"} <= cold_modules("transcript_created")
