"""template.yaml as the local tooling, the benchmarks and the tests read it: one reader, one repository root.

The template is parsed as SAM CLI parses it (intrinsics stay as {"Ref": ...} and {"Fn::GetAtt": [...]}),
once per version of the file.
"""

import copy
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = REPO_ROOT / "template.yaml"


def parsed_template(template: Path = TEMPLATE) -> dict[str, Any]:
    """The whole template (a copy: callers may change it)."""
    return copy.deepcopy(_parsed(template, template.stat().st_mtime_ns))


def template_resources(kind: str, template: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    """The template's resources of one type ("AWS::Serverless::Function"), by logical id."""
    resources = parsed_template(template)["Resources"]
    return {name: resource for name, resource in resources.items() if resource["Type"] == kind}


@cache
def _parsed(template: Path, _version: int) -> dict[str, Any]:
    from samcli.yamlhelper import yaml_parse

    return dict(yaml_parse(template.read_text(encoding="utf-8")))
