"""Real multi-process runs (gloo, CPU) through `accelerate launch` with the repository's launch configs: the batch is
split, the loss is that of one process at equal batch, and only the main process writes the output folder."""

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.slow  # 18 s (two processes, each importing torch): make test stays under 7 minutes
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
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint-10", "checkpoint-5", "run_config.yaml",
                                                                   "run_finished.json"]


def _launch(config: str, tiny: list[str], run: Path, *launch_flags: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config, *launch_flags, "train_hf.py",
           *tiny, "--output_dir", str(run / "run"), "--model_dir", str(run / "model")]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # its own process group: a hung run is killed whole, below


def _finish(proc: subprocess.Popen) -> str:
    """The launch's output once it exits 0. A run takes seconds: one still going after 300 s has hung, and it is
    killed with its workers (left running, a hung rank holds memory and a port for the rest of the suite)."""
    try:
        out, _ = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        out = _kill(proc)
        pytest.fail(f"the launch hung for 300 s and was killed; its output ends:\n{out[-3000:]}")
    assert proc.returncode == 0, out[-3000:]
    return out


def _kill(proc: subprocess.Popen) -> str:
    """Kill a launch with its workers (its own process group) and return what it printed."""
    os.killpg(proc.pid, signal.SIGKILL)
    return proc.communicate()[0]


@pytest.fixture
def tiny_flags(real_dataset, corpus_dir, char_tokenizer_dir):
    """The tiny recipe, 10 steps of a global batch of 8 sequences, fp32."""
    _, dataset_dir = real_dataset
    return ["--config", "configs/tiny.yaml", "--corpus_dir", str(corpus_dir), "--dataset_dir", str(dataset_dir),
            "--tokenizer_dir", str(char_tokenizer_dir), "--max_steps", "10", "--eval_steps", "5", "--save_steps", "5",
            "--mixed_precision", "no"]


@pytest.fixture
def one_process_loss(tiny_flags, tmp_path) -> float:
    _finish(_launch("configs/accelerate/cpu-2proc.yaml", tiny_flags + ["--per_device_train_batch_size", "8"],
                    tmp_path / "one", "--num_processes", "1"))
    return json.loads((tmp_path / "one/model/metrics.json").read_text())["train_loss"]


@pytest.mark.slow
def test_multi_node_config_runs_as_two_machines_on_localhost(tiny_flags, one_process_loss, tmp_path):
    """configs/accelerate/multi-node.yaml as written, with two 'machines' on this one (each 1 process, ranks 0 and 1,
    rendezvous on 127.0.0.1): the run a cluster would make, over gloo, with the loss of one process at equal batch."""
    flags = ["--num_machines", "2", "--num_processes", "2", "--main_process_ip", "127.0.0.1", "--main_process_port",
             "29533", "--mixed_precision", "no"]
    procs = [_launch("configs/accelerate/multi-node.yaml", tiny_flags + ["--per_device_train_batch_size", "4"],
                     tmp_path / f"machine{rank}", *flags, "--machine_rank", str(rank)) for rank in (0, 1)]
    try:
        outs = [_finish(p) for p in procs]
    finally:  # rank 0 hung or failed: rank 1, waiting on it, is killed too, not left holding the port
        for p in procs:
            if p.poll() is None:
                _kill(p)
    metrics = json.loads((tmp_path / "machine0/model/metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["global_batch_sequences"] == 8
    assert metrics["distributed_type"] == "MULTI_CPU"
    assert not (tmp_path / "machine1/model").exists() and "model saved to" not in outs[1]  # only the main machine saves
    assert metrics["train_loss"] == pytest.approx(one_process_loss, rel=1e-3)


@pytest.mark.slow
def test_fsdp_config_launches_on_cpu_but_runs_as_ddp(tiny_flags, one_process_loss, tmp_path):
    """configs/accelerate/fsdp.yaml on 2 CPU processes. accelerate cannot run FSDP on a CPU: with no GPU the
    processes run on the CPU (ACCELERATE_USE_CPU, set by parse_recipe so that gloo is used), and accelerate then makes
    every run MULTI_CPU, plain data parallel, whatever the config's distributed_type. So this checks that the config
    launches and trains correctly there, and that the run says what it really was; FSDP itself is untested (README)."""
    out = _finish(_launch("configs/accelerate/fsdp.yaml", tiny_flags + ["--per_device_train_batch_size", "4"],
                          tmp_path / "fsdp", "--num_processes", "2", "--mixed_precision", "no"))
    metrics = json.loads((tmp_path / "fsdp/model/metrics.json").read_text())
    assert metrics["distributed_type"] == "MULTI_CPU" and metrics["world_size"] == 2, out[-2000:]
    assert metrics["train_loss"] == pytest.approx(one_process_loss, rel=1e-3)
