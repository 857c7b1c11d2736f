"""The thesis, measured rather than quoted: train the thesis's own model and loop (`../shared/thesis/machado-gpt.py`,
MIT, read from there and never copied) at its sweep size for the same wall-clock as the main job, on raw text as
the thesis did, then score it on the project's test split with the project's bits/char code.

    python benchmarks/thesis_baseline.py                    # 10 minutes, like `make all`'s training budget
    python benchmarks/thesis_baseline.py --budget 60 --max_chars 20000    # a smoke run

How it runs the script unchanged: the file is parsed, the module-level hyperparameters named below are replaced
(its W&B sweep's size: n_embd 128, 4 layers, 4 heads, batch 32, dropout 0.2, lr 1e-3, context 128), and it is
executed in a scratch folder holding `processado/textos_concatenados.txt`. That file is the project's train split
built with every cleaning step off (raw PDF text, as the thesis read it), so the thesis never trains on our held-out
text. Its own loop runs (its evaluations, its 512-character samples, its checkpoints) until the budget is spent:
the budget is checked each time the loop asks for a training batch.

Scoring: the whole test split (cleaned, as every arm of recipe_ablation.py is scored) through
machado_gpt.evaluation.score, the `evaluate` metric with a sliding window. The thesis's vocabulary is the
characters of its training text: the few test characters it never saw are scored as a space and counted.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from machado_gpt.hardware import cpu_description  # noqa: E402

THESIS = ROOT.parent / "shared" / "thesis" / "machado-gpt.py"
SWEEP_SIZE = {"batch_size": 32, "context_len": 128, "n_embd": 128, "n_head": 4, "n_layer": 4, "learning_rate": 1e-3,
              "dropout": 0.2, "max_iters": 10**9}  # max_iters: the budget ends the loop, not a step count


class TimeUp(Exception):
    pass


def patched_source(path: Path, values: dict) -> ast.Module:
    """The script's AST with the module-level assignments of `values` replaced (checked: each must exist), and its
    module-level `train()` call left out, so that the caller runs train() itself once the budget is in place."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    calls_train = [n for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)
                   and getattr(n.value.func, "id", None) == "train"]
    if len(calls_train) != 1:
        raise SystemExit(f"{path} does not call train() once at module level: is it the thesis's script?")
    tree.body.remove(calls_train[0])
    found = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in values:
                node.value = ast.copy_location(ast.Constant(values[name]), node.value)
                found.add(name)
    missing = set(values) - found
    if missing:
        raise SystemExit(f"{path} has no module-level {sorted(missing)}: is it the thesis's script?")
    return tree


def raw_train_text(a) -> str:
    """The project's train split with every cleaning step off: the thesis's raw text, minus our held-out parts."""
    from machado_gpt.corpus import DataArguments, build_dataset
    from machado_gpt.utils import default_corpus_dir

    args = DataArguments(corpus_dir=str(default_corpus_dir(a.corpus_dir)), dataset_dir=a.raw_dataset_dir,
                         normalize=False, drop_index=False, rejoin_prose=False)
    return "".join(build_dataset(args, log=lambda *x: None)["train"]["text"])


def train_thesis(a, workdir: Path) -> tuple[dict, float, int]:
    """Run the thesis's script for `a.budget` seconds; returns its namespace, training seconds and iterations."""
    (workdir / "processado").mkdir(parents=True, exist_ok=True)
    (workdir / "processado" / "textos_concatenados.txt").write_text(raw_train_text(a), encoding="utf-8")
    code = compile(patched_source(THESIS, SWEEP_SIZE), str(THESIS), "exec")
    namespace: dict = {"__name__": "thesis"}
    state = {"iters": 0}
    start = time.perf_counter()
    cwd = os.getcwd()
    os.chdir(workdir)  # it reads processado/ and writes its checkpoints (modelo_*.pth) here
    try:
        exec(code, namespace)  # reads the data, builds the model and optimizer
        get_batch = namespace["get_batch"]

        def budgeted_get_batch(split):
            if split == "train" and time.perf_counter() - start > a.budget:
                raise TimeUp
            return get_batch(split)

        namespace["get_batch"] = budgeted_get_batch  # train() looks it up in its module's globals at each step
        optimizer_step = namespace["optimizer"].step

        def counted_step(*args, **kwargs):  # iterations = optimizer steps (its evaluations also draw train batches)
            state["iters"] += 1
            return optimizer_step(*args, **kwargs)

        namespace["optimizer"].step = counted_step
        namespace["train"]()
    except TimeUp:
        pass
    finally:
        os.chdir(cwd)
    return namespace, time.perf_counter() - start, state["iters"]


class ThesisTokenizer:
    """The thesis's character vocabulary, in the shape the metric calls; '\\n' (id 0, where the thesis starts its
    samples) is the context before each text's first character."""

    def __init__(self, char_to_idx: dict):
        self.char_to_idx = char_to_idx
        self.eos_token_id = self.bos_token_id = self.pad_token_id = char_to_idx["\n"]
        self.unknown = 0

    def __call__(self, text, add_special_tokens=False, verbose=False):
        space = self.char_to_idx[" "]
        ids = [self.char_to_idx.get(c, space) for c in text]
        self.unknown += sum(c not in self.char_to_idx for c in text)
        return {"input_ids": ids}


class ThesisModel(torch.nn.Module):
    """The thesis's GPTLanguageModel with the two things the metric reads: config.max_position_embeddings and .logits."""

    def __init__(self, model, context_len: int):
        super().__init__()
        self.model = model
        self.config = SimpleNamespace(max_position_embeddings=context_len)

    @property
    def device(self):
        return next(self.model.parameters()).device

    def forward(self, input_ids, attention_mask=None):  # right padding: causal attention never looks at it
        return SimpleNamespace(logits=self.model(input_ids)[0])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=600, help="Wall-clock seconds, data reading included")
    p.add_argument("--corpus_dir", default=None)
    p.add_argument("--raw_dataset_dir", default="data/machado-dataset-raw")
    p.add_argument("--dataset_dir", default="data/machado-dataset", help="The cleaned dataset whose test split is scored")
    p.add_argument("--max_chars", type=int, default=0, help="Score only the first N characters of each test text")
    p.add_argument("--output_dir", default="out/thesis-baseline")
    a = p.parse_args(argv)
    if not THESIS.is_file():
        raise SystemExit(f"the thesis's script is not at {THESIS}: put the shared folder beside the repository")
    from datasets import load_from_disk

    from machado_gpt.evaluation import score

    print(f"CPU: {cpu_description()}")
    out = ROOT / a.output_dir
    ns, seconds, iters = train_thesis(a, out)
    model = ns["model"].eval()
    tokenizer = ThesisTokenizer(ns["char_to_idx"])
    test = load_from_disk(str(ROOT / a.dataset_dir))["test"]
    texts = [t[: a.max_chars] if a.max_chars else t for t in test["text"]]
    result = score(ThesisModel(model, SWEEP_SIZE["context_len"]), tokenizer, list(test["genre"]), texts)
    row = {"parameters": sum(p.numel() for p in model.parameters()), "iterations": iters,
           "train_seconds": round(seconds, 1), "test_bpc": result["bits_per_char"], "test_chars": result["chars"],
           "unknown_chars": tokenizer.unknown, "tokens_per_second": round(iters * 32 * 128 / seconds, 1),
           "hyperparameters": {k: v for k, v in SWEEP_SIZE.items() if k != "max_iters"}}
    (out / "result.json").write_text(json.dumps(row, indent=2) + "\n", encoding="utf-8")
    print(f"thesis code, sweep size ({row['parameters']:,} parameters), {iters:,} iterations in {seconds:.0f} s: "
          f"test {row['test_bpc']:.3f} bits/char over {row['test_chars']:,} characters "
          f"({row['unknown_chars']} unknown to its vocabulary)")
    return row


if __name__ == "__main__":
    main()
