"""A real 2-process DDP run (gloo, CPU) through `accelerate launch`: the batch is split, the loss is finite, and only
the main process writes the output folder."""

import json
import math
import subprocess
import sys

from tests.conftest import ROOT


def test_two_process_cpu_ddp(real_dataset, corpus_dir, char_tokenizer_dir, tmp_path):
    _, dataset_dir = real_dataset
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", "configs/accelerate/cpu-2proc.yaml",
           "train_hf.py", "--config", "configs/tiny.yaml", "--corpus_dir", str(corpus_dir), "--dataset_dir",
           str(dataset_dir), "--tokenizer_dir", str(char_tokenizer_dir), "--output_dir", str(tmp_path / "run"),
           "--model_dir", str(tmp_path / "model"), "--per_device_train_batch_size", "4", "--max_steps", "10",
           "--eval_steps", "5", "--save_steps", "5"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "model/metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["global_batch_sequences"] == 8  # 4 per process
    assert math.isfinite(metrics["train_loss"]) and math.isfinite(metrics["eval_bpc"])
    state = json.loads((tmp_path / "run/checkpoint-10/trainer_state.json").read_text())
    assert state["global_step"] == 10 and state["train_batch_size"] == 4
    # One process wrote the folders: one set of files, and a single "model saved" line in the logs.
    assert (proc.stdout + proc.stderr).count("model saved to") == 1
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint-10", "checkpoint-5", "run_config.yaml"]
