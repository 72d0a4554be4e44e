"""What each function imports at cold start: the ingress (the only code VoIPBin waits on) takes neither the
LLM client nor the AI core, answering a call does not import openai (about 0.35 s), and no function imports
the X-Ray SDK or a second HTTP stack beside httpx2 (openai's).

Checked in a fresh interpreter, as Lambda starts one; timings are benchmarks' business, not tests'.
"""

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from local.template import REPO_ROOT, template_resources

# A fresh interpreter per function, about a second each: too slow for the unit tier.
pytestmark = pytest.mark.integration

FUNCTIONS = sorted(path.parent.name for path in (REPO_ROOT / "functions").glob("*/app.py"))
# The tools' libraries load when a tool is called (the arguments' schema, a text's destination, the knowledge
# index), not at init.
NOWHERE = ("aws_xray_sdk", "httpx", "httpcore", "fastjsonschema", "phonenumbers", "sqlite3")
# function -> modules it must not import at cold start
LEAN = {
    **dict.fromkeys(FUNCTIONS, NOWHERE),
    "ingress": (*NOWHERE, "openai", "voipbin_ai.ai", "voipbin_ai.store", "httpx2"),
    "call_progressing": (*NOWHERE, "openai", "voipbin_ai.ai.core", "voipbin_ai.ai.llm"),
}


@cache
def cold_modules(function: str) -> frozenset[str]:
    probe = f"import json, sys; import functions.{function}.app; print(json.dumps(sorted(sys.modules)))"
    return frozenset(json.loads(_fresh_interpreter(probe)))


def _fresh_interpreter(probe: str) -> str:
    """What a probe prints in a new interpreter with the functions' paths, as Lambda starts one."""
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO_ROOT,
        # LAMBDA_TASK_ROOT and the trace header: as deployed with active tracing.
        env={
            "PYTHONPATH": f"{REPO_ROOT / 'shared'}:{REPO_ROOT}",
            "PATH": "/usr/bin:/bin",
            "LAMBDA_TASK_ROOT": str(REPO_ROOT),
            "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout


@pytest.mark.parametrize(("function", "module"), [(f, m) for f, modules in LEAN.items() for m in modules])
def test_a_lean_function_does_not_import(function: str, module: str) -> None:
    assert not any(name == module or name.startswith(f"{module}.") for name in cold_modules(function))


def test_the_probe_sees_what_the_functions_do_import() -> None:
    assert "voipbin_ai.voipbin.signature" in cold_modules("ingress")
    assert {"openai", "httpx2", "voipbin_ai.ai.llm"} <= cold_modules("transcript_created")
    assert len(FUNCTIONS) == len(template_resources("AWS::Serverless::Function"))


@pytest.mark.parametrize(
    ("function", "models"),
    [
        ("call_hangup", ["CallEvent"]),
        ("transcript_created", ["TranscribeSpeechEvent", "TranscriptCreatedEvent"]),
        ("inbound_sms", ["MessageEvent"]),
    ],
)
def test_a_function_builds_at_init_the_validators_of_its_own_events_only(function: str, models: list[str]) -> None:
    probe = (
        f"import json; import functions.{function}.app; from voipbin_ai.models import events; "
        "print(json.dumps(sorted(m.__name__ for m in events._MODELS if m.__pydantic_complete__)))"
    )
    assert json.loads(_fresh_interpreter(probe)) == models


def test_snapstart_is_on_exactly_the_functions_that_load_the_llm_client() -> None:
    functions = {
        Path(resource["Properties"]["CodeUri"]).name: resource["Properties"]
        for resource in template_resources("AWS::Serverless::Function").values()
    }
    assert sorted(functions) == FUNCTIONS
    for function, properties in functions.items():
        snapstart = properties.get("SnapStart") == {"ApplyOn": "PublishedVersions"}
        assert snapstart == ("openai" in cold_modules(function)), function
        assert not snapstart or properties.get("AutoPublishAlias")  # rules and routes then target the alias


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_layers_entry_hands_the_runtime_each_functions_own_handler(function: str) -> None:
    """As Lambda imports the Handler (the function's folder first on the path): its app's lambda_handler,
    imported with the collector off, then what it created frozen and the collector on again."""
    probe = (
        f"import gc, json, sys; sys.path.insert(0, 'functions/{function}'); import voipbin_ai.entry as entry, app; "
        "print(json.dumps([entry.lambda_handler is app.lambda_handler, gc.isenabled(), gc.get_freeze_count()]))"
    )
    same, collecting, frozen = json.loads(_fresh_interpreter(probe))
    assert same and collecting and frozen > 10_000
