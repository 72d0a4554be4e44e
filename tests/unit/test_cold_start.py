"""The ingress is the only code VoIPBin waits on: it must not import the LLM client or the AI core.

Checked in a fresh interpreter, as Lambda starts one; timings are benchmarks' business, not tests'.
"""

import json
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT

PROBE = "import json, sys; import functions.ingress.app; print(json.dumps(sorted(sys.modules)))"
HEAVY = ("openai", "voipbin_ai.ai", "voipbin_ai.store", "httpx")


@pytest.fixture(scope="module")
def ingress_modules() -> set[str]:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO_ROOT,
        env={"PYTHONPATH": f"{REPO_ROOT / 'shared'}:{REPO_ROOT}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(completed.stdout))


@pytest.mark.parametrize("module", HEAVY)
def test_the_ingress_does_not_import(ingress_modules: set[str], module: str) -> None:
    assert not any(name == module or name.startswith(f"{module}.") for name in ingress_modules)


def test_the_probe_sees_the_ingress(ingress_modules: set[str]) -> None:
    assert "voipbin_ai.voipbin.signature" in ingress_modules
