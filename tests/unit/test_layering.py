"""The layer's packages import one another in one direction only: no cycle between them."""

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from local.template import REPO_ROOT

LAYER = REPO_ROOT / "shared" / "voipbin_ai"


def _unit(module: str) -> str:
    """The part of the layer a module belongs to: its subpackage (ai, logic...) or its own top-level module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else module


def _imports_at_load(path: Path) -> set[str]:
    """voipbin_ai modules a module imports when it is loaded (not under TYPE_CHECKING, not inside functions)."""
    imported: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("voipbin_ai."):
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names if alias.name.startswith("voipbin_ai.")}
    return imported


def dependencies() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in LAYER.rglob("*.py"):
        unit = _unit(".".join(path.relative_to(LAYER.parent).with_suffix("").parts))
        if unit == "__init__":
            continue
        targets = {_unit(module) for module in _imports_at_load(path)} - {unit}
        graph.setdefault(unit, set()).update(targets)
    return graph


def test_the_layers_packages_form_no_cycle() -> None:
    graph = dependencies()

    assert {"ai", "logic", "models", "store", "voipbin", "config"} <= set(graph)
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle between the layer's packages: {error.args[1]}") from error
    assert order.index("models") < order.index("store") < order.index("ai") < order.index("logic")


def test_the_engine_and_the_use_cases_depend_on_interfaces_not_on_dynamodb_or_http() -> None:
    """Only Services.default() picks the implementations; the rest sees store/base.py and voipbin/api.py."""
    for path in [*(LAYER / "ai").glob("*.py"), *(LAYER / "logic").glob("*.py")]:
        if path.name in {"services.py", "llm.py"}:
            continue
        assert "voipbin_ai.store.dynamodb" not in _imports_at_load(path), f"{path.name} imports the DynamoDB store"
        source = path.read_text(encoding="utf-8")
        for implementation in ("DynamoDBStore", "VoipbinClient", "LlmClient"):
            assert implementation not in source, f"{path.name} names {implementation}"


def test_no_use_case_waits_by_sleeping() -> None:
    """Work for later goes to the delayed-actions queue (later.py): a sleeping function is billed to wait."""
    for path in (LAYER / "logic").glob("*.py"):
        assert "sleep(" not in path.read_text(encoding="utf-8"), path.name
