"""What `sam build` ships: bytecode for every module, checked by hash so that it validates inside SAM's
1980-dated zips, and a layer without the X-Ray SDK or a second HTTP stack."""

import importlib.util
from pathlib import Path

import pytest

from local.template import REPO_ROOT

FUNCTIONS = sorted(path.parent.name for path in (REPO_ROOT / "functions").glob("*/app.py"))
# The flags word of a .pyc header (PEP 552): bit 0 hash-based, bit 1 check the source. Unchecked: 0b01.
UNCHECKED_HASH = 0b01


def artifacts(build_dir: Path) -> list[Path]:
    """The layer's python/ folder and every function's folder, as sam build lays them out."""
    functions = [path for path in build_dir.iterdir() if path.name.endswith("Function")]
    assert len(functions) == len(FUNCTIONS)
    return [build_dir / "SharedLayer" / "python", *functions]


@pytest.mark.integration
def test_every_module_ships_with_bytecode_checked_by_hash(build_dir: Path) -> None:
    for root in artifacts(build_dir):
        sources = list(root.rglob("*.py"))
        assert sources, root
        for source in sources:
            compiled = Path(importlib.util.cache_from_source(str(source)))
            assert compiled.is_file(), f"{source} ships without bytecode"
            assert int.from_bytes(compiled.read_bytes()[4:8], "little") == UNCHECKED_HASH, compiled


@pytest.mark.integration
def test_the_layer_ships_no_xray_sdk_and_one_http_stack(build_dir: Path) -> None:
    packages = {path.name for path in (build_dir / "SharedLayer" / "python").iterdir()}

    assert {"voipbin_ai", "openai", "httpx2", "httpcore2", "aws_lambda_powertools", "boto3"} <= packages
    assert not packages & {"aws_xray_sdk", "httpx", "httpcore"}
