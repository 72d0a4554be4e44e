"""The tables of BENCHMARKS.md, from a run's results; the text around them is written by hand.

Each table sits between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`; `update` replaces what is between
the markers and nothing else, so the reading of the figures stays the author's.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bench.cost import EXAMPLE_LLM_PRICES, PRICES

Row = Sequence[object]
Results = Mapping[str, Any]


def table(header: Row, rows: Iterable[Row]) -> str:
    """A Markdown table; None is shown as -, floats to 0.1 (or 2 significant places below 10)."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows])


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _usd(value: float) -> str:
    return f"${value:.4g}"


def _q(summary: Mapping[str, float] | None, *quantiles: str) -> list[object]:
    return [summary.get(q) if summary else None for q in quantiles]


def _ratio(against: Mapping[str, Any]) -> str:
    return f"{against['ratio']:.2f}x ({against['init_ms']:.0f} / {against['floor_ms']:.0f} ms)"


def machine(results: Results) -> str:
    """Where and how the run was made."""
    env, plan = results["environment"], results["plan"]
    rows = [
        ("date", env["date"]),
        ("CPU", f"{env['cpu_model']} ({env['cpus']} logical CPUs), {env['memory']}"),
        ("OS, Python", f"{env['platform']}, {env['python']}"),
        ("load average at start (1 min)", env["load_average"]),
        ("suite runtime", f"{results['runtime_s']:.0f} s" + (" (--quick: the figures mean little)" * plan["quick"])),
        (
            "fake LLM",
            "first token after {ttft_ms:.0f} ms, then {token_delay_ms:.0f} ms a token".format(**results["llm"]),
        ),
        ("plan", ", ".join(f"{name} {value}" for name, value in plan.items() if name != "quick")),
    ]
    return table(("", ""), rows)


def overhead(results: Results) -> str:
    """Section 1: the turn overhead and its stages."""
    section = results["turn_overhead"]
    quantiles = ("p50", "p95", "p99", "mean", "max")
    rows = [
        (label, *_q(section[key], *quantiles))
        for key, label in (
            ("overhead_ms", "overhead (end to end minus the LLM's first sentence)"),
            ("end_to_end_ms", "end to end: ingress → first /say"),
            ("llm_first_sentence_ms", "the fake LLM's time to its first sentence"),
        )
    ]
    stages = [(name, *_q(stage, *quantiles)) for name, stage in section["stages_ms"].items()]
    return table(("ms", *quantiles), rows + stages)


def streaming(results: Results) -> str:
    """Section 2: streaming against the whole-completion baseline."""
    columns = {
        "sentences": "sentences",
        "reply_tokens": "tokens",
        "llm_first_sentence_ms": "LLM: first sentence",
        "llm_whole_reply_ms": "LLM: whole reply",
        "streaming_first_say_ms": "streaming: first /say",
        "baseline_first_say_ms": "baseline",
    }
    rows = [(*(size[key] for key in columns), f"{size['ratio']:.2f}x") for size in results["streaming"]["sizes"]]
    return table((*columns.values(), "baseline ÷ streaming"), rows)


def cold_start(results: Results) -> str:
    """Section 3: every function's cold start, shipped and without bytecode, and its floor."""
    section = results["cold_start"]
    rows: list[Row] = []
    for name, result in section["functions"].items():
        if "error" in result:
            rows.append((name, *[None] * 8, result["error"]))
            continue
        shipped, source = result["shipped"], result["source"]
        imports = ", ".join(f"{package} {ms:.0f}" for package, ms in result["heaviest_imports_ms"])
        runs = f"{shipped['ok_runs']} {'; '.join(shipped['errors'])}".strip()
        shipped_ms = [shipped["total_ms"], shipped["init_ms"], shipped["handle_ms"], _ratio(shipped["init_vs_floor"])]
        source_ms = [source["total_ms"], _ratio(source["init_vs_floor"])]
        rows.append((name, result["memory_mb"], *shipped_ms, *source_ms, imports, runs))
    header = ("function", "MB", "total", "init", "handle", "init ÷ floor", "no .pyc: total", "no .pyc: init ÷ floor")
    floors = [
        (name, ", ".join(f"`{m}`" for m in r.get("floor_modules", []))) for name, r in section["functions"].items()
    ]
    return "\n\n".join(
        [
            table((*header, "heaviest imports, ms", "ok runs"), rows),
            f"`python -I -c pass`: {section['python_pass_ms']} ms.",
            table(("function", "floor: third-party modules its own code imports at init"), floors),
        ]
    )


def usage(results: Results) -> str:
    """Section 4: what each unit of work used."""
    rows = []
    for name, unit in results["usage"]["units"].items():
        operations = ", ".join(f"{op} {count:g}" for op, count in unit["dynamodb_operations"].items())
        invocations = "; ".join(
            f"{function} {v['count']:g} x {v['mean_ms']:.0f} ms (CPU {v['mean_cpu_ms']:.0f})"
            for function, v in unit["invocations"].items()
        )
        calls = f"{unit['dynamodb_calls']:g} ({operations})"
        counts = (f"{unit['webhooks']:g}", f"{unit['put_events_entries']:g}", invocations)
        tokens = f"{unit['input_tokens']:.0f} / {unit['output_tokens']:.0f}"
        rows.append((name, unit["units"], calls, unit["read_units"], unit["write_units"], *counts, tokens))
    header = ("unit", "n", "DynamoDB calls", "RRU", "WRU", "webhooks", "bus entries")
    return table((*header, "invocations (event): count x wall (CPU)", "LLM tokens in / out"), rows)


def cost(results: Results) -> str:
    """Section 4: dollars per 1,000 call-minutes and SMS, the assumptions and the prices used."""
    section = results["usage"]
    minutes, sms = section["cost"]["per_1000_call_minutes"], section["cost"]["per_1000_sms"]
    rows: list[Row] = [(s, _usd(usd), _usd(sms["by_service_usd"][s])) for s, usd in minutes["by_service_usd"].items()]
    rows.append(("**AWS total**", f"**{_usd(minutes['total_usd'])}**", f"**{_usd(sms['total_usd'])}**"))
    rows.append(("LLM at the example prices (not AWS)", _usd(minutes["llm_example_usd"]), _usd(sms["llm_example_usd"])))
    assumed = [(name.replace("_", " "), value) for name, value in section["assumptions"].items()]
    assumed += [(f"INIT billed on a cold start: {name}", f"{ms:.0f} ms") for name, ms in section["init_ms"].items()]
    prices = [
        (name, f"${p.usd:g} per {p.per:,} {p.unit}", p.source) for name, p in {**PRICES, **EXAMPLE_LLM_PRICES}.items()
    ]
    return "\n\n".join(
        [
            table(("service", "per 1,000 call-minutes", "per 1,000 SMS"), rows),
            table(("assumption", ""), assumed),
            table(("price", "", "source"), prices),
        ]
    )


def scale(results: Results) -> str:
    """Section 5: each concurrency level."""
    section = results["scale"]
    counts = {"lost_replies": "lost", "duplicated_sentences": "duplicated", "replies_cut_short": "cut short"}
    counts |= {"fallback_lines": "fallback", "dead_letters": "dead letters", "calls_failed": "calls failed"}
    rows = []
    for level in section["levels"]:
        latency = [*_q(level["overhead_ms"], "p50", "p95", "p99"), *_q(level["end_to_end_ms"], "p50")]
        counted = [level[key] for key in counts]
        rows.append(
            (level["calls"], level["turns_sent"], level["turns_per_s"], *latency, *counted, level["stack_cpu_share"])
        )
    header = ("calls", "turns", "turns/s", "overhead p50", "p95", "p99", "end to end p50", *counts.values(), "CPU")
    lost = [(level["calls"], *lost.values()) for level in section["levels"] for lost in level["lost"]]
    lost_table = table(("calls", "tag", "ingress received", "queued", "invocations, ms", "LLM asked"), lost)
    return table(header, rows) + ("\n\nLost replies:\n\n" + lost_table if lost else "")


SECTIONS: dict[str, tuple[str, Callable[[Results], str]]] = {
    "machine": ("environment", machine),
    "overhead": ("turn_overhead", overhead),
    "streaming": ("streaming", streaming),
    "cold_start": ("cold_start", cold_start),
    "usage": ("usage", usage),
    "cost": ("usage", cost),
    "scale": ("scale", scale),
}


def update(markdown: str, results: Results) -> str:
    """BENCHMARKS.md with every table whose phase ran replaced; a phase that failed says so in its place."""
    for name, (phase, render) in SECTIONS.items():
        if phase not in results:
            continue
        start, end = f"<!-- bench:{name} -->\n", f"<!-- /bench:{name} -->"
        before, found, rest = markdown.partition(start)
        if not found or end not in rest:
            raise ValueError(f"BENCHMARKS.md has no {start.strip()} ... {end} region")
        failed = results[phase].get("error")
        body = f"Not measured in the last run: `{failed}`" if failed else render(results)
        markdown = before + start + body + "\n" + end + rest.split(end, 1)[1]
    return markdown
