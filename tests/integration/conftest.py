"""Integration tests run the built artifact (sam build's output) as Lambda lays it out."""

import subprocess
import sys
from pathlib import Path

import pytest

from local.invoke import DEFAULT_BUILD_DIR
from local.template import REPO_ROOT


@pytest.fixture(scope="session")
def build_dir() -> Path:
    """sam build's output; built here when missing, so `pytest tests/integration` works on its own.

    `make test` always builds first, so this never runs stale code there.
    """
    if not (DEFAULT_BUILD_DIR / "template.yaml").is_file():
        sam = Path(sys.executable).with_name("sam")
        subprocess.run([str(sam), "build", "--cached"], cwd=REPO_ROOT, check=True)
    return DEFAULT_BUILD_DIR
