"""The pictures a model folder carries: bits per character per genre (evaluation) and the training curve (training).
matplotlib's Agg backend: files only, no display needed."""

from __future__ import annotations

from pathlib import Path

CURVE = "training_curve.png"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bar_chart(results: dict, path: Path) -> None:
    plt = _pyplot()
    groups = list(results["per_group"])
    values = [results["per_group"][g]["bits_per_char"] for g in groups]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(groups, values, color="#4a6fa5")
    ax.axhline(results["bits_per_char"], color="#c0392b", linestyle="--", label=f"all: {results['bits_per_char']:.3f}")
    ax.set_ylabel("bits per character (lower is better)")
    ax.set_title(f"{Path(results['model']).name}: {results['source']}")
    ax.legend()
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw_training_curve(curve: dict, path: Path) -> None:
    """Train loss (left axis, nats) and validation bits/char (right axis) against steps, with minutes on the top axis
    and the time budget's re-plans as dotted lines. `curve` is training.training_curve_data's dict."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4))
    if curve["train"]:
        steps, loss = zip(*curve["train"])
        ax.plot(steps, loss, color="#4a6fa5", label="train loss (nats per token)")
    ax.set_xlabel("step")
    ax.set_ylabel("train loss (nats per token)", color="#4a6fa5")
    right = ax.twinx()
    if curve["eval"]:
        steps, bpc = zip(*curve["eval"])
        right.plot(steps, bpc, "o-", color="#c0392b", label="validation bits/char")
    right.set_ylabel("validation bits per character", color="#c0392b")
    for plan in curve["plans"]:
        ax.axvline(plan["at_step"], color="grey", linestyle=":", linewidth=1)
    if len(curve["clock"]) >= 2:  # minutes on a top axis, interpolated from the logged (step, minute) pairs
        s, m = np.array(curve["clock"], dtype=float).T
        top = ax.secondary_xaxis("top", functions=(lambda x: np.interp(x, s, m), lambda y: np.interp(y, m, s)))
        top.set_xlabel("minutes")
    title = f"{curve['name']}: {curve['steps']:,} steps"
    if curve["plans"]:
        title += f"; dotted: the time budget's {len(curve['plans'])} plan(s)"
    ax.set_title(title, fontsize=10)
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def gpu_check_chart(r: dict, path: Path) -> None:
    """The GPU check's headline: tokens/s of the thesis's script and of our Trainer in each precision (log scale),
    with the share of the measured bf16 peak on each bar. `r` is benchmarks/gpu_check.py's JSON."""
    plt = _pyplot()
    rows = ([("thesis script, fp32", r["thesis"]["tokens_per_second"], r["thesis"]["mfu"])] if r.get("thesis") else [])
    rows += [(f"ours, {row['precision']}", row["tokens_per_second"], row["mfu"]) for row in r.get("ours", [])]
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(rows) + 1.4))
    names, speeds, mfus = zip(*rows)
    ax.barh(names, speeds, color=["#999999"] + ["#c0392b"] * (len(rows) - 1))
    ax.set_xscale("log")
    for i, (speed, mfu) in enumerate(zip(speeds, mfus)):
        ax.text(speed, i, f" {speed / 1e3:,.0f}k tokens/s, {mfu:.0%} of peak", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(right=max(speeds) * 8)
    ax.set_xlabel("training tokens per second, 28.5M model, batch 512 x 128 (log scale)")
    ax.set_title(r["device"].split(",")[0] + f": {r['peak_precision']} matrix peak measured at "
                 f"{r[r['peak_precision'] + '_peak_tflops']:.4g} TFLOP/s",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
