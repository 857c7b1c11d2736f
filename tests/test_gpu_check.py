"""The GPU check without a GPU: its offline bundle (built, then installed into a fresh virtual environment with
`pip --no-index`) and all three stages at toy size on the CPU. The CUDA-only branches are tested where CUDA is."""

import json
import math
import os
import subprocess
import sys
from importlib.metadata import version

import pytest
import torch

from tests.conftest import ROOT

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _run(*argv, env=None, timeout=900) -> str:
    proc = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def bundle(corpus_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu") / "bundle"
    _run("benchmarks/gpu_check.py", "bundle", "--bundle", str(out), env={"MACHADO_CORPUS_DIR": str(corpus_dir)})
    return out


@pytest.mark.slow
def test_bundle_is_small_complete_and_installs_offline(bundle, tmp_path):
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    assert size < 64 * 2**20
    assert (bundle / "machado-dataset" / "build_info.json").is_file()
    assert not list(bundle.glob("machado-dataset/*/cache-*.arrow"))  # map caches are rebuilt where it runs
    for tok in ("tokenizer-char", "tokenizer-bpe-2048"):
        assert (bundle / tok / "tokenizer.json").is_file()
    raw = (bundle / "thesis/processado/textos_concatenados.txt").read_text(encoding="utf-8")
    assert len(raw) > 5_000_000  # the raw train split, the thesis script's input
    names = {w.name.split("-")[0] for w in (bundle / "wheels").iterdir()}
    assert names == {"datasets", "evaluate", "dill", "multiprocess"}
    assert any("py312" in w.name for w in (bundle / "wheels").glob("multiprocess-*"))  # the GPU images' Python
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                          "--find-links", str(bundle / "wheels"), "datasets", "evaluate", "dill", "multiprocess"],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    got = subprocess.run([str(venv / "bin/python"), "-c", "import importlib.metadata as m, dill, multiprocess; print("
                          "*(m.version(n) for n in ('datasets', 'evaluate', 'dill', 'multiprocess')))"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert got == [version(n) for n in ("datasets", "evaluate", "dill", "multiprocess")]


@pytest.mark.slow
def test_check_runs_every_stage_at_toy_size_on_a_cpu(bundle, tmp_path):
    out = tmp_path / "check"
    # No corpus: the check must work from the bundle alone, as on a GPU machine without ../shared's corpus.
    printed = _run("benchmarks/gpu_check.py", "--device", "cpu", "--tiny", "--budget", "30", "--bundle", str(bundle),
                   "--output_dir", str(out), env={"MACHADO_CORPUS_DIR": str(tmp_path / "no-corpus")})
    r = json.loads((out / "gpu_check.json").read_text())
    assert r["device"].startswith("CPU: ") and r["bf16_peak_tflops"] > 0 and r["fp32_peak_tflops"] > 0
    # The MFUs divide by the faster peak: fp32's on a CPU without bf16 instructions, where bf16 is emulated
    assert r[r["peak_precision"] + "_peak_tflops"] == max(r["bf16_peak_tflops"], r["fp32_peak_tflops"])
    a = r["thesis"]
    assert a["timed_steps"] > 0 and a["tokens_per_second"] > 0 and a["projected_10k_steps_minutes"] > 0
    assert 0 < a["mfu"] < 1
    assert [row["precision"] for row in r["ours"]] == ["bf16", "bf16 + compile", "fp16"]
    assert all(row["tokens_per_second"] > 0 and 0 < row["mfu"] < 1 for row in r["ours"])
    la = r["loss_agreement"]
    assert la["agree"] and 0 < la["bf16_relative_difference"] < 2e-2  # a real difference: autocast was on
    c = r["best"]
    assert c["steps"] > 0 and 1 < c["test_bpc"] < 8 and 0 <= c["word_validity"] <= 1 and len(c["samples"]) == 3
    assert json.loads((out / "gpu-4min-metrics.json").read_text())["test_bpc"] == pytest.approx(c["test_bpc"], abs=1e-4)
    table = (out / "gpu_check.md").read_text()
    assert "(a) thesis script" in table and "(c) 4 GPU-minutes" in table and table in printed


def test_check_refuses_a_missing_bundle_with_the_fix(tmp_path):
    proc = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--bundle", str(tmp_path / "none")], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "make gpu-bundle" in proc.stderr


@CUDA
def test_out_of_memory_is_one_line_naming_the_batch_flags(tiny_argv):
    from machado_gpt.config import parse_recipe
    from machado_gpt.training import train
    from machado_gpt.utils import MachadoError

    # A batch no GPU holds: 2^20 sequences of the tiny model's logits.
    args = parse_recipe(tiny_argv + ["--per_device_train_batch_size", str(2**20), "--max_steps", "1"])
    with pytest.raises(MachadoError, match="per_device_train_batch_size .* gradient_accumulation_steps"):
        train(*args, log=lambda *a: None)


@CUDA
def test_mixed_precision_losses_agree_with_fp32_on_cuda():
    from machado_gpt.config import ModelArguments, build_model
    from machado_gpt.data import BlockDataset

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from gpu_check import loss_agreement

    class Tok:
        bos_token_id = eos_token_id = 0
        pad_token_id = 1

        def __len__(self):
            return 64

    args = ModelArguments(n_layer=2, n_head=2, n_embd=64, n_positions=32, dropout=0.0)
    model = build_model(args, Tok())
    blocks = BlockDataset(torch.randint(2, 64, (16, 32)))
    r = loss_agreement(model, args, Tok(), blocks, torch.device("cuda"))
    assert r["agree"] and math.isfinite(r["fp32_loss"])
