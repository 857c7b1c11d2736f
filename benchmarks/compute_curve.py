"""The thesis's question as a curve: test bits/char against the wall-clock budget, one budget after another in this
one run on this one machine, each scored on the whole test split with the project's `evaluate` metric.

    python benchmarks/compute_curve.py                                   # 1, 2, 4, 8, 16, 32 min (about 70 min)
    python benchmarks/compute_curve.py --budgets 1m,2m,4m,8m,16m,32m,60m   # add the hour (about 2 h 15 min)
    python benchmarks/compute_curve.py --budgets 20s,40s --max_chars 3000 # a smoke run
    python benchmarks/compute_curve.py --replot docs/results/compute_curve.json  # redraw the plot only

Every budget trains configs/cpu.yaml's recipe (Qwen3, Muon + AdamW, warmup-stable-decay over the planned steps,
byte-level BPE 2,048, batch 32 x 128) at a size that grows with the budget by one rule: non-embedding parameters
grow as the square root of the budget (compute-optimal scaling splits extra compute between parameters and tokens
about evenly, Hoffmann et al. 2022), anchored at the main job's 4 layers x 128 at 8 minutes; the shape is the nearest
one in log-parameters with heads of 32 and a width of 24-64 per layer. Warmup is 3% of the planned steps. Each budget
runs in a fresh process, so none inherits another's threads or caches; nothing else should run meanwhile.

Prints the CPU, one table, a fit L(C) = L_inf + a * C^(-b) (C in minutes) and each point's command; draws
docs/compute_curve.png (log x) with reference lines: xz -9 measured here on the test split, PPMd order 8 and the
thesis's own code at 10 minutes (docs/results.md's figures).
"""

from __future__ import annotations

import argparse
import json
import lzma
import math
from pathlib import Path

import numpy as np
from recipe_ablation import ROOT, run_arm, train_tokens

from machado_gpt.budget import parse_duration
from machado_gpt.hardware import cpu_description

ANCHOR_MINUTES, ANCHOR_SHAPE = 8, (4, 128)  # configs/cpu.yaml's shape
HEAD_DIM = 32
# Reference lines, with where each comes from (docs/results.md): not trained here.
PPMD_ORDER_8 = 1.839  # PPMd order 8 on the test split (the figure)
THESIS_10_MIN = 2.415  # benchmarks/thesis_baseline.py: the thesis's own script, 10 minutes on a 2-core CPU
# configs/cpu-1h.yaml's runs (5.7M parameters; docs/results.md), drawn, not fitted (a larger model than the size rule):
# (minutes, test bits/char, label)
ONE_HOUR_RUNS = [
    (58, 1.585, "round 2, another machine, fp32 eager, 3.9 passes"),
    (59, 1.597, "round 3, bf16 compiled, 6.4 passes: overfits"),
    (60, 1.575, "round 3, weight decay 0.25"),
    (60, 1.542, "round 3, + EMA, shifted cuts: the recipe now"),
]


def non_embedding(n_layer: int, n_embd: int) -> int:
    """Qwen3's block: q, k, v, o (4 d^2) and a gated MLP of width 8/3 d (8 d^2); norms are negligible."""
    return 12 * n_layer * n_embd**2


def shape_for(minutes: float) -> tuple[int, int]:
    """(n_layer, n_embd) whose non-embedding parameters are nearest, in log, to the anchor's times sqrt(budget)."""
    target = non_embedding(*ANCHOR_SHAPE) * math.sqrt(minutes / ANCHOR_MINUTES)
    shapes = [(layers, width) for layers in range(2, 13) for width in range(64, 1025, HEAD_DIM)
              if 24 <= width / layers <= 64]
    return min(shapes, key=lambda s: (abs(math.log(non_embedding(*s) / target)), s))


def fit_power_law(minutes: list[float], bpc: list[float]) -> tuple[float, float, float] | None:
    """Least squares of L = L_inf + a * C^(-b): for each L_inf on a grid below the best point, a and b are a line in
    log-log; the L_inf with the smallest squared error in L wins. None with fewer than 3 points."""
    if len(minutes) < 3:
        return None
    c, y = np.log(np.asarray(minutes, float)), np.asarray(bpc, float)
    best = None
    for floor in np.linspace(0, y.min() - 1e-3, 4000):
        slope, intercept = np.polyfit(c, np.log(y - floor), 1)
        error = float(np.sum((floor + np.exp(intercept + slope * c) - y) ** 2))
        if slope < 0 and (best is None or error < best[0]):
            best = (error, float(floor), float(np.exp(intercept)), float(-slope))
    return None if best is None else best[1:]


def xz_bpc(a) -> float:
    from datasets import load_from_disk

    texts = [t[: a.max_chars] if a.max_chars else t for t in load_from_disk(str(ROOT / a.dataset_dir))["test"]["text"]]
    text = "\n".join(texts)  # one stream, as a file of the whole test split: no per-work header
    return 8 * len(lzma.compress(text.encode("utf-8"), preset=9)) / len(text)


def draw(rows: list[dict], fit, xz: float, path: Path) -> None:
    from machado_gpt.plots import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4))
    minutes = [r["minutes"] for r in rows]
    ax.plot(minutes, [r["test_bpc"] for r in rows], "o-", color="#c0392b", label="machado-gpt (this run)")
    for r in rows:
        ax.annotate(f"{r['parameters'] / 1e6:.1f}M", (r["minutes"], r["test_bpc"]), textcoords="offset points",
                    xytext=(4, 6), fontsize=8)
    if fit:
        floor, a, b = fit
        grid = np.geomspace(min(minutes), max(minutes) * 4, 100)
        ax.plot(grid, floor + a * grid ** (-b), ":", color="#c0392b", label=f"fit: {floor:.2f} + {a:.2f}·C^-{b:.2f}")
    ax.axhline(PPMD_ORDER_8, color="#555555", linestyle="--", label=f"PPMd order 8 ({PPMD_ORDER_8})")
    ax.axhline(xz, color="#999999", linestyle="-.", label=f"xz -9 ({xz:.2f})")
    ax.plot([10], [THESIS_10_MIN], "s", color="#4a6fa5", label=f"thesis code, 10 min ({THESIS_10_MIN})")
    for (minutes, bpc, note), marker in zip(ONE_HOUR_RUNS, "oD^v", strict=True):
        ax.plot(minutes, bpc, marker, mfc="none", color="#c0392b", label=f"cpu-1h.yaml, 5.7M ({bpc}; {note})")
    ax.set_xscale("log")
    ax.set(xlabel="training budget (minutes, 2-core CPU, all included)", ylabel="test bits per character",
           title="What each CPU-minute buys on Machado de Assis")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the axes: it hides no point
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budgets", default="1m,2m,4m,8m,16m,32m", help="Wall-clock budgets, comma-separated (90s, 8m, 1h)")
    p.add_argument("--config", default="configs/cpu.yaml", help="The recipe every budget trains")
    p.add_argument("--dataset_dir", default="data/machado-dataset")
    p.add_argument("--max_chars", type=int, default=0, help="Score only the first N characters of each test text")
    p.add_argument("--output_dir", default="out/compute_curve")
    p.add_argument("--plot", default="docs/compute_curve.png")
    p.add_argument("--replot", default=None, metavar="RESULTS_JSON",
                   help="Only redraw --plot from a results.json this script wrote (docs/results/compute_curve.json): "
                        "no training")
    p.add_argument("extra", nargs="*", help="Flags passed to every run after the curve's own (e.g. -- --seed 1)")
    a = p.parse_args(argv)
    if a.replot:
        summary = json.loads(Path(a.replot).read_text(encoding="utf-8"))
        fit = summary["fit"] and (summary["fit"]["L_inf"], summary["fit"]["a"], summary["fit"]["b"])
        draw(summary["rows"], fit, summary["xz_bpc"], ROOT / a.plot)
        print(f"plot: {a.plot} (from {a.replot})")
        return summary["rows"]
    budgets = [b.strip() for b in a.budgets.split(",")]
    seconds = [parse_duration(b) for b in budgets]
    out = ROOT / a.output_dir
    print(f"CPU: {cpu_description()}")
    print(f"recipe {a.config}; non-embedding parameters grow as sqrt(budget) from {ANCHOR_SHAPE[0]} x {ANCHOR_SHAPE[1]} "
          f"at {ANCHOR_MINUTES} min", flush=True)
    rows = []
    for budget, secs in zip(budgets, seconds):
        n_layer, n_embd = shape_for(secs / 60)
        overrides = ["--n_layer", str(n_layer), "--n_embd", str(n_embd), "--n_head", str(n_embd // HEAD_DIM),
                     "--warmup_steps", "0.03"]
        row = run_arm(f"{budget}", overrides, budget, a, out)
        row.update(minutes=secs / 60, shape=f"{n_layer} x {n_embd}")
        rows.append(row)
        print(f"  {budget} ({row['shape']}): {row['steps']:,} steps, test {row['test_bpc']:.3f} bits/char "
              f"({row['wall_seconds']:.0f} s)", flush=True)
    per_epoch = train_tokens(a, 1.0)
    for r in rows:
        r["epochs"] = r["tokens_seen"] / per_epoch
    fit = fit_power_law([r["minutes"] for r in rows], [r["test_bpc"] for r in rows])
    xz = xz_bpc(a)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"cpu": cpu_description(), "rows": rows, "train_tokens_per_epoch": per_epoch, "xz_bpc": xz,
               "fit": dict(zip(("L_inf", "a", "b"), fit)) if fit else None}
    (out / "results.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    draw(rows, fit, xz, ROOT / a.plot)
    print()
    print("| budget | shape | parameters | steps | tokens seen | epochs | test bits/char | tokens/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['arm']} | {r['shape']} | {r['parameters']:,} | {r['steps']:,} | {r['tokens_seen']:,} | "
              f"{r['epochs']:.2f} | {r['test_bpc']:.3f} | {r['tokens_per_second']:,.0f} |")
    for before, after in zip(rows, rows[1:]):
        doubling = math.log2(after["minutes"] / before["minutes"])
        gain = before["test_bpc"] - after["test_bpc"]
        print(f"{before['arm']} -> {after['arm']}: {gain:.3f} bits/char better ({gain / doubling:.3f} per doubling)")
    print(f"xz -9 on the same test text: {xz:.3f} bits/char")
    if fit:
        print(f"fit L(C) = L_inf + a * C^(-b), C in minutes: L_inf {fit[0]:.3f} bits/char, a {fit[1]:.3f}, b {fit[2]:.3f}")
    else:
        print("fit: needs at least 3 budgets")
    print(f"plot: {a.plot}")
    for r in rows:
        print(f"  {r['arm']}: python {r['command']}")
    return rows


if __name__ == "__main__":
    main()
