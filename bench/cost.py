"""What a voice call-minute and an SMS cost on AWS, from measured per-unit usage and us-east-1 list prices.

Two parts. `consumed_capacity` counts DynamoDB operations and the capacity they consume through a boto3
client's own events (as tests/store_calls.py counts calls): it asks every call for ConsumedCapacity and sums
what comes back, which is what on-demand mode bills. `price` is a pure pricing model: the measured usage of
one voice turn, of one call's other events and of one SMS in, dollars per 1,000 call-minutes and per 1,000
SMS out, itemised per AWS service. The LLM's and VoIPBin's charges are not AWS's and are stated apart, never
added in.

    python -m bench.cost          # the model on sample inputs (the turn benchmark feeds measured ones)
"""

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final

# us-east-1 list prices (on-demand, no free tier, first volume tier), as published on the pages named and
# assumed current on PRICES_AS_OF. Rerun with new constants when AWS changes them.
PRICES_AS_OF: Final = "2026-11-23"
# https://aws.amazon.com/lambda/pricing/ (x86_64, first 6 billion GB-s a month; duration billed per 1 ms).
# Since 2025-08-01 the INIT phase of on-demand ZIP functions on managed runtimes is billed like the invoke:
# https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/
LAMBDA_USD_PER_GB_SECOND: Final = 0.0000166667
LAMBDA_USD_PER_REQUEST: Final = 0.20 / 1_000_000
# https://aws.amazon.com/api-gateway/pricing/ (HTTP APIs, first 300 million requests a month, per 512 KB).
HTTP_API_USD_PER_REQUEST: Final = 1.00 / 1_000_000
# https://aws.amazon.com/eventbridge/pricing/ (custom events published to a bus, each 64 KB chunk one event;
# rule matching and delivery to Lambda targets included).
EVENTBRIDGE_USD_PER_EVENT: Final = 1.00 / 1_000_000
EVENTBRIDGE_CHUNK_KB: Final = 64
# https://aws.amazon.com/dynamodb/pricing/on-demand/ (Standard table class; the prices since 2024-11-01).
DYNAMODB_USD_PER_WRITE_UNIT: Final = 0.625 / 1_000_000
DYNAMODB_USD_PER_READ_UNIT: Final = 0.125 / 1_000_000
# https://aws.amazon.com/sqs/pricing/ (standard queue, first 100 billion requests a month, per 64 KB).
SQS_USD_PER_REQUEST: Final = 0.40 / 1_000_000

PRICE_SOURCES: Final = {
    "lambda_gb_second": (LAMBDA_USD_PER_GB_SECOND, "GB-second, x86_64", "https://aws.amazon.com/lambda/pricing/"),
    "lambda_request": (0.20, "1M requests", "https://aws.amazon.com/lambda/pricing/"),
    "http_api_request": (1.00, "1M requests (first 300M/month)", "https://aws.amazon.com/api-gateway/pricing/"),
    "eventbridge_custom_event": (1.00, "1M events (64 KB chunks)", "https://aws.amazon.com/eventbridge/pricing/"),
    "dynamodb_write_request_unit": (0.625, "1M WRU", "https://aws.amazon.com/dynamodb/pricing/on-demand/"),
    "dynamodb_read_request_unit": (0.125, "1M RRU", "https://aws.amazon.com/dynamodb/pricing/on-demand/"),
    "sqs_standard_request": (0.40, "1M requests (64 KB chunks)", "https://aws.amazon.com/sqs/pricing/"),
}

# Example LLM prices, an assumption only (in the range of small hosted models); pass the real ones.
EXAMPLE_LLM_USD_PER_1M_INPUT: Final = 0.15
EXAMPLE_LLM_USD_PER_1M_OUTPUT: Final = 0.60

READ_OPERATIONS: Final = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
WRITE_OPERATIONS: Final = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems", "ExecuteTransaction"}
)
SERVICES: Final = ("lambda_requests", "lambda_duration", "http_api", "eventbridge", "dynamodb", "sqs")


# ---------------------------------------------------------------------------------------------------------
# Counting DynamoDB operations and consumed capacity through the client's events
# ---------------------------------------------------------------------------------------------------------


@dataclass
class DynamoDBUsage:
    """DynamoDB operations by name and the request units they consume.

    `reported_*` is what the responses' ConsumedCapacity said. `read_units`/`write_units` are what on-demand
    bills: the reported figure, raised where it is below DynamoDB's billing floor for the request (see
    `capacity_floor`). The floors matter on DynamoDB Local, which reports an empty Query as 0 and sums a
    transaction's items as a set of distinct values (four 1 KB puts: 2 WRU, where AWS bills 8); on AWS the
    reported figure is normally at or above the floor already. Failed calls report nothing and are billed the
    floor (a failed conditional write still costs its WRU).
    """

    operations: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    read_units: float = 0.0
    write_units: float = 0.0
    reported_read_units: float = 0.0
    reported_write_units: float = 0.0
    units_by_operation: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, operation: str, reported: tuple[float, float], floor: tuple[float, float]) -> None:
        """Count one call: its reported (read, write) units and the floor its request is billed at least."""
        self.operations[operation] += 1
        read, write = max(reported[0], floor[0]), max(reported[1], floor[1])
        self.reported_read_units += reported[0]
        self.reported_write_units += reported[1]
        self.read_units += read
        self.write_units += write
        totals = self.units_by_operation.setdefault(operation, {"read_units": 0.0, "write_units": 0.0})
        totals["read_units"] += read
        totals["write_units"] += write

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "operations": dict(self.operations),
            "calls": sum(self.operations.values()),
            "read_calls": sum(n for name, n in self.operations.items() if name in READ_OPERATIONS),
            "write_calls": sum(n for name, n in self.operations.items() if name in WRITE_OPERATIONS),
            "failed": dict(self.failed),
            "read_units": self.read_units,
            "write_units": self.write_units,
            "reported_read_units": self.reported_read_units,
            "reported_write_units": self.reported_write_units,
            "units_by_operation": self.units_by_operation,
        }


def reported_units(operation: str, consumed: Mapping[str, Any] | list[Mapping[str, Any]] | None) -> tuple[float, float]:
    """(read, write) units of a response's ConsumedCapacity: one dict, or a list of one per table.

    Responses carry the total CapacityUnits, and ReadCapacityUnits/WriteCapacityUnits only where DynamoDB
    splits them; a bare total belongs to the operation's kind.
    """
    entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
    read = write = 0.0
    for entry in entries:
        if entry.get("ReadCapacityUnits") is None and entry.get("WriteCapacityUnits") is None:
            total = float(entry.get("CapacityUnits", 0.0))
            if operation in WRITE_OPERATIONS:
                write += total
            else:
                read += total
        else:
            read += float(entry.get("ReadCapacityUnits") or 0.0)
            write += float(entry.get("WriteCapacityUnits") or 0.0)
    return read, write


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes of an item as DynamoDB sizes it (attribute names plus values), close enough for rounding to KB."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Mapping[str, Any]) -> int:
    (kind, data), *_ = value.items()
    sizes: dict[str, Any] = {
        "S": lambda: len(str(data).encode()),
        "N": lambda: (len(str(data).lstrip("-").replace(".", "")) + 1) // 2 + 1,
        "B": lambda: len(data),
        "BOOL": lambda: 1,
        "NULL": lambda: 1,
        "SS": lambda: sum(len(str(v).encode()) for v in data),
        "NS": lambda: sum((len(str(v)) + 1) // 2 + 1 for v in data),
        "BS": lambda: sum(len(v) for v in data),
        "L": lambda: 3 + sum(1 + _value_size(v) for v in data),
        "M": lambda: 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in data.items()),
    }
    return int(sizes.get(kind, lambda: 0)())


def capacity_floor(operation: str, params: Mapping[str, Any]) -> tuple[float, float]:
    """The fewest (read, write) request units DynamoDB bills for this request, whatever the items hold.

    A read bills at least 0.5 RRU (1 if strongly consistent), a missing item and an empty Query included;
    a write at least 1 WRU per KB of the item written (1 when the size is not in the request); a
    transaction twice that per item.
    """
    read = write = 0.0
    if operation in {"GetItem", "Query", "Scan"}:
        read = 1.0 if params.get("ConsistentRead") else 0.5
    elif operation in {"PutItem", "UpdateItem", "DeleteItem"}:
        write = _write_units(params.get("Item"))
    elif operation == "BatchGetItem":
        requests = params.get("RequestItems", {}).values()
        read = sum((1.0 if r.get("ConsistentRead") else 0.5) * len(r.get("Keys", [])) for r in requests)
    elif operation == "BatchWriteItem":
        writes = [w for table_writes in params.get("RequestItems", {}).values() for w in table_writes]
        write = sum(_write_units(w.get("PutRequest", {}).get("Item")) for w in writes)
    elif operation == "TransactGetItems":
        read = 2.0 * len(params.get("TransactItems", []))
    elif operation == "TransactWriteItems":
        write = sum(2 * _write_units(i.get("Put", {}).get("Item")) for i in params.get("TransactItems", []))
    return read, write


def _write_units(item: Mapping[str, Any] | None) -> float:
    """WRU of writing this item (1 per KB started), or 1 for a write whose item the request does not hold."""
    return float(max(1, math.ceil(item_size(item) / 1024))) if item else 1.0


_FLOOR_KEY: Final = "bench_capacity_floor"


@contextmanager
def consumed_capacity(*clients: Any) -> Iterator[DynamoDBUsage]:
    """Count the DynamoDB operations these boto3 clients send while the block runs, and their request units.

    Every operation that takes ReturnConsumedCapacity gets TOTAL unless the caller asked for more (INDEXES);
    each response's ConsumedCapacity is summed, and each request's billing floor kept beside it (see
    DynamoDBUsage). Registered on the clients' own event systems, as tests/store_calls.py counts calls.
    """
    usage = DynamoDBUsage()

    def ask(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        context[_FLOOR_KEY] = capacity_floor(model.name, params)

    def count(http_response: Any, parsed: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        floor = context.get(_FLOOR_KEY, (0.0, 0.0))
        if getattr(http_response, "status_code", 200) >= 300:
            usage.failed[model.name] += 1
            usage.add(model.name, (0.0, 0.0), floor)
            return
        usage.add(model.name, reported_units(model.name, parsed.get("ConsumedCapacity")), floor)

    def count_error(event_name: str, **_: Any) -> None:
        # No response at all (the connection failed): nothing billed, the call still counted.
        operation = event_name.rsplit(".", 1)[-1]
        usage.failed[operation] += 1
        usage.add(operation, (0.0, 0.0), (0.0, 0.0))

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


# ---------------------------------------------------------------------------------------------------------
# The pricing model
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    """Lambda invocations of one function within a unit of work, with their measured warm duration."""

    function: str
    memory_mb: int
    duration_ms: float
    count: float = 1.0
    # The INIT duration billed on a cold start (since 2025-08-01), weighted by CostInputs.cold_start_rate.
    init_ms: float = 0.0


@dataclass(frozen=True)
class UnitUsage:
    """The AWS usage of one unit of work (a voice turn, a call's other events, one SMS), as measured."""

    http_requests: float = 0.0  # webhook requests through the HTTP API (dropped types included)
    put_events_entries: float = 0.0  # PutEvents entries on the bus
    event_size_kb: float = 2.0  # average entry size; each 64 KB chunk is billed as one event
    invocations: tuple[Invocation, ...] = ()
    dynamodb_read_units: float = 0.0  # RRU, from ConsumedCapacity
    dynamodb_write_units: float = 0.0  # WRU, from ConsumedCapacity
    sqs_requests: float = 0.0  # the delayed-actions queue (and the dead-letter queue, for failed events)


@dataclass(frozen=True)
class TokenUsage:
    """LLM tokens of one unit of work."""

    input_tokens: float
    output_tokens: float


@dataclass(frozen=True)
class CostInputs:
    """Everything the model needs: measured usage per unit, and the assumptions that scale it."""

    voice_turn: UnitUsage
    call_events: UnitUsage  # per call: call_progressing, call_hangup and every other non-turn event
    sms: UnitUsage
    turns_per_call_minute: float = 4.0  # assumption
    call_minutes_per_call: float = 3.0  # assumption: spreads the per-call events over the call's minutes
    cold_start_rate: float = 0.01  # assumption: share of invocations that start an environment
    tokens_per_turn: TokenUsage | None = None
    tokens_per_call: TokenUsage | None = None  # the non-turn LLM work of a call (e.g. its summary)
    tokens_per_sms: TokenUsage | None = None
    llm_usd_per_1m_input: float = EXAMPLE_LLM_USD_PER_1M_INPUT  # assumption (example price)
    llm_usd_per_1m_output: float = EXAMPLE_LLM_USD_PER_1M_OUTPUT  # assumption (example price)
    voipbin_usd_per_call_minute: float | None = None  # VoIPBin's own price list; not given by default
    voipbin_usd_per_sms: float | None = None


def unit_cost(usage: UnitUsage, cold_start_rate: float) -> dict[str, float]:
    """Dollars of one unit of work, per AWS service (SERVICES)."""
    requests = sum(invocation.count for invocation in usage.invocations)
    gb_seconds = sum(
        invocation.count
        * invocation.memory_mb
        / 1024
        * (math.ceil(invocation.duration_ms) + cold_start_rate * math.ceil(invocation.init_ms))
        / 1000
        for invocation in usage.invocations
    )
    chunks = max(1, math.ceil(usage.event_size_kb / EVENTBRIDGE_CHUNK_KB))
    return {
        "lambda_requests": requests * LAMBDA_USD_PER_REQUEST,
        "lambda_duration": gb_seconds * LAMBDA_USD_PER_GB_SECOND,
        "http_api": usage.http_requests * HTTP_API_USD_PER_REQUEST,
        "eventbridge": usage.put_events_entries * chunks * EVENTBRIDGE_USD_PER_EVENT,
        "dynamodb": usage.dynamodb_read_units * DYNAMODB_USD_PER_READ_UNIT
        + usage.dynamodb_write_units * DYNAMODB_USD_PER_WRITE_UNIT,
        "sqs": usage.sqs_requests * SQS_USD_PER_REQUEST,
    }


def _scaled(costs: Mapping[str, float], factor: float) -> dict[str, float]:
    return {service: costs[service] * factor for service in SERVICES}


def _usd(value: float) -> float:
    """Four significant figures: per-unit costs are millionths of a dollar."""
    return float(f"{value:.4g}")


def _itemised(costs: Mapping[str, float]) -> dict[str, Any]:
    rounded = {service: _usd(costs[service]) for service in SERVICES}
    return {"by_service_usd": rounded, "total_usd": _usd(sum(costs[service] for service in SERVICES))}


def _llm_usd(tokens: TokenUsage | None, inputs: CostInputs) -> float:
    if tokens is None:
        return 0.0
    input_usd = tokens.input_tokens * inputs.llm_usd_per_1m_input
    return (input_usd + tokens.output_tokens * inputs.llm_usd_per_1m_output) / 1_000_000


def price(inputs: CostInputs) -> dict[str, Any]:
    """Dollars per 1,000 call-minutes and per 1,000 SMS, itemised per AWS service; LLM and VoIPBin apart."""
    turn = unit_cost(inputs.voice_turn, inputs.cold_start_rate)
    call = unit_cost(inputs.call_events, inputs.cold_start_rate)
    sms = unit_cost(inputs.sms, inputs.cold_start_rate)
    minutes = 1000.0
    turns = minutes * inputs.turns_per_call_minute
    calls = minutes / inputs.call_minutes_per_call
    voice = {service: turn[service] * turns + call[service] * calls for service in SERVICES}
    llm_assumption = (
        f"example prices, an assumption: ${inputs.llm_usd_per_1m_input}/1M input and "
        f"${inputs.llm_usd_per_1m_output}/1M output tokens; use the provider's own"
    )
    return {
        "assumptions": {
            "region": "us-east-1",
            "prices_as_of": PRICES_AS_OF,
            "turns_per_call_minute": inputs.turns_per_call_minute,
            "call_minutes_per_call": inputs.call_minutes_per_call,
            "cold_start_rate": inputs.cold_start_rate,
            "free_tiers": "not applied",
        },
        "prices": {
            name: {"usd": usd, "per": unit, "source": source} for name, (usd, unit, source) in PRICE_SOURCES.items()
        },
        "usage": {
            "voice_turn": asdict(inputs.voice_turn),
            "call_events": asdict(inputs.call_events),
            "sms": asdict(inputs.sms),
        },
        "per_voice_turn": _itemised(turn),
        "per_call_non_turn_events": _itemised(call),
        "per_1000_call_minutes": {
            **_itemised(voice),
            "turns": turns,
            "calls": round(calls, 3),
            "turn_events_usd": _usd(sum(turn.values()) * turns),
            "call_events_usd": _usd(sum(call.values()) * calls),
        },
        "per_1000_sms": _itemised(_scaled(sms, 1000.0)),
        "not_included": {
            "llm": {
                "tokens_per_turn": asdict(inputs.tokens_per_turn) if inputs.tokens_per_turn else None,
                "tokens_per_call": asdict(inputs.tokens_per_call) if inputs.tokens_per_call else None,
                "tokens_per_sms": asdict(inputs.tokens_per_sms) if inputs.tokens_per_sms else None,
                "example_per_1000_call_minutes_usd": _usd(
                    _llm_usd(inputs.tokens_per_turn, inputs) * turns + _llm_usd(inputs.tokens_per_call, inputs) * calls
                ),
                "example_per_1000_sms_usd": _usd(_llm_usd(inputs.tokens_per_sms, inputs) * 1000.0),
                "assumption": llm_assumption,
            },
            "voipbin": {
                "per_1000_call_minutes_usd": None
                if inputs.voipbin_usd_per_call_minute is None
                else _usd(inputs.voipbin_usd_per_call_minute * minutes),
                "per_1000_sms_usd": None
                if inputs.voipbin_usd_per_sms is None
                else _usd(inputs.voipbin_usd_per_sms * 1000),
                "note": "VoIPBin bills calls, speech (TTS/STT) and SMS on its own price list; not an AWS charge.",
            },
            "aws_not_modelled": (
                "CloudWatch Logs ingestion and Powertools (EMF) custom metrics, X-Ray traces (Tracing: Active), "
                "SSM/KMS reads of the secrets (cached 5 min per container), DynamoDB storage, PITR and TTL, "
                "data transfer; free tiers."
            ),
        },
    }


def sample_inputs() -> CostInputs:
    """Plausible inputs, for the CLI and as the shape the turn benchmark fills in; not measurements.

    DynamoDB units follow the store's access patterns as measured on DynamoDB Local with consumed_capacity
    (one turn: take_turn 1 WRU, history 1 RRU, per reply piece record_reply 1 WRU and keep_reply a 3-item
    transaction (the turn check and two puts) of 6 WRU;
    Powertools idempotency 2 WRU per event); Lambda durations and webhook counts are guesses.
    """
    ingress = ("IngressFunction", 512, 40.0)
    return CostInputs(
        # Webhooks of one turn: speech_started and transcript_created (in) reach the function; ~4 interim
        # results and speech_ended are dropped at the ingress; the echo of our own voice (direction out) is
        # published but matches no rule.
        voice_turn=UnitUsage(
            http_requests=8,
            put_events_entries=4,
            invocations=(
                Invocation(*ingress, count=8, init_ms=900.0),
                Invocation("TranscriptCreatedFunction", 1024, 30.0, count=1, init_ms=1500.0),  # speech started
                Invocation("TranscriptCreatedFunction", 1024, 1800.0, count=1, init_ms=1500.0),  # reply, LLM streamed
            ),
            dynamodb_read_units=1.5,  # history (consistent) + transcribe -> call lookup
            dynamodb_write_units=19.0,  # take_turn 1 + two reply pieces 2 x (1 + 6) + idempotency 2 x 2
        ),
        call_events=UnitUsage(
            http_requests=10,  # created, ringing, progressing, hangup, transcribe and speaking lifecycle
            put_events_entries=2,
            invocations=(
                Invocation(*ingress, count=10, init_ms=900.0),
                Invocation("CallProgressingFunction", 512, 250.0, count=1, init_ms=900.0),
                Invocation("CallHangupFunction", 512, 1200.0, count=1, init_ms=900.0),  # summary, LLM
            ),
            dynamodb_read_units=1.0,
            dynamodb_write_units=9.0,  # start_call, media mapping, end, summary, contact memory, idempotency
        ),
        sms=UnitUsage(
            # message_created (in), conversation_message_created (dropped), our reply's message_created
            # (published, no rule) and its message_updated (dropped).
            http_requests=4,
            put_events_entries=2,
            invocations=(
                Invocation(*ingress, count=4, init_ms=900.0),
                Invocation("InboundSmsFunction", 512, 1500.0, count=1, init_ms=900.0),
            ),
            dynamodb_read_units=1.0,
            dynamodb_write_units=9.0,  # take_turn 1, the text 1, record_reply 1 + keep_reply 4, idempotency 2
        ),
        tokens_per_turn=TokenUsage(input_tokens=900, output_tokens=60),
        tokens_per_call=TokenUsage(input_tokens=2500, output_tokens=150),  # the hangup's summary
        tokens_per_sms=TokenUsage(input_tokens=700, output_tokens=80),
    )


def main(argv: list[str] | None = None) -> int:
    """CLI: print the model's output on the sample inputs as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns-per-minute", type=float, help="override the sample's turns per call-minute")
    parser.add_argument("--llm-input-price", type=float, help="$ per 1M input tokens (example, not included)")
    parser.add_argument("--llm-output-price", type=float, help="$ per 1M output tokens (example, not included)")
    args = parser.parse_args(argv)
    inputs = sample_inputs()
    inputs = replace(
        inputs,
        turns_per_call_minute=args.turns_per_minute or inputs.turns_per_call_minute,
        llm_usd_per_1m_input=args.llm_input_price or inputs.llm_usd_per_1m_input,
        llm_usd_per_1m_output=args.llm_output_price or inputs.llm_usd_per_1m_output,
    )
    result = {"inputs": "sample (not measured)", **price(inputs)}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
