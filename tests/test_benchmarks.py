"""The benchmark scripts run as the README runs them (`python benchmarks/<name>.py`, from the repo root, with the
package installed by `make install`) and print their ratios. Their speeds are not asserted: they are measurements,
on tiny sizes here."""

import re
import subprocess
import sys

from tests.conftest import ROOT, write_small_corpus


def _run(*argv: str) -> str:
    proc = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _ratios(out: str) -> dict[str, float]:
    return {name: float(value) for name, value in re.findall(r"ratio, ([^:]+):\s+([0-9.]+)x", out)}


def test_generation_speed_prints_both_speeds_and_the_ratios(tiny_model_dir):
    out = _run("benchmarks/generation_speed.py", "--model_dir", str(tiny_model_dir), "--max_new_tokens", "40",
               "--repeats", "1", "--compile")
    assert "KV cache + re-prefill, compiled" in out and "prompt 16 tokens" in out
    assert set(_ratios(out)) == {"eager", "compiled", "compiled cache / eager recompute"}
    assert all(r > 0 for r in _ratios(out).values())


def test_train_throughput_compares_trainer_with_a_plain_loop():
    out = _run("benchmarks/train_throughput.py", "--config", "configs/tiny.yaml", "--batch_size", "4", "--steps", "2",
               "--warmup", "1", "--precisions", "fp32", "--repeats", "1")
    assert re.search(r"Trainer / plain loop", out), out


def test_data_pipeline_times_every_step(tmp_path):
    out = _run("benchmarks/data_pipeline.py", "--corpus_dir", str(write_small_corpus(tmp_path / "corpus")))
    assert "dataset build" in out and "bpe tokenizer" in out.lower()
