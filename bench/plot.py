"""Latency distribution charts for BENCHMARKS.md: one PNG, the whole distribution of every series.

An ECDF shows every sample (tails included, which medians hide), with the median and p90 in the legend;
a box plot under it on the same axis gives the quick comparison. A Figure without pyplot draws with Agg
into the file only, so it runs headless.
"""

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

# Log scale when the slowest sample is this many times the fastest: cold starts beside warm calls.
AUTO_LOG_RATIO = 20.0


def latency_plot(series: Mapping[str, Sequence[float]], path: Path, title: str) -> None:
    """Write a PNG of the latency distributions (ms) of the named series: ECDF above, box plot below.

    A log x axis is chosen when the samples span more than AUTO_LOG_RATIO. Empty series are
    left out; with none left, the chart says so rather than failing the benchmark run.
    """
    from matplotlib.figure import Figure

    data = {name: sorted(float(v) for v in values) for name, values in series.items() if len(values) > 0}
    figure = Figure(figsize=(9, 3.2 + 0.45 * max(1, len(data))))
    ecdf, box = figure.subplots(2, 1, sharex=True, height_ratios=(3, max(1, len(data)) * 0.5))
    figure.suptitle(title)
    if not data:
        ecdf.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ecdf.transAxes)
        box.set_axis_off()
    else:
        for name, values in data.items():
            fractions = [0.0] + [(i + 1) / len(values) for i in range(len(values))]
            deciles = statistics.quantiles(values, n=10, method="inclusive") if len(values) > 1 else values * 9
            label = f"{name} (n={len(values)}, p50 {deciles[4]:.0f} ms, p90 {deciles[8]:.0f} ms)"
            ecdf.step([values[0], *values], fractions, where="post", label=label)
        ecdf.axhline(0.5, color="grey", linewidth=0.5, linestyle=":")
        ecdf.axhline(0.9, color="grey", linewidth=0.5, linestyle=":")
        ecdf.set_ylabel("fraction ≤ x")
        ecdf.set_ylim(0, 1.02)
        ecdf.grid(True, which="both", alpha=0.3)
        ecdf.legend(fontsize="small", loc="best", framealpha=0.9)
        names = list(data)
        box.boxplot([data[name] for name in names], vert=False, whis=(5, 95), showfliers=True)
        box.set_yticks(range(1, len(names) + 1), names, fontsize="small")
        box.invert_yaxis()
        box.grid(True, axis="x", which="both", alpha=0.3)
        low = min(values[0] for values in data.values())
        high = max(values[-1] for values in data.values())
        if low > 0 and high / low > AUTO_LOG_RATIO:
            ecdf.set_xscale("log")
    box.set_xlabel("latency (ms)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
