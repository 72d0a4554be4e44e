"""AWS cost per call-minute and SMS: DynamoDB units via boto3's events, each list price stated once."""

import math
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final


@dataclass(frozen=True)
class Price:
    """A list price: `usd` for `per` of `unit`, as published at `source`."""

    usd: float
    unit: str
    source: str
    per: int = 1_000_000

    @property
    def each(self) -> float:
        """Dollars for one unit."""
        return self.usd / self.per


_AWS = "https://aws.amazon.com/{}/pricing/"
# As of 2026-11-23: us-east-1, on demand, no free tier, first volume tier. Lambda bills INIT of on-demand ZIP
# functions too since 2025-08-01 (https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/).
PRICES: Final = {
    "lambda_gb_second": Price(0.0000166667, "GB-second, x86_64", _AWS.format("lambda"), per=1),
    "lambda_request": Price(0.20, "requests", _AWS.format("lambda")),
    "http_api_request": Price(1.00, "HTTP API requests (512 KB each)", _AWS.format("api-gateway")),
    "eventbridge_event": Price(1.00, "custom events (64 KB each)", _AWS.format("eventbridge")),
    "dynamodb_write_unit": Price(0.625, "write request units", _AWS.format("dynamodb") + "on-demand/"),
    "dynamodb_read_unit": Price(0.125, "read request units", _AWS.format("dynamodb") + "on-demand/"),
    "sqs_request": Price(0.40, "standard queue requests (64 KB each)", _AWS.format("sqs")),
}
# An assumption only, in the range of small hosted models: use the provider's own prices.
EXAMPLE_LLM_PRICES: Final = {
    "llm_input_token": Price(0.15, "input tokens (example)", "an assumption"),
    "llm_output_token": Price(0.60, "output tokens (example)", "an assumption"),
}
EVENTBRIDGE_CHUNK_KB: Final = 64
WRITE_OPERATIONS: Final = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems", "ExecuteTransaction"}
)


@dataclass
class DynamoDBUsage:
    """DynamoDB operations by name and the request units billed for them.

    A call is billed what its ConsumedCapacity reports, raised to the request's billing floor
    (`capacity_floor`): DynamoDB Local reports an empty Query as 0 and a transaction's items as a set of
    distinct values, where AWS bills at least the floor. A failed call reports nothing and is billed the floor.
    """

    operations: Counter[str] = field(default_factory=Counter)
    read_units: float = 0.0
    write_units: float = 0.0

    def add(self, operation: str, reported: tuple[float, float], floor: tuple[float, float]) -> None:
        """Count one call."""
        self.operations[operation] += 1
        self.read_units += max(reported[0], floor[0])
        self.write_units += max(reported[1], floor[1])

    def __iadd__(self, other: "DynamoDBUsage") -> "DynamoDBUsage":
        self.operations += other.operations
        self.read_units += other.read_units
        self.write_units += other.write_units
        return self


def reported_units(operation: str, consumed: Mapping[str, Any] | list[Mapping[str, Any]] | None) -> tuple[float, float]:
    """(read, write) units of a response's ConsumedCapacity (one dict, or one per table): its operation's kind."""
    total = sum(
        float(entry.get("CapacityUnits", 0.0))
        for entry in (consumed if isinstance(consumed, list) else [consumed or {}])
    )
    return (0.0, total) if operation in WRITE_OPERATIONS else (total, 0.0)


def capacity_floor(operation: str, params: Mapping[str, Any]) -> tuple[float, float]:
    """The fewest (read, write) units DynamoDB bills for this request, whatever the items hold.

    A read at least 0.5 RRU (1 if consistent), a missing item and an empty Query included; a write 1 WRU per
    item (the reported figure covers items over 1 KB); a transaction twice that.
    """
    consistent = 1.0 if params.get("ConsistentRead") else 0.5
    transacted = len(params.get("TransactItems", []))
    floors = {
        "GetItem": (consistent, 0.0),
        "Query": (consistent, 0.0),
        "Scan": (consistent, 0.0),
        "PutItem": (0.0, 1.0),
        "UpdateItem": (0.0, 1.0),
        "DeleteItem": (0.0, 1.0),
        "BatchGetItem": (sum(0.5 * len(r.get("Keys", [])) for r in params.get("RequestItems", {}).values()), 0.0),
        "BatchWriteItem": (0.0, float(sum(len(writes) for writes in params.get("RequestItems", {}).values()))),
        "TransactGetItems": (2.0 * transacted, 0.0),
        "TransactWriteItems": (0.0, 2.0 * transacted),
    }
    return floors.get(operation, (0.0, 0.0))


@contextmanager
def consumed_capacity(*clients: Any) -> Iterator[DynamoDBUsage]:
    """Count what these boto3 clients send to DynamoDB while the block runs, and the units billed.

    Every operation that takes ReturnConsumedCapacity asks for TOTAL unless the caller asked for more.
    """
    usage = DynamoDBUsage()

    def ask(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        context["bench_capacity_floor"] = capacity_floor(model.name, params)

    def count(http_response: Any, parsed: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        failed = getattr(http_response, "status_code", 200) >= 300  # billed the floor, whatever it says
        reported = (0.0, 0.0) if failed else reported_units(model.name, parsed.get("ConsumedCapacity"))
        usage.add(model.name, reported, context.get("bench_capacity_floor", (0.0, 0.0)))

    def count_error(event_name: str, **_: Any) -> None:  # no response at all: nothing billed
        usage.add(event_name.rsplit(".", 1)[-1], (0.0, 0.0), (0.0, 0.0))

    handlers = (
        ("provide-client-params.dynamodb.*", ask),
        ("after-call.dynamodb.*", count),
        ("after-call-error.dynamodb.*", count_error),
    )
    for client in clients:
        for event_name, handler in handlers:
            client.meta.events.register(event_name, handler)
    try:
        yield usage
    finally:
        for client in clients:
            for event_name, handler in handlers:
                client.meta.events.unregister(event_name, handler)


@dataclass(frozen=True)
class Invocation:
    """Lambda invocations of one function in a unit of work: how many, and their warm and INIT duration."""

    function: str
    memory_mb: int
    duration_ms: float
    count: float = 1.0
    init_ms: float = 0.0  # billed on a cold start, weighted by the cold-start rate


@dataclass(frozen=True)
class UnitUsage:
    """The AWS usage and LLM tokens of one unit of work (a voice turn, a call's other events, an SMS)."""

    http_requests: float = 0.0  # webhooks through the HTTP API, dropped types included
    put_events_entries: float = 0.0
    event_size_kb: float = 2.0
    invocations: tuple[Invocation, ...] = ()
    dynamodb_read_units: float = 0.0
    dynamodb_write_units: float = 0.0
    sqs_requests: float = 0.0
    input_tokens: float = 0.0
    output_tokens: float = 0.0


@dataclass(frozen=True)
class Assumptions:
    """What scales the units to call-minutes, and how often a container starts."""

    turns_per_call_minute: float = 4.0
    call_minutes_per_call: float = 3.0
    cold_start_rate: float = 0.01


def unit_cost(usage: UnitUsage, cold_start_rate: float) -> dict[str, float]:
    """Dollars of one unit of work, per AWS service."""
    gb_seconds = sum(
        i.count * i.memory_mb / 1024 * (math.ceil(i.duration_ms) + cold_start_rate * math.ceil(i.init_ms)) / 1000
        for i in usage.invocations
    )
    chunks = max(1, math.ceil(usage.event_size_kb / EVENTBRIDGE_CHUNK_KB))
    return {
        "lambda_requests": sum(i.count for i in usage.invocations) * PRICES["lambda_request"].each,
        "lambda_duration": gb_seconds * PRICES["lambda_gb_second"].each,
        "http_api": usage.http_requests * PRICES["http_api_request"].each,
        "eventbridge": usage.put_events_entries * chunks * PRICES["eventbridge_event"].each,
        "dynamodb": usage.dynamodb_read_units * PRICES["dynamodb_read_unit"].each
        + usage.dynamodb_write_units * PRICES["dynamodb_write_unit"].each,
        "sqs": usage.sqs_requests * PRICES["sqs_request"].each,
    }


def llm_cost(usage: UnitUsage) -> float:
    """Dollars of a unit's LLM tokens at the example prices."""
    return (
        usage.input_tokens * EXAMPLE_LLM_PRICES["llm_input_token"].each
        + usage.output_tokens * EXAMPLE_LLM_PRICES["llm_output_token"].each
    )


def price(turn: UnitUsage, call: UnitUsage, sms: UnitUsage, assumptions: Assumptions) -> dict[str, Any]:
    """Dollars per 1,000 call-minutes and per 1,000 SMS, per AWS service, and the LLM's at example prices."""
    turns = 1000.0 * assumptions.turns_per_call_minute
    calls = 1000.0 / assumptions.call_minutes_per_call
    per_turn, per_call = unit_cost(turn, assumptions.cold_start_rate), unit_cost(call, assumptions.cold_start_rate)
    per_sms = unit_cost(sms, assumptions.cold_start_rate)
    minutes = {service: cost * turns + per_call[service] * calls for service, cost in per_turn.items()}
    return {
        "per_1000_call_minutes": {
            "by_service_usd": minutes,
            "total_usd": sum(minutes.values()),
            "llm_example_usd": llm_cost(turn) * turns + llm_cost(call) * calls,
        },
        "per_1000_sms": {
            "by_service_usd": {service: cost * 1000 for service, cost in per_sms.items()},
            "total_usd": sum(per_sms.values()) * 1000,
            "llm_example_usd": llm_cost(sms) * 1000,
        },
    }
