"""What `sam build` ships: bytecode for every module, checked by hash so that it validates inside SAM's
1980-dated zips, a layer without the X-Ray SDK or a second HTTP stack, and the knowledge folder's index."""

import importlib.util
import sqlite3
from pathlib import Path

import pytest

from local.template import REPO_ROOT
from voipbin_ai.knowledge.index import INDEX_FILE, build
from voipbin_ai.knowledge.search import IndexedKnowledge

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


def _rows(index: Path) -> tuple[dict[str, int], set[tuple[str, str, str, str]]]:
    with sqlite3.connect(f"{index.as_uri()}?mode=ro", uri=True) as database:
        sets = dict(database.execute("SELECT name, documents FROM knowledge_sets"))
        passages = set(database.execute("SELECT knowledge_set, source, title, body FROM passages"))
    database.close()
    return sets, passages


@pytest.mark.integration
def test_the_layer_carries_the_index_of_the_knowledge_folder_as_it_is_now(build_dir: Path, tmp_path: Path) -> None:
    """A layer built before the documents changed fails here: shared/knowledge links them into the build."""
    shipped = build_dir / "SharedLayer" / "python" / INDEX_FILE.relative_to(INDEX_FILE.parents[2])
    build(REPO_ROOT / "knowledge", tmp_path / "index.sqlite3")

    sets, passages = _rows(shipped)
    assert sets["dental"] == 3
    assert (sets, passages) == _rows(tmp_path / "index.sqlite3")
    assert IndexedKnowledge(shipped, "dental").search("whitening price", limit=1)[0].source == "services.md"
    assert (REPO_ROOT / "shared" / "knowledge").resolve() == REPO_ROOT / "knowledge"
