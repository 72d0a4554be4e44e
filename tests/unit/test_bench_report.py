"""The benchmark's report and cost model: tables replace only their regions; each price counts once."""

import pytest

from bench.cost import PRICES, UnitUsage, capacity_floor, unit_cost
from bench.report import update

MACHINE = {
    "environment": {
        "date": "2026-12-03 10:00 UTC",
        "cpu_model": "CPU",
        "cpus": 2,
        "memory": "1.0 GiB",
        "platform": "Linux",
        "python": "CPython 3.12.1",
        "load_average": 0.5,
    },
    "plan": {"quick": True, "overhead_calls": 3},
    "runtime_s": 60.0,
    "llm": {"ttft_ms": 200.0, "token_delay_ms": 20.0},
}


def test_a_table_replaces_its_region_and_keeps_the_text_around_it() -> None:
    markdown = "Read by hand.\n<!-- bench:machine -->\nold table\n<!-- /bench:machine -->\nMore text.\n"

    updated = update(markdown, MACHINE)

    assert updated.startswith("Read by hand.\n<!-- bench:machine -->\n| ")
    assert "old table" not in updated
    assert "| load average at start (1 min) | 0.5 |" in updated
    assert updated.endswith("\n<!-- /bench:machine -->\nMore text.\n")


def test_a_failed_phase_says_so_in_its_region() -> None:
    markdown = "<!-- bench:machine -->\n<!-- /bench:machine -->\n<!-- bench:overhead -->\n<!-- /bench:overhead -->\n"

    updated = update(markdown, {**MACHINE, "turn_overhead": {"error": "BenchError: no /say"}})

    assert "Not measured in the last run: `BenchError: no /say`" in updated


def test_a_missing_region_is_an_error_not_a_silent_skip() -> None:
    with pytest.raises(ValueError, match="bench:machine"):
        update("no markers here\n", MACHINE)


def test_each_service_is_priced_from_its_one_list_price() -> None:
    usage = UnitUsage(http_requests=2, put_events_entries=1, dynamodb_read_units=4, dynamodb_write_units=3)

    cost = unit_cost(usage, cold_start_rate=0.0)

    assert cost["http_api"] == pytest.approx(2 * PRICES["http_api_request"].usd / 1_000_000)
    assert cost["eventbridge"] == pytest.approx(PRICES["eventbridge_event"].usd / 1_000_000)
    assert cost["dynamodb"] == pytest.approx((4 * 0.125 + 3 * 0.625) / 1_000_000)


def test_dynamodb_bills_at_least_the_floor_of_each_request() -> None:
    assert capacity_floor("Query", {"ConsistentRead": True}) == (1.0, 0.0)
    assert capacity_floor("GetItem", {}) == (0.5, 0.0)
    assert capacity_floor("TransactWriteItems", {"TransactItems": [{}, {}, {}]}) == (0.0, 6.0)
