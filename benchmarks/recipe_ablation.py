"""Recipes side by side at equal wall-clock: each arm trains for the same time budget, one after another in this one
run on this one machine, and is scored on the whole test split with the project's exact bits/char (the `evaluate`
metric, sliding window). Prints the CPU, its bf16 flags, and one table.

    python benchmarks/recipe_ablation.py                          # every arm, 150 s each (about 30 minutes)
    python benchmarks/recipe_ablation.py --budget 600 --arms "gpt2-adamw-cosine (round 1);qwen3-muon-wsd, BPE 2048 (cpu.yaml)"
    python benchmarks/recipe_ablation.py --budget 30 --arms "gpt2-adamw-cosine (round 1)" --max_chars 20000   # a smoke run
    python benchmarks/recipe_ablation.py --budget 5m --arms "many epochs*"   # augmentation, 5 epochs (about 30 min)

An arm name ending in * selects every arm it begins.

Every arm starts from configs/cpu.yaml (the main job) and changes only what its name says. Arms run in fresh
processes, so none inherits another's threads, caches or compiled kernels. Nothing else should run meanwhile:
two processes on two cores slow each other several-fold (see README, Performance).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from machado_gpt.hardware import cpu_description

ROOT = Path(__file__).resolve().parents[1]

# Round 1's main job: GPT-2, AdamW, cosine, 4 x 128, lr 4e-3, BPE 1,024.
TODAY = ["--model_type", "gpt2", "--optimizer", "adamw", "--lr_scheduler_type", "cosine", "--learning_rate", "0.004",
         "--activation_function", "gelu_new", "--tie_word_embeddings", "true", "--n_layer", "4", "--n_embd", "128",
         "--n_head", "4", "--tokenizer_vocab_size", "1024"]
# GPT-2 with everything its config allows: Muon, warmup-stable-decay, ReLU², untied head, the main job's shape.
GPT2_BEST = ["--model_type", "gpt2", "--activation_function", "relu2", "--tie_word_embeddings", "false"]
BPE_1024 = ["--tokenizer_vocab_size", "1024"]  # the arms compared before the vocabulary was chosen
ARMS: dict[str, list[str]] = {
    "gpt2-adamw-cosine (round 1)": TODAY,
    "gpt2-muon-wsd-relu2-untied": GPT2_BEST + BPE_1024,
    "qwen3-adamw-cosine": ["--optimizer", "adamw", "--lr_scheduler_type", "cosine", "--learning_rate", "0.004"] + BPE_1024,
    "qwen3-muon-wsd, BPE 512": ["--tokenizer_vocab_size", "512"],
    "qwen3-muon-wsd, BPE 1024": BPE_1024,
    "qwen3-muon-wsd, BPE 2048 (cpu.yaml)": [],
    "qwen3-muon-wsd, BPE 4096": ["--tokenizer_vocab_size", "4096"],
    "qwen3-muon-wsd, BPE 2048, shifted cuts every epoch": ["--shift_blocks", "true"],
    # The cooldown's length and shape, where the one-hour run's validation is flat for the stable phase's last third
    # and gains most in the decay (Hägele et al. 2024: a 1-sqrt cooldown beats a linear one)
    "qwen3-muon-wsd, BPE 2048, shifted cuts, cooldown 60%": ["--shift_blocks", "true", "--decay_fraction", "0.6"],
    "qwen3-muon-wsd, BPE 2048, shifted cuts, 1-sqrt cooldown": ["--shift_blocks", "true", "--lr_scheduler_kwargs",
                                                                '{"decay_type": "1-sqrt"}'],
    # Half the batch: twice the updates for the same tokens, and more gradient noise, where a batch of 64 and a
    # lighter weight decay each memorised more and lost at the hour (docs/results.md)
    "qwen3-muon-wsd, BPE 2048, shifted cuts, batch 16": ["--shift_blocks", "true", "--per_device_train_batch_size", "16"],
    # Muon's learning rate was chosen in 120-s pilots (about 600 steps); the recipes now run 5,000-15,000
    "qwen3-muon-wsd, BPE 2048, shifted cuts, Muon lr 0.0035": ["--shift_blocks", "true", "--muon_learning_rate", "0.0035"],
    "qwen3-muon-wsd, BPE 2048, shifted cuts, Muon lr 0.007": ["--shift_blocks", "true", "--muon_learning_rate", "0.007"],
    # GPT-2's residual dropout, which Qwen3's config lacks (build_model adds it, locked over the sequence), against
    # many passes over the same text (Xue et al. 2023)
    "qwen3-muon-wsd, BPE 2048, shifted cuts, residual dropout 0.1": ["--shift_blocks", "true", "--residual_dropout",
                                                                    "0.1"],
    # One table for the input and the output (Qwen3's small checkpoints tie them; the recipes' Qwen3 does not): 9%
    # fewer parameters at the hour's 6 x 256, 20% at the main job's 4 x 128, and every pass's output gradient reaches
    # the rare tokens' input rows too
    "qwen3-muon-wsd, BPE 2048, shifted cuts, tied embeddings": ["--shift_blocks", "true", "--tie_word_embeddings",
                                                                "true"],
    # cpu-1h.yaml's regularisers, planned for its ten passes, on the main job's six or seven: its weight decay, the EMA
    "qwen3-muon-wsd, BPE 2048, shifted cuts, the hour's weight decay 0.25 and EMA": [
        "--shift_blocks", "true", "--weight_decay", "0.25", "--weight_average", "ema", "--ema_decay", "0.995"],
    "qwen3-muon-wsd, BPE 1024, context 256": ["--n_positions", "256", "--per_device_train_batch_size", "16"] + BPE_1024,
    "qwen3-muon-wsd, BPE 1024, context 512": ["--n_positions", "512", "--per_device_train_batch_size", "8"] + BPE_1024,
}
# The step's speed (issue 22): the recipe before round 3's fourth stop (its bf16 never reached Trainer's Accelerator,
# so steps ran in fp32, with the SDPA kernel, eager), against today's (bf16 autocast, attention as matrix products and
# a softmax, torch.compile), with Muon and with AdamW (whose optimizer step is cheaper).
ARMS.update({
    "speed: fp32, SDPA, eager (cpu.yaml before)": ["--mixed_precision", "no", "--attn_implementation", "sdpa",
                                                   "--torch_compile", "false"],
    "speed: bf16, compiled, Muon (cpu.yaml)": [],
    "speed: bf16, compiled, AdamW": ["--optimizer", "adamw", "--learning_rate", "0.004"],
    # Muon's Newton-Schulz in bf16, as torch iterates (before the eleventh stop), against the recipe's `auto`: fp32 on
    # a CPU without bf16 instructions, where bf16 products are emulated (the same arm elsewhere).
    "speed: Muon's Newton-Schulz in bf16 (before)": ["--muon_dtype", "bf16"],
    "speed: Muon's Newton-Schulz in the machine's dtype (cpu.yaml)": [],
})
# The thesis's future work in the many-epoch regime, on a cheaper proxy: a fifth of every work's train text, so that
# a 5-minute budget is about 5 epochs (Trainer reshuffles the blocks at every epoch already).
FEW = ["--train_fraction", "0.2"]
ARMS.update({
    "many epochs: a fifth of train (cpu.yaml)": FEW,
    "many epochs: + BPE-dropout 0.1": FEW + ["--bpe_dropout", "0.1"],
    "many epochs: + EMA of weights (0.995)": FEW + ["--weight_average", "ema"],
    "many epochs: + SWA over the cooldown": FEW + ["--weight_average", "swa"],
    "many epochs: + weight decay 1.0 (10x)": FEW + ["--weight_decay", "1.0"],
    # Qwen3's config has only attention dropout; residual dropout is build_model's, by hooks (locked over the sequence)
    "many epochs: + attention dropout 0.1": FEW + ["--dropout", "0.1"],
    "many epochs: + residual dropout 0.1": FEW + ["--residual_dropout", "0.1"],
    # The thesis's "more examples from the works", without new text: every pass cuts the blocks at a new offset
    "many epochs: + shifted cuts every epoch": FEW + ["--shift_blocks", "true"],
})



def run_arm(name: str, overrides: list[str], budget: str, a, out: Path) -> dict:
    """Train `a.config` with `overrides` for `budget` in a fresh process, then score the whole test split."""
    slug = "".join(c if c.isalnum() else "-" for c in name).strip("-")
    run_dir = out / slug
    cmd = [sys.executable, "train_hf.py", "--config", a.config, *overrides, "--time_budget", str(budget),
           "--output_dir", str(run_dir / "run"), "--model_dir", str(run_dir / "model"), "--eval_strategy", "no",
           "--save_strategy", "no", "--report_to", "none", *a.extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    (run_dir).mkdir(parents=True, exist_ok=True)
    (run_dir / "log.txt").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        raise SystemExit(f"arm {name!r} failed ({' '.join(cmd)}); its log: {run_dir / 'log.txt'}")
    metrics = json.loads((run_dir / "model" / "metrics.json").read_text(encoding="utf-8"))
    test = score_test(run_dir / "model", a)
    return {"arm": name, "parameters": metrics["parameters"], "steps": metrics["max_steps"],
            "tokens_seen": metrics["max_steps"] * metrics["global_batch_sequences"] * block_size(run_dir),
            "test_bpc": test, "tokens_per_second": metrics["train_tokens_per_second"], "wall_seconds": round(wall, 1),
            "command": " ".join(cmd[1:])}


def train_tokens(a, fraction: float) -> int:
    """Tokens in one pass over the train split (every work's first `fraction` of it, as --train_fraction cuts it),
    with the tokenizer the runs use (--tokenizer_dir among the extra flags, else cpu.yaml's BPE 2,048)."""
    from datasets import load_from_disk

    from machado_gpt.tokenizer import encode_works, load_tokenizer

    tokenizer = load_tokenizer(ROOT / flag(" ".join(a.extra), "--tokenizer_dir", "data/tokenizer-bpe-2048"))
    texts = [t[: max(1, round(len(t) * fraction))] for t in load_from_disk(str(ROOT / a.dataset_dir))["train"]["text"]]
    return sum(map(len, encode_works(tokenizer.backend_tokenizer, tokenizer.eos_token_id, texts)))


def flag(command: str, name: str, default: str) -> str:
    """The value of `name` in a command line (the last one given wins, as in train_hf.py), else `default`."""
    words = command.split()[::-1]
    return words[words.index(name) - 1] if name in words else default


def block_size(run_dir: Path) -> int:
    import yaml

    config = yaml.safe_load((run_dir / "model" / "run_config.yaml").read_text(encoding="utf-8"))
    return config["model"]["block_size"]


def score_test(model_dir: Path, a) -> float:
    """The whole test split, every character scored, through the project's `evaluate` metric."""
    from datasets import load_from_disk

    from machado_gpt.evaluation import load_model, score

    model, tokenizer = load_model(str(model_dir))
    test = load_from_disk(a.dataset_dir)["test"]
    texts = [t[: a.max_chars] if a.max_chars else t for t in test["text"]]
    return score(model, tokenizer, list(test["genre"]), texts)["bits_per_char"]


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", default="150", help="Wall-clock budget of every arm (seconds, or 90s, 10m, 1h)")
    p.add_argument("--arms", default=None, help="Arm names separated by semicolons (default: all); see ARMS")
    p.add_argument("--config", default="configs/cpu.yaml", help="The recipe every arm starts from")
    p.add_argument("--dataset_dir", default="data/machado-dataset")
    p.add_argument("--max_chars", type=int, default=0, help="Score only the first N characters of each test text")
    p.add_argument("--output_dir", default="out/ablation")
    p.add_argument("extra", nargs="*", help="Flags passed to every arm after its own (e.g. -- --n_layer 2)")
    a = p.parse_args(argv)
    names = list(ARMS) if not a.arms else [n.strip() for n in a.arms.split(";")]
    names = [m for n in names for m in ([k for k in ARMS if k.startswith(n[:-1])] if n.endswith("*") else [n])]
    unknown = [n for n in names if n not in ARMS]
    if unknown:
        raise SystemExit(f"unknown arm(s) {unknown}: choose among {list(ARMS)}")
    out = ROOT / a.output_dir
    print(f"CPU: {cpu_description()}")
    print(f"budget per arm: {a.budget}; base recipe {a.config}", flush=True)
    rows = []
    for name in names:
        rows.append(run_arm(name, ARMS[name], a.budget, a, out))
        r = rows[-1]
        print(f"  {name}: {r['steps']:,} steps, test {r['test_bpc']:.3f} bits/char ({r['wall_seconds']:.0f} s)", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    per_epoch = {}  # epochs of the plain segmentation (BPE-dropout's own tokens are about 10% more per pass)
    for r in rows:
        fraction = float(flag(r["command"], "--train_fraction", "1"))
        per_epoch[fraction] = per_epoch.get(fraction) or train_tokens(a, fraction)
        r["epochs"] = r["tokens_seen"] / per_epoch[fraction]
    (out / "results.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print()
    print("| arm | parameters | steps | epochs | test bits/char | tokens/s | wall-clock (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['arm']} | {r['parameters']:,} | {r['steps']:,} | {r['epochs']:.2f} | {r['test_bpc']:.3f} | "
              f"{r['tokens_per_second']:,.0f} | {r['wall_seconds']:.0f} |")
    return rows


if __name__ == "__main__":
    main()
