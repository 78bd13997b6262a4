"""The generation benchmark's figure: throughput and memory per worker as workers and size grow.

Drawn from the report of ``benchmarks/bench_scale.py`` (its JSON), never from a
world: purchases per second of :func:`simulator.generation.write_world` (cluster
start-up excluded) and each process's peak resident memory.
"""

from __future__ import annotations

import matplotlib.ticker as mticker
import pandas as pd
from matplotlib.figure import Figure

from .style import VARIANT_COLORS, figure_style, lesson_title, new_figure


def scaling_data(report: dict) -> pd.DataFrame:
    """One row per run: run, label, workers, transactions, purchases/s, largest process peak (MB)."""
    rows = pd.DataFrame(report["runs"])
    rows["label"] = rows["engine"] + " x" + rows["workers"].astype(str) + " (" + rows["size"] + ")"
    rows["peak_mb"] = [max([r["driver_peak_mb"], *r["worker_peak_mb"]]) for r in report["runs"]]
    worker = [max(r["worker_peak_mb"]) if r["worker_peak_mb"] else r["driver_peak_mb"] for r in report["runs"]]
    rows["worker_peak_mb"] = worker
    return rows[["run", "label", "engine", "workers", "transactions", "generate_rate", "rate_per_worker",
                 "driver_peak_mb", "worker_peak_mb"]]


def generation_scaling(report: dict) -> Figure:
    """Purchases/s by run and workers (left), memory per worker against the world's size (right)."""
    data = scaling_data(report)
    with figure_style():
        fig, (rate, memory) = new_figure(figsize=(11, 4.5), ncols=2)
        colors = dict(zip(["strong", "weak", "large"], VARIANT_COLORS[1:]))
        bars = rate.barh(data["label"], data["generate_rate"] / 1e6,
                         color=[colors.get(r, VARIANT_COLORS[0]) for r in data["run"]])
        rate.bar_label(bars, labels=[f"{v / 1e6:.2f}M/s" for v in data["generate_rate"]], padding=3)
        rate.invert_yaxis()
        rate.set_xlabel("million purchases per second (write_world, cluster start excluded)")
        rate.set_title("throughput: strong, weak and large runs")
        for run, group in data.groupby("run", sort=False):
            memory.plot(group["transactions"] / 1e6, group["worker_peak_mb"], "o-", color=colors.get(run),
                        label=f"{run}: peak per worker")
        memory.plot(data["transactions"] / 1e6, data["driver_peak_mb"], "s", color=VARIANT_COLORS[0],
                    label="driver")
        memory.set_xscale("log")
        memory.set_xticks(sorted({round(n / 1e6) for n in data["transactions"]}))
        memory.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
        memory.xaxis.set_minor_formatter(mticker.NullFormatter())
        memory.set_ylim(0, max(500, data[["worker_peak_mb", "driver_peak_mb"]].to_numpy().max() * 1.2))
        memory.set_xlabel("purchases in the world (millions, log scale)")
        memory.set_ylabel("peak resident memory, MB")
        memory.set_title("memory per process stays flat as the world grows")
        memory.legend(loc="lower right")
        lesson_title(fig, "Generation scales by shards: memory per worker is a few shards, whatever the size")
    return fig
