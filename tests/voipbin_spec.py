"""VoIPBin's own OpenAPI spec as a test oracle: what the client sends and what the simulator answers, checked.

The spec is tests/data/voipbin/openapi.json, VoIPBin's bundled OpenAPI 3.0 document copied unchanged (MIT:
openapi.LICENSE beside it). Where VoIPBin's code answers otherwise than its spec says, the code wins
(CONTRACT.md §12): each such gap is one entry of GAPS, an amendment of the spec with its reason. Every
amendment first asserts that the spec still has its gap, so a newer spec that closes one fails here rather
than leave a stale exception behind.

SpecCheckedTransport wraps the simulator's in-process transport, so every unit test that reaches VoIPBin
through the client checks each request and answer against the amended spec (tests/fakes/in_process.py).
"""

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final
from urllib.parse import parse_qs

import httpx2
from openapi_schema_validator import OAS30ReadValidator, OAS30Validator, OAS30WriteValidator
from referencing import Registry
from referencing.jsonschema import DRAFT4

from local.voipbin_simulator import API_PREFIX
from tests.helpers import VOIPBIN_SAMPLES

SPEC_FILE: Final = VOIPBIN_SAMPLES / "openapi.json"
_SPEC_URI: Final = "urn:voipbin:openapi"
_METHODS: Final = ("get", "put", "post", "delete", "patch")

Spec = dict[str, Any]


@dataclass(frozen=True)
class Gap:
    """Where VoIPBin's code differs from its spec: the amendment that makes the spec say what the code does."""

    name: str
    reason: str
    amend: Callable[[Spec], None]


def _operations(spec: Spec) -> list[dict[str, Any]]:
    return [operation for item in spec["paths"].values() for method, operation in item.items() if method in _METHODS]


def _nullable_timestamps(spec: Spec) -> None:
    stamps = [
        prop
        for schema in spec["components"]["schemas"].values()
        for prop in schema.get("properties", {}).values()
        if prop.get("format") == "date-time" and not prop.get("nullable")
    ]
    assert stamps
    for prop in stamps:
        prop["nullable"] = True


def _more_address_types(spec: Spec) -> None:
    enum = spec["components"]["schemas"]["CommonAddress"]["properties"]["type"]["enum"]
    missing = ["ai", "ai_team", "webchat", "whatsapp"]
    assert not set(missing) & set(enum)
    enum.extend(missing)


def _webchat_conversations(spec: Spec) -> None:
    schemas = spec["components"]["schemas"]
    for name in ("ConversationManagerConversationType", "ConversationManagerMessageReferenceType"):
        assert "webchat" not in schemas[name]["enum"]
        schemas[name]["enum"].append("webchat")


def _speakings_listed_as_a_page(spec: Spec) -> None:
    content = spec["paths"]["/speakings"]["get"]["responses"]["200"]["content"]["application/json"]
    assert content["schema"]["type"] == "array"
    content["schema"] = {
        "allOf": [
            {"$ref": "#/components/schemas/CommonPagination"},
            {"type": "object", "properties": {"result": content["schema"]}},
        ]
    }


def _transcribe_reference_types(spec: Spec) -> None:
    body = spec["paths"]["/transcribes"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    reference_type = {"$ref": "#/components/schemas/TranscribeManagerTranscribeReferenceType"}
    assert body["properties"]["reference_type"] == reference_type
    body["properties"]["reference_type"] = {"type": "string", "enum": ["call", "conference", "recording"]}


def _say_limit(spec: Spec) -> None:
    text = spec["paths"]["/speakings/{id}/say"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "maxLength" not in text["properties"]["text"]
    text["properties"]["text"].update(minLength=1, maxLength=5000)


def _messages_without_402(spec: Spec) -> None:
    responses = spec["paths"]["/messages"]["post"]["responses"]
    assert "402" in responses
    del responses["402"]


def _customer_webhook_secret(spec: Spec) -> None:
    content = spec["paths"]["/customer"]["get"]["responses"]["200"]["content"]["application/json"]
    assert content["schema"] == {"$ref": "#/components/schemas/CustomerManagerCustomer"}
    secret = {"type": "object", "properties": {"webhook_secret": {"type": "string"}}}
    content["schema"] = {"allOf": [content["schema"], secret]}


def _errors_on_every_route(spec: Spec) -> None:
    extra = {"429": "TooManyRequests", "503": "Unavailable"}
    lacking = [operation for operation in _operations(spec) if not extra.keys() <= operation["responses"].keys()]
    assert lacking
    for operation in lacking:
        for status, name in extra.items():
            operation["responses"].setdefault(status, {"$ref": f"#/components/responses/{name}"})


def _credentials_in_the_query(spec: Spec) -> None:
    assert "securitySchemes" not in spec["components"] and "security" not in spec
    for operation in _operations(spec):
        operation.setdefault("parameters", []).extend(
            {"name": name, "in": "query", "schema": {"type": "string"}} for name in ("token", "accesskey")
        )


GAPS: Final = (
    Gap(
        "nullable timestamps",
        "Go writes an unset *time.Time without omitempty as null (tm_update of a new transcribe, message or "
        "transfer; tm_delete of most resources); the spec declares every timestamp a non-nullable string.",
        _nullable_timestamps,
    ),
    Gap(
        "more address types",
        "bin-common-handler/models/address knows ai, ai_team, webchat and whatsapp too; the spec's enum lacks them.",
        _more_address_types,
    ),
    Gap(
        "webchat conversations",
        "bin-conversation-manager carries VoIPBin's own web chat widget as conversations of type and reference "
        "type webchat; the spec's enums lack it.",
        _webchat_conversations,
    ),
    Gap(
        "speakings listed as a page",
        "GET /speakings answers {result, next_page_token} like every list (GenerateListResponse); the spec says "
        "a bare array.",
        _speakings_listed_as_a_page,
    ),
    Gap(
        "transcribe reference types",
        "POST /transcribes accepts call, conference and recording (a conference is turned into its confbridge); "
        "the spec's enum is unknown, recording, call, confbridge, and confbridge is refused with 400.",
        _transcribe_reference_types,
    ),
    Gap(
        "say limit",
        "/say refuses an empty text and one over 5000 bytes (400); the spec sets no bounds. The schema can only "
        "count characters: the simulator's tests check the bytes.",
        _say_limit,
    ),
    Gap(
        "messages without 402",
        "POST /messages lists 402, but an unverified customer or a low balance fails as a plain error: 500.",
        _messages_without_402,
    ),
    Gap(
        "customer webhook secret",
        "GET /customer returns webhook_secret, the one place it can be read (README: the webhook's secret); "
        "the spec's customer has no such field.",
        _customer_webhook_secret,
    ),
    Gap(
        "errors on every route",
        "The rate limiter (429) and an internal RPC timing out (503 REQUEST_TIMEOUT, e.g. the TTS pod that holds a "
        "speaking is gone, CONTRACT §11) can answer any /v1.0 route; the spec lists them on a few.",
        _errors_on_every_route,
    ),
    Gap(
        "credentials in the query",
        "The spec declares no security scheme; every route takes ?token= or ?accesskey= (or a Bearer header), "
        "CONTRACT §3.1.",
        _credentials_in_the_query,
    ),
)


@cache
def amended_spec() -> Spec:
    """The spec with every gap amended (read once per test session)."""
    spec: Spec = json.loads(SPEC_FILE.read_text())
    for gap in GAPS:
        gap.amend(spec)
    amended: Spec = _without_ref_siblings(spec)
    return amended


def _without_ref_siblings(node: Any) -> Any:
    """OpenAPI 3.0 ignores whatever stands beside a $ref; the draft-4 validator would apply it, so it goes.

    (The spec has `{"type": "string", "$ref": "#/components/schemas/CommonAddress"}` for an address.)
    """
    if isinstance(node, dict):
        return {"$ref": node["$ref"]} if "$ref" in node else {key: _without_ref_siblings(v) for key, v in node.items()}
    if isinstance(node, list):
        return [_without_ref_siblings(item) for item in node]
    return node


@cache
def _registry() -> Registry[Any]:
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, DRAFT4.create_resource(amended_spec()))
    return registry


@cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    """Each spec path as a regex; literal segments before parameters, so /calls/{id} never shadows a literal."""
    paths = sorted(amended_spec()["paths"], key=lambda path: (path.count("{"), path))
    return [(re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path))), path) for path in paths]


def path_template(path: str) -> str | None:
    """The spec path a concrete path (relative to /v1.0) is an instance of."""
    return next((template for pattern, template in _templates() if pattern.fullmatch(path)), None)


def _pointer(*parts: str) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def _resolve(pointer: str) -> tuple[str, Any]:
    """(pointer, node) with a $ref at that node followed, within the spec."""
    node: Any = amended_spec()
    for part in pointer.split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, dict) and "$ref" in node:
        return _resolve(node["$ref"].removeprefix("#"))
    return pointer, node


@cache
def _validator(pointer: str, *, writing: bool) -> Any:
    """A validator of the schema at pointer; writing (a request) refuses readOnly fields, reading writeOnly ones."""
    kind = OAS30WriteValidator if writing else OAS30ReadValidator
    return kind({"$ref": f"{_SPEC_URI}#{pointer}"}, registry=_registry(), format_checker=OAS30Validator.FORMAT_CHECKER)


def schema_violations(pointer: str, instance: Any, *, writing: bool) -> list[str]:
    """Where instance breaks the schema at pointer, or has a field the schema does not name, one line each."""
    errors = _validator(pointer, writing=writing).iter_errors(instance)
    return [f"{error.json_path}: {error.message[:200]}" for error in errors] + [
        f"{where}: not in the spec" for where in _undeclared_fields(pointer, instance, "$")
    ]


def _undeclared_fields(pointer: str, instance: Any, where: str) -> list[str]:
    """Fields the schema's properties do not name, anywhere in instance.

    The spec allows any other field (no additionalProperties), so a misspelt option would pass and VoIPBin
    would ignore it; a field the simulator made up would pass too. Both are refused here.
    """
    pointer, schema = _resolve(pointer)
    parts = [_resolve(f"{pointer}/allOf/{index}") for index in range(len(schema.get("allOf", [])))] or [
        (pointer, schema)
    ]
    properties = {name: f"{at}/properties/{name}" for at, part in parts for name in part.get("properties", {})}
    found: list[str] = []
    if isinstance(instance, dict) and properties:
        for name, value in instance.items():
            if name in properties:
                found += _undeclared_fields(properties[name], value, f"{where}.{name}")
            else:
                found.append(f"{where}.{name}")
    elif isinstance(instance, list) and "items" in schema:
        for index, item in enumerate(instance):
            found += _undeclared_fields(f"{pointer}/items", item, f"{where}[{index}]")
    return found


def _operation(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    template = path_template(path)
    if template is None or method.lower() not in amended_spec()["paths"][template]:
        return None
    return _pointer("paths", template, method.lower()), amended_spec()["paths"][template][method.lower()]


def _json_schema_pointer(pointer: str) -> str | None:
    """The pointer of the application/json schema of a request body or response at pointer, if it has one."""
    pointer, node = _resolve(pointer)
    if "application/json" not in node.get("content", {}):
        return None
    return pointer + _pointer("content", "application/json", "schema")


def request_violations(method: str, path: str, query: Mapping[str, list[str]], body: Any) -> list[str]:
    """How a request (path relative to /v1.0, parsed JSON body or None) breaks the spec."""
    found = _operation(method, path)
    if found is None:
        return [f"{method} {path}: no such operation in the spec"]
    pointer, operation = found
    where = f"{method} {path_template(path)}"
    problems: list[str] = []
    parameters = [_resolve(f"{pointer}/parameters/{index}")[1] for index in range(len(operation.get("parameters", [])))]
    declared = {parameter["name"]: parameter for parameter in parameters if parameter["in"] == "query"}
    problems += [f"{where}: query parameter {name} not in the spec" for name in query if name not in declared]
    for name, parameter in declared.items():
        if parameter.get("required") and name not in query:
            problems.append(f"{where}: required query parameter {name} missing")
        if parameter.get("schema", {}).get("type") == "integer" and name in query:
            problems += [f"{where}: {name}={value!r} is not an integer" for value in query[name] if not value.isdigit()]
    if "requestBody" not in operation:
        if body is not None:
            problems.append(f"{where}: a body where the spec has none")
        return problems
    schema = _json_schema_pointer(pointer + "/requestBody")
    if body is None:
        if _resolve(pointer + "/requestBody")[1].get("required"):
            problems.append(f"{where}: the required body is missing")
    elif schema is not None:
        problems += [f"{where} body {line}" for line in schema_violations(schema, body, writing=True)]
    return problems


def response_violations(method: str, path: str, status: int, body: Any) -> list[str]:
    """How an answer to a request (path relative to /v1.0, parsed JSON body or None) breaks the spec."""
    found = _operation(method, path)
    if found is None:
        return [f"{method} {path}: no such operation in the spec"]
    pointer, operation = found
    where = f"{method} {path_template(path)} {status}"
    key = str(status) if str(status) in operation["responses"] else "default"
    if key not in operation["responses"]:
        return [f"{where}: status not in the spec"]
    schema = _json_schema_pointer(f"{pointer}/responses/{key}")
    if schema is None:
        return [] if body is None else [f"{where}: a body where the spec has none"]
    return [f"{where} {line}" for line in schema_violations(schema, body, writing=False)]


def _json(content: bytes) -> Any:
    return json.loads(content) if content.strip() else None


class SpecCheckedTransport(httpx2.BaseTransport):
    """A transport that checks each request and answer against the amended spec and collects what breaks it."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self._inner = inner
        self.violations: list[str] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path.removeprefix(API_PREFIX)
        query = parse_qs(request.url.query.decode(), keep_blank_values=True)
        self.violations += request_violations(request.method, path, query, _json(request.read()))
        response = self._inner.handle_request(request)
        self.violations += response_violations(request.method, path, response.status_code, _json(response.read()))
        return response
