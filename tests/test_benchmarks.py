"""The benchmark scripts run as the README runs them (`python benchmarks/<name>.py`, from the repo root, with the
package installed by `make install`) and print their ratios. Their speeds are not asserted: they are measurements,
on tiny sizes here."""

import json
import re
import subprocess
import sys

import pytest

from machado_gpt.hardware import cpu_supports_bf16
from tests.conftest import FAMILIES, ROOT, write_small_corpus


def _run(*argv: str) -> str:
    proc = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _ratios(out: str) -> dict[str, float]:
    return {name: float(value) for name, value in re.findall(r"ratio, ([^:]+):\s+([0-9.]+)x", out)}


@pytest.mark.slow  # 25-50 s: after the main suite
def test_generation_speed_prints_both_speeds_and_the_ratios(tiny_model_dir, tmp_path):
    import shutil

    import export_onnx

    folder = shutil.copytree(tiny_model_dir, tmp_path / "model")
    export_onnx.main([str(folder), "--check_tokens", "0"])
    out = _run("benchmarks/generation_speed.py", "--model_dir", str(folder), "--max_new_tokens", "40",
               "--repeats", "1", "--compile", "--onnx", "--num_samples", "2")
    assert "KV cache + re-prefill, compiled" in out and "prompt 16 tokens" in out
    assert set(_ratios(out)) == {"eager", "compiled", "compiled cache / eager recompute"}
    assert all(r > 0 for r in _ratios(out).values())
    for line in ("onnxruntime model_optimized.onnx", "onnxruntime model.onnx", "onnxruntime model_quantized.onnx",
                 "batch of 2, KV cache, compiled", "batch of 2, onnxruntime model_optimized.onnx"):
        assert re.search(rf"{re.escape(line)}\s+[0-9.]+ tokens/s\s+[0-9.]+% of the fp32 peak", out), line
    assert out.count("CPU: ") == 1 and "fp32 matrix-product peak measured in this run" in out


@pytest.mark.slow  # three processes, each compiling: after the main suite
def test_compile_guards_times_the_step_under_each_guard_setting(tiny_model_dir):
    out = _run("benchmarks/compile_guards.py", "--model_dir", str(tiny_model_dir), "--repeats", "1")
    rows = dict(re.findall(r"^(.+?)\s+([0-9]+) us  guard check\s+[0-9]+ us a call", out, re.M))
    assert set(rows) == {"every guard", "no guards on nn modules (generate.py's)", "tensor guards only"}, out
    assert all(float(us) > 0 for us in rows.values()) and out.startswith("CPU: ")


@pytest.mark.slow  # 13 s: make test stays under 7 minutes
def test_train_throughput_compares_trainer_with_a_plain_loop():
    out = _run("benchmarks/train_throughput.py", "--config", "configs/tiny.yaml", "--batch_size", "4", "--steps", "2",
               "--warmup", "1", "--precisions", "fp32", "--repeats", "1", "--profile")
    assert re.search(r"Trainer / plain loop", out), out
    shares = [float(x) for x in re.findall(r"^  .+?\s+([0-9.]+)%$", out.split("profile of 5")[1], re.M)]
    assert "matrix products" in out and len(shares) == 9 and sum(shares) == pytest.approx(100, abs=0.5)


def _recipe_throughput(mode: str, real_dataset, corpus_dir, char_tokenizer_dir) -> str:
    """train_throughput.py's --recipe_step or --end_to_end on the tiny recipe and the real dataset."""
    return _run("benchmarks/train_throughput.py", "--config", "configs/tiny.yaml", mode, "--", "--corpus_dir",
                str(corpus_dir), "--dataset_dir", str(real_dataset[1]), "--tokenizer_dir", str(char_tokenizer_dir))


@pytest.mark.slow  # about 40 s: after the main suite
def test_recipe_step_times_each_optimizer_and_precision(real_dataset, corpus_dir, char_tokenizer_dir):
    out = _recipe_throughput("--recipe_step", real_dataset, corpus_dir, char_tokenizer_dir)
    assert out.count("CPU: ") == 1
    rows = re.findall(r"recipe step, (\w+, [\w, ]+?)\s+([0-9.]+) s\s+[0-9,]+ tokens/s\s+([0-9.]+)% of the (\w+) peak",
                      out)
    found = {name: (float(seconds), float(share), peak) for name, seconds, share, peak in rows}
    variants = ["fp32, SDPA, eager"]
    if cpu_supports_bf16():  # else the bf16 variants are left out, and the run says so
        variants += ["bf16, SDPA, eager", "bf16, compiled"]
    else:
        assert "bf16 variants left out: this CPU has no bf16 instructions" in out
    assert set(found) == {f"{o}, {v}" for o in ("muon", "adamw") for v in variants}
    assert all(0 < seconds < 5 and 0 < share < 100 for seconds, share, _ in found.values())
    # each step against the peak of the precision it runs in (a fp32 step over an emulated bf16 peak once read 173%)
    assert all(peak == name.split(", ")[1] for name, (_, _, peak) in found.items())


@pytest.mark.slow  # about 20 s: after the main suite
def test_recipe_step_profile_splits_the_step_and_bounds_it_by_its_matrix_products(real_dataset, corpus_dir,
                                                                                  char_tokenizer_dir):
    out = _run("benchmarks/train_throughput.py", "--config", "configs/tiny.yaml", "--recipe_step", "--profile", "--",
               "--corpus_dir", str(corpus_dir), "--dataset_dir", str(real_dataset[1]), "--tokenizer_dir",
               str(char_tokenizer_dir), *FAMILIES["qwen3"])
    head = re.search(r"profile of the recipe's step as written \((\w+), 10 steps after 30; .+?\): ([0-9.]+) ms a step, "
                     r"([0-9.]+)% of the peak", out)
    assert head, out[-2000:]
    rows = dict(re.findall(r"^  (.+?)\s+([0-9.]+) ms\s+[0-9.]+%$", out, re.M))
    assert len(rows) == 5 and sum(float(ms) for ms in rows.values()) > 0
    # Muon orthogonalises inside the optimizer step: its products are told apart from the model's
    assert float(rows["optimizer: Muon's orthogonalisation products"]) > 0
    assert float(rows["matrix products, forward and backward"]) > 0
    bound = re.search(r"the model's matrix products: [0-9.]+ GFLOP a step in [0-9.]+ ms, ([0-9.]+)% of the peak", out)
    assert bound and float(bound.group(1)) >= float(head.group(3))  # the products alone are at least the step's rate


@pytest.mark.slow  # about 30 s: after the main suite
def test_end_to_end_puts_the_whole_run_against_its_own_step(real_dataset, corpus_dir, char_tokenizer_dir):
    out = _recipe_throughput("--end_to_end", real_dataset, corpus_dir, char_tokenizer_dir)
    steps = dict(re.findall(r"recipe step, as written, (before|after)\s+([0-9.]+) s", out))
    assert set(steps) == {"before", "after"} and all(0 < float(s) < 5 for s in steps.values())
    run = re.search(r"whole run: ([0-9,]+) tokens/s over 20 steps = ([0-9.]+)% of the recipe step's ([0-9,]+) tokens/s",
                    out)
    assert run, out[-2000:]
    run_tps, share, step_tps = (float(g.replace(",", "")) for g in run.groups())
    assert share == pytest.approx(100 * run_tps / step_tps, abs=0.1) and 0 < share < 200
    assert "where the run's wall-clock went: setup" in out and "final evaluations" in out


def test_every_ab_comparison_changes_something_that_exists():
    """Each comparison's other arm replaces a module attribute that exists (a renamed one would be set afresh, and
    the two arms would silently be one), by a function taking the same arguments, or adds flags the recipe parses.
    The two kinds run end to end below; the profiled test runs `loss`."""
    import importlib
    import inspect

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from train_throughput import AB

    from machado_gpt.config import parse_recipe

    arms = [arm for c in AB.values() for arm in (c.now, c.other)]
    assert len(set(arms)) == len(arms)  # a child process finds its change by its arm's name
    for comparison, (_, _, change) in AB.items():
        if isinstance(change, list):
            parse_recipe(["--config", "configs/cpu.yaml", *change])  # a flag the recipe does not know raises
            continue
        module, name, replacement = change
        original = getattr(importlib.import_module(module), name)
        assert len(inspect.signature(original).parameters) == len(inspect.signature(replacement).parameters), comparison


@pytest.mark.slow  # about 110 s: after the main suite
@pytest.mark.parametrize("comparison, modes, family", [
    ("batch_size", ["a batch of 32 rows", "the batch as given"], []),
    # the mask table is eager attention's
    ("causal_mask", ["mask built at every forward", "causal mask table"],
     [*FAMILIES["qwen3"], "--attn_implementation", "eager"])])
def test_ab_times_the_step_as_it_runs_and_with_one_change(real_dataset, corpus_dir, char_tokenizer_dir, comparison,
                                                          modes, family):
    out = _run("benchmarks/train_throughput.py", "--config", "configs/tiny.yaml", "--ab", comparison, "--repeats",
               "1", "--", "--corpus_dir", str(corpus_dir), "--dataset_dir", str(real_dataset[1]), "--tokenizer_dir",
               str(char_tokenizer_dir), *family)
    row = r"repeat 1: recipe step, (.+?)\s+([0-9.]+) s\s+([0-9,]+) tokens/s .+?([0-9,]+) page faults a step"
    rows = re.findall(row, out)
    assert [mode for mode, *_ in rows] == modes, out
    assert all(0 < float(seconds) < 5 for _, seconds, *_ in rows)
    # The arms compare by tokens/s, so that a batch of another size compares fairly.
    tps = [float(t.replace(",", "")) for _, _, t, _ in rows]
    ratio = re.search(rf"ratio of tokens/s, {re.escape(modes[1])} / {re.escape(modes[0])}: ([0-9.]+)x", out)
    assert ratio and float(ratio.group(1)) == pytest.approx(tps[1] / tps[0], abs=0.006), out
    if comparison == "batch_size":  # tokens a step: 32 rows of tiny.yaml's 64, then its own 8 rows
        tokens = [tps[i] * float(rows[i][1]) for i in range(2)]
        assert tokens == [pytest.approx(32 * 64, rel=0.25), pytest.approx(8 * 64, rel=0.25)], out  # ms rounding


@pytest.mark.slow  # about 40 s: after the main suite
def test_ab_with_profile_ranks_the_arms_by_their_profiled_steps(real_dataset, corpus_dir, char_tokenizer_dir):
    out = _run("benchmarks/train_throughput.py", "--config", "configs/tiny.yaml", "--ab", "loss", "--profile",
               "--repeats", "1", "--", "--corpus_dir", str(corpus_dir), "--dataset_dir", str(real_dataset[1]),
               "--tokenizer_dir", str(char_tokenizer_dir), *FAMILIES["qwen3"])
    heads = re.findall(r"repeat 1, (.+?): profile of the recipe's step as written .+?: ([0-9.]+) ms a step", out)
    assert [mode for mode, _ in heads] == ["the library's loss", "the direct loss"], out
    ms = [float(m) for _, m in heads]
    assert all(m > 0 for m in ms) and out.count("the model's matrix products:") == 2  # each arm's whole breakdown
    ratio = re.search(r"ratio of profiled steps, the library's loss / the direct loss: ([0-9.]+)x", out)
    assert ratio and float(ratio.group(1)) == pytest.approx(ms[0] / ms[1], abs=0.02), out  # ms rounded to 0.1


def test_data_pipeline_times_every_step(tmp_path):
    out = _run("benchmarks/data_pipeline.py", "--corpus_dir", str(write_small_corpus(tmp_path / "corpus")))
    assert "dataset build" in out and "bpe tokenizer" in out.lower()


@pytest.mark.slow  # about 45 s: after the main suite
def test_recipe_ablation_runs_arms_at_equal_budget_and_prints_one_table(real_dataset, corpus_dir, tmp_path):
    _, dataset_dir = real_dataset
    out = _run("benchmarks/recipe_ablation.py", "--budget", "12", "--arms",
               "gpt2-adamw-cosine (round 1);qwen3-muon-wsd, BPE 512", "--dataset_dir", str(dataset_dir),
               "--max_chars", "3000", "--output_dir", str(tmp_path / "ablation"), "--", "--corpus_dir", str(corpus_dir),
               "--dataset_dir", str(dataset_dir), "--tokenizer_dir", str(tmp_path / "tok"), "--n_layer", "1",
               "--n_embd", "32", "--n_head", "2", "--tokenizer_kind", "char",
               "--torch_compile", "false")  # 12 s arms: compiling would take most of them
    assert out.startswith("CPU: ") and "bf16 hardware" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0].startswith("| arm | parameters | steps | epochs | test bits/char | tokens/s |") and len(rows) == 3
    for row in rows[1:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert int(cells[2].replace(",", "")) > 10 and 0 < float(cells[4]) < 8 and 9 <= float(cells[6]) <= 25
        assert 0 <= float(cells[3]) < 1  # passes over the train split in 12 s
    results = json.loads((tmp_path / "ablation/results.json").read_text())
    assert all(0 < r["epochs"] < 1 and r["tokens_seen"] == r["steps"] * 32 * 128 for r in results)


@pytest.mark.slow  # about 70 s: after the main suite
def test_thesis_baseline_runs_the_thesis_script_and_scores_our_test_split(real_dataset, corpus_dir, tmp_path):
    if not (ROOT.parent / "shared/thesis/machado-gpt.py").is_file():
        pytest.skip("the thesis's script is not beside the repository (../shared/thesis)")
    _, dataset_dir = real_dataset
    # 50 s: the budget counts its data reading, and its first iteration evaluates and samples before it trains, 23 s
    # on a 2-core Xeon (a 25-s budget there ended after 0 or 1 iterations)
    out = _run("benchmarks/thesis_baseline.py", "--budget", "50", "--corpus_dir", str(corpus_dir), "--dataset_dir",
               str(dataset_dir), "--raw_dataset_dir", str(tmp_path / "raw"), "--max_chars", "2000",
               "--output_dir", str(tmp_path / "thesis"))
    assert "Dispositivo de treinamento definido" in out  # its own prints: the thesis's code ran
    match = re.search(r"(\d[\d,]*) iterations in (\d+) s: test ([0-9.]+) bits/char", out)
    assert match and int(match.group(1).replace(",", "")) > 0 and 1 < float(match.group(3)) < 8
    assert list((tmp_path / "thesis").glob("modelo_*.pth"))  # its checkpoints land in the scratch folder

