"""Training end to end on the real corpus with the tiny recipe: files, metrics, pipeline, resume, W&B, bad inputs."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

import train_hf
from machado_gpt.config import build_model, parse_recipe
from machado_gpt.tokenizer import load_tokenizer
from machado_gpt.utils import MachadoError
from tests.conftest import FAMILIES, ROOT

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


FIRST_MATRIX = {"gpt2": "transformer.h.0.attn.c_attn.weight", "qwen3": "model.layers.0.self_attn.q_proj.weight"}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_tiny_run_trains_and_writes_a_usable_model_folder(tiny_argv, tmp_path, recwarn, family):
    from transformers import pipeline

    argv = [*tiny_argv, *FAMILIES[family]]
    data, tok, model_args, _, run, _ = parse_recipe(argv)
    torch.manual_seed(0)
    initial = build_model(model_args, load_tokenizer(tok.tokenizer_dir)).state_dict()
    metrics = train_hf.main(argv)

    model_dir = tmp_path / "model"
    names = {p.name for p in model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
            "run_config.yaml", "metrics.json", "README.md"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl"))]
    trained = load_file(model_dir / "model.safetensors")
    assert not torch.equal(trained[FIRST_MATRIX[family]], initial[FIRST_MATRIX[family]])

    assert math.isfinite(metrics["train_loss"]) and metrics["train_loss"] < math.log(len(load_tokenizer(tok.tokenizer_dir)))
    assert 0 < metrics["eval_bpc"] < 8 and math.isfinite(metrics["test_bpc"]) and metrics["eval_chars"] > 1000
    assert metrics["train_tokens_per_second"] > 0
    spent = metrics["time_seconds"]  # every cost beside the steps, measured (issue 22)
    assert set(spent) == {"setup", "training_steps", "evaluations_and_checkpoints_during_training",
                          "final_evaluations", "final_samples"}
    assert all(v >= 0 for v in spent.values()) and spent["training_steps"] > 0 and spent["final_evaluations"] > 0
    assert spent["evaluations_and_checkpoints_during_training"] > 0  # two evaluations with samples, two saves
    assert sum(spent.values()) == pytest.approx(metrics["wall_seconds"], abs=0.6)
    assert json.loads((model_dir / "metrics.json").read_text())["eval_bpc"] == metrics["eval_bpc"]

    state = json.loads(sorted((tmp_path / "run").glob("checkpoint-*"))[-1].joinpath("trainer_state.json").read_text())
    evals = [h for h in state["log_history"] if "eval_bpc" in h]
    assert [h["step"] for h in evals] == [10, 20]
    assert any("samples" in h and h["samples"]["Capitu"].startswith("Capitu") for h in state["log_history"])
    assert any("tokens_per_second" in h for h in state["log_history"])

    config = json.loads((model_dir / "config.json").read_text())
    gen = json.loads((model_dir / "generation_config.json").read_text())
    assert config["use_cache"] is True and gen["use_cache"] is True
    assert (config["vocab_size"], config["eos_token_id"], config["pad_token_id"]) == (len(load_tokenizer(model_dir)), 0, 1)

    tok_config = json.loads((model_dir / "tokenizer_config.json").read_text())
    assert tok_config["tokenizer_class"] == "PreTrainedTokenizerFast"  # transformers 4.x knows no TokenizersBackend
    assert not {"is_local", "local_files_only"} & set(tok_config)
    assert "max_length" not in gen  # else every call with max_new_tokens warns that both are set
    # What every transformers client reads: no token_type_ids (transformers 4.x's generate refuses them), and a
    # length limit that tells the truth: GPT-2's positions, none for a sliding window (and none in its config).
    assert tok_config["model_input_names"] == ["input_ids", "attention_mask"]
    assert list(load_tokenizer(model_dir)("Capitu")) == ["input_ids", "attention_mask"]
    if family == "gpt2":
        assert tok_config["model_max_length"] == config["n_positions"] == 64
    else:
        assert tok_config["model_max_length"] >= 10**20 and config["max_position_embeddings"] == 2**20
        assert config["sliding_window"] == 64

    recwarn.clear()
    generator = pipeline("text-generation", model=str(model_dir))
    out = generator("Capitu", max_new_tokens=20)[0]["generated_text"]
    assert out.startswith("Capitu") and len(out) > len("Capitu")
    assert not [w for w in recwarn if "token_id" in str(w.message) or "max_length" in str(w.message)]
    if family == "qwen3":  # a sliding window of 64 tokens: 300 new tokens, natively, through the stock pipeline
        ids = generator("Capitu", max_new_tokens=300, min_new_tokens=300, do_sample=False,
                        return_tensors=True)[0]["generated_token_ids"]
        assert len(ids) == len(generator.tokenizer("Capitu")["input_ids"]) + 300


def test_wandb_offline_writes_run_files(tiny_argv, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_DIR", raising=False)
    train_hf.main([*tiny_argv, "--report_to", "wandb", "--max_steps", "10", "--eval_steps", "5"])
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    os.environ.pop("WANDB_DIR", None)


@pytest.mark.slow  # 30-60 s: after the main suite
def test_kill_and_resume_with_muon_reproduces_the_uninterrupted_run(tiny_argv, tmp_path):
    argv = [*tiny_argv, "--max_steps", "300", "--save_steps", "20", "--eval_steps", "150", "--n_embd", "64",
            "--per_device_train_batch_size", "32", "--logging_steps", "50", *FAMILIES["qwen3"]]
    cmd = [sys.executable, "train_hf.py", *argv]
    env = {**os.environ, "WANDB_MODE": "offline"}
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 180
    while not list((tmp_path / "run").glob("checkpoint-*/trainer_state.json")) and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    checkpoints = sorted(int(p.parent.name.split("-")[1]) for p in (tmp_path / "run").glob("checkpoint-*/trainer_state.json"))
    assert checkpoints and checkpoints[-1] < 300, "the run should have been killed mid-way"
    assert not (tmp_path / "model").exists()
    optimizer = torch.load(tmp_path / f"run/checkpoint-{checkpoints[0]}/optimizer.pt", weights_only=True)
    kinds = {key for s in optimizer["state"].values() for key in s}
    assert {"momentum_buffer", "exp_avg", "exp_avg_sq"} <= kinds  # Muon's and AdamW's states, both saved

    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming from" in done.stdout + done.stderr
    state = json.loads((tmp_path / "run/checkpoint-300/trainer_state.json").read_text())
    assert state["global_step"] == 300
    assert all(math.isfinite(h["loss"]) for h in state["log_history"] if "loss" in h)
    resumed = json.loads((tmp_path / "model/metrics.json").read_text())

    whole = [*cmd, "--output_dir", str(tmp_path / "whole"), "--model_dir", str(tmp_path / "whole-model")]
    assert subprocess.run(whole, cwd=ROOT, capture_output=True, env=env).returncode == 0
    uninterrupted = json.loads((tmp_path / "whole-model/metrics.json").read_text())
    assert resumed["eval_bpc"] == pytest.approx(uninterrupted["eval_bpc"], rel=1e-4)
    assert resumed["test_bpc"] == pytest.approx(uninterrupted["test_bpc"], rel=1e-4)


@pytest.mark.parametrize("extra, message", [
    (["--n_embd", "30", "--n_head", "4"], "not divisible by n_head"),
    (["--block_size", "128"], "larger than n_positions"),
    (["--n_layer", "two"], "bad arguments"),
    (["--no_such_flag", "1"], "bad arguments: Some specified arguments are not used"),
    (["--tokenizer_kind", "sentencepiece"], "unknown tokenizer_kind"),
    (["--n_layer", "0"], "n_layer 0 must be between 1 and 1,048,576"),
    (["--n_head", "0"], "n_head 0 must be between 1 and"),
    (["--n_embd", "-8"], "n_embd -8 must be between 1 and"),
    (["--n_positions", "0"], "n_positions 0 must be between 1 and"),
    (["--n_inner", "0"], "n_inner 0 must be between 1 and"),
    (["--sample_seed", "-1"], "sample_seed -1 must be between 0 and 4,294,967,295"),
    (["--max_eval_blocks", "-1"], "max_eval_blocks -1 must be between 0 and"),
    (["--sample_max_new_tokens", "0"], "sample_max_new_tokens 0 must be between 1 and"),
    (["--dropout", "1"], r"dropout 1.0 must be in \[0, 1\)"),
    (["--model_type", "qwen3", "--residual_dropout", "-0.1"], r"residual_dropout -0.1 must be in \[0, 1\)"),
    (["--bpe_dropout", "0.1"], r"needs tokenizer_kind bpe \(a char tokenizer has no merges to drop\)"),
    (["--tokenizer_kind", "bpe", "--bpe_dropout", "1"], r"bpe_dropout 1.0 must be in \[0, 1\)"),
    (["--train_fraction", "0"], r"train_fraction 0.0 must be in \(0, 1\]"),
    (["--weight_average", "mean"], "unknown weight_average 'mean': use one of none, ema, swa"),
    (["--weight_average", "ema", "--ema_decay", "1"], r"ema_decay 1.0 must be in \(0, 1\)"),
    (["--swa_start", "1"], r"swa_start 1.0 must be in \[0, 1\)"),
])
def test_bad_recipe_values(tiny_argv, extra, message):
    with pytest.raises(MachadoError, match=message):
        train_hf.main([*tiny_argv, *extra])


def test_unknown_yaml_key_and_missing_files(tiny_argv, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "configs/tiny.yaml").read_text() + "n_layers: 3\n")
    with pytest.raises(MachadoError, match=r"unknown key\(s\) \['n_layers'\]"):
        train_hf.main(["--config", str(bad)])
    # A missing tokenizer is trained first, as train_tokenizer.py would: one command per recipe.
    metrics = train_hf.main([*tiny_argv, "--tokenizer_dir", str(tmp_path / "new-tok"), "--max_steps", "2",
                             "--eval_strategy", "no", "--save_strategy", "no"])
    assert (tmp_path / "new-tok" / "tokenizer_report.json").is_file() and metrics["max_steps"] == 2
    with pytest.raises(MachadoError, match="corpus folder .* not found"):
        train_hf.main([*tiny_argv, "--corpus_dir", str(tmp_path / "no-corpus"), "--dataset_dir", str(tmp_path / "no-ds")])


def test_output_dir_of_an_unrelated_run_is_refused(tiny_argv, tmp_path):
    train_hf.main([*tiny_argv, "--max_steps", "2", "--eval_strategy", "no", "--save_strategy", "no"])
    with pytest.raises(MachadoError, match=r"unrelated run \(different n_layer\)"):
        train_hf.main([*tiny_argv, "--n_layer", "3"])
    other = tmp_path / "other"
    other.mkdir()
    (other / "thesis.txt").write_text("mine")
    with pytest.raises(MachadoError, match="holds files of something else"):
        train_hf.main([*tiny_argv, "--output_dir", str(other)])


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_recipe_loads(path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#"), "each recipe opens with a comment: purpose, hardware, time, expected result"
    data, tok, model, opt, run, training = parse_recipe(["--config", str(path)])
    assert model.block_size <= model.n_positions and training.output_dir


@pytest.mark.slow  # 30-60 s: after the main suite
def test_28m_recipe_is_thesis_sized_and_trains_one_step(char_tokenizer_dir, tmp_path):
    from transformers import Trainer

    from machado_gpt.data import BlockDataset

    _, _, model_args, _, _, training = parse_recipe(["--config", str(ROOT / "configs/machado-gpt-28m.yaml")])
    tokenizer = load_tokenizer(char_tokenizer_dir)
    model = build_model(model_args, tokenizer)
    assert abs(model.num_parameters() - 28_505_231) / 28_505_231 < 0.01
    assert (model_args.n_layer, model_args.n_embd, model_args.n_positions) == (9, 512, 128)
    assert training.per_device_train_batch_size * training.gradient_accumulation_steps == 512
    assert training.max_steps == 10_000
    training.per_device_train_batch_size, training.gradient_accumulation_steps, training.max_steps = 2, 1, 1
    training.output_dir, training.bf16, training.fp16, training.report_to = str(tmp_path), False, False, []
    training.eval_strategy = training.save_strategy = "no"
    training.warmup_steps = 0  # the recipe warms up from lr 0: one step would change nothing
    training.dataloader_pin_memory = False
    training.load_best_model_at_end = False
    assert training.torch_compile  # on a GPU, by measurement (docs/gpu.md); one CPU step needs no compilation
    training.torch_compile = False
    blocks = BlockDataset(torch.randint(3, len(tokenizer), (4, 128)))
    before = model.transformer.h[0].mlp.c_fc.weight.detach().clone()
    result = Trainer(model=model, args=training, train_dataset=blocks).train()
    assert math.isfinite(result.training_loss)
    assert not torch.equal(before, model.transformer.h[0].mlp.c_fc.weight)


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("no", torch.float32)])
def test_mixed_precision_reaches_the_training_step(tiny_argv, tmp_path, precision, dtype):
    """The recipe's `mixed_precision` must reach Trainer's Accelerator: setting TrainingArguments.bf16 after its
    __post_init__ once left every step in fp32 while the saved recipe said bf16."""
    from machado_gpt.training import prepare

    argv = [*tiny_argv, "--mixed_precision", precision, "--max_steps", "2", "--eval_strategy", "no",
            "--save_strategy", "no", "--disable_tqdm", "true"]
    trainer, *_ = prepare(*parse_recipe(argv), log=lambda *a: None)
    seen = []
    model = trainer.model
    head = model.lm_head if hasattr(model, "lm_head") else model.get_output_embeddings()
    handle = head.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype) if module.training else None)
    try:
        trainer.train()
    finally:
        handle.remove()
    assert trainer.accelerator.mixed_precision == precision
    assert seen and set(seen) == {dtype}  # the training steps' logits: autocast's dtype, or fp32 without it


def test_rotary_table_trains_as_the_model_computes_and_saves_nothing_of_its_own(tiny_argv):
    """Training looks RoPE's cos and sin up in a table (training.RotaryTable: compiled, the backward recomputed them
    for every batch row and head). The loss and every gradient are the model's own; evaluation, and positions past
    the table, use the model's own rotary embedding; the state dict, and so the saved folder, has nothing added."""
    import copy

    from machado_gpt.training import RotaryTable, prepare

    argv = [*tiny_argv, *FAMILIES["qwen3"], "--max_steps", "1", "--eval_strategy", "no", "--save_strategy", "no"]
    trainer, *_ = prepare(*parse_recipe(argv), log=lambda *a: None)
    model = trainer.model
    table = model.model.rotary_emb
    assert isinstance(table, RotaryTable) and table.cos.shape[0] == trainer.block_size
    own = copy.deepcopy(model)
    own.model.rotary_emb = own.model.rotary_emb.rotary  # the model as build_model makes it
    assert list(model.state_dict()) == list(own.state_dict())
    blocks = torch.stack([trainer.train_dataset[i]["input_ids"] for i in range(4)])

    def loss_and_grads(m, ids):
        m.zero_grad()
        loss = m(input_ids=ids, labels=ids).loss
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in m.parameters()]

    computed = []  # the model's own rotary embedding, called only where the table is not used
    table.rotary.register_forward_hook(lambda module, args, out: computed.append(args[1].shape[-1]))
    for mode, ids in (("train", blocks), ("train", blocks.repeat(1, 2)), ("eval", blocks.repeat(1, 2))):
        getattr(model, mode)(), getattr(own, mode)()
        (a, grads_a), (b, grads_b) = loss_and_grads(model, ids), loss_and_grads(own, ids)
        torch.testing.assert_close(a, b)
        for ga, gb in zip(grads_a, grads_b):
            torch.testing.assert_close(ga, gb)
    assert computed == [2 * trainer.block_size, 2 * trainer.block_size]  # not for the training blocks


def test_causal_mask_table_reaches_every_attention_layer_and_changes_nothing_but_where_the_mask_comes_from(tiny_argv):
    """Training hands the recipes' Qwen3 (eager attention) a causal mask computed once (training.CausalMaskTable:
    compiled, transformers' own mask was index arithmetic inside attention's softmax). Every attention layer gets
    that tensor while training on whole blocks; the loss and every gradient are those of the mask transformers
    builds; evaluation and other lengths build their own; the state dict, and so the saved folder, has nothing added."""
    import copy

    from machado_gpt.training import prepare

    argv = [*tiny_argv, *FAMILIES["qwen3"], "--attn_implementation", "eager", "--max_steps", "1",
            "--eval_strategy", "no", "--save_strategy", "no"]
    trainer, *_ = prepare(*parse_recipe(argv), log=lambda *a: None)
    model = trainer.model
    table = model.model.causal_mask_table
    own = copy.deepcopy(model)
    own.model._forward_pre_hooks.clear()  # the model with the mask transformers builds at every forward
    assert list(model.state_dict()) == list(own.state_dict())
    blocks = torch.stack([trainer.train_dataset[i]["input_ids"] for i in range(4)])

    masks = []  # what each attention layer of `model` was given
    for layer in model.model.layers:
        layer.self_attn.register_forward_pre_hook(
            lambda module, args, kwargs: masks.append(kwargs["attention_mask"]), with_kwargs=True)

    def loss_and_grads(m, ids):
        m.zero_grad()
        loss = m(input_ids=ids, labels=ids).loss
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in m.parameters()]

    for mode, ids, tabled in (("train", blocks, True), ("train", blocks[:, :-1], False), ("eval", blocks, False)):
        getattr(model, mode)(), getattr(own, mode)()
        masks.clear()
        (a, grads_a), (b, grads_b) = loss_and_grads(model, ids), loss_and_grads(own, ids)
        torch.testing.assert_close(a, b)
        for ga, gb in zip(grads_a, grads_b):
            torch.testing.assert_close(ga, gb)
        assert len(masks) == len(model.model.layers)
        assert all((mask is table) == tabled for mask in masks), mode


@pytest.mark.parametrize("compiled", [False, True])
def test_the_direct_loss_is_the_librarys_in_value_and_gradient(compiled):
    """training.direct_causal_lm_loss (a backward that writes softmax minus one-hot, for the compiled CPU step) gives
    transformers' ForCausalLMLoss and its gradient: with ignored labels, with Trainer's num_items_in_batch and
    without, from bf16 logits as autocast makes them, eager and compiled."""
    from transformers.loss.loss_utils import ForCausalLMLoss

    from machado_gpt.training import direct_causal_lm_loss

    torch.manual_seed(0)
    vocab = 96
    labels = torch.randint(0, vocab, (3, 17))
    labels[0, :5] = labels[2, -3:] = -100
    ours = torch.compile(direct_causal_lm_loss) if compiled else direct_causal_lm_loss
    for dtype, items in ((torch.float32, None), (torch.float32, torch.tensor(40)), (torch.bfloat16, None)):
        logits = (4 * torch.randn(3, 17, vocab)).to(dtype)
        a, b = logits.clone().requires_grad_(), logits.clone().requires_grad_()
        want = ForCausalLMLoss(a, labels, vocab, num_items_in_batch=items)
        got = ours(b, labels, vocab, num_items_in_batch=items)
        torch.testing.assert_close(got, want)
        (grad_want,), (grad_got,) = torch.autograd.grad(want, a), torch.autograd.grad(got, b)
        assert grad_got.dtype == dtype
        torch.testing.assert_close(grad_got, grad_want)
        assert grad_got[0, :4].abs().sum() == 0  # rows whose next label is ignored get no gradient


def test_training_on_a_cpu_uses_the_direct_loss_and_saves_the_librarys(tiny_argv, tmp_path):
    """On a CPU the trained model computes its loss through direct_causal_lm_loss; the saved folder loads with
    transformers' own, and the two agree on the same blocks."""
    from transformers import AutoModelForCausalLM

    from machado_gpt.training import direct_causal_lm_loss, prepare

    argv = [*tiny_argv, *FAMILIES["qwen3"], "--max_steps", "2", "--eval_strategy", "no", "--save_strategy", "no"]
    trainer, *_ = prepare(*parse_recipe(argv), log=lambda *a: None)
    assert trainer.model.loss_function is direct_causal_lm_loss
    trainer.train()
    trainer.save_model(str(tmp_path / "saved"))
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "saved")
    assert loaded.loss_function is not direct_causal_lm_loss
    blocks = torch.stack([trainer.train_dataset[i]["input_ids"] for i in range(4)])
    trainer.model.eval(), loaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(trainer.model(input_ids=blocks, labels=blocks).loss,
                                   loaded(input_ids=blocks, labels=blocks).loss)


def test_a_machine_without_a_cpp_compiler_trains_without_torch_compile(tiny_argv, monkeypatch):
    """cpu.yaml compiles its step; inductor needs a C++ compiler on a CPU, so without one the run trains eager and
    says why, instead of failing at the first step."""
    from torch._inductor import config as inductor_config

    from machado_gpt.training import prepare

    monkeypatch.setattr(inductor_config.cpp, "cxx", (None, "no-such-c++-compiler"))
    lines = []
    argv = [*tiny_argv, "--torch_compile", "true", "--max_steps", "2", "--eval_strategy", "no", "--save_strategy", "no"]
    trainer, *_ = prepare(*parse_recipe(argv), log=lines.append)
    assert trainer.args.torch_compile is False and any("no C++ compiler" in line for line in lines)
    trainer.train()
    assert trainer.state.global_step == 2


@pytest.mark.parametrize("damage", ["remove_state", "truncate_weights"])
def test_resume_skips_a_damaged_checkpoint_and_ends_as_the_whole_run(tiny_argv, tmp_path, damage, capsys):
    argv = [*tiny_argv, "--max_steps", "20", "--save_steps", "10", "--eval_steps", "20"]
    whole = train_hf.main(argv)
    newest = tmp_path / "run" / "checkpoint-20"
    (tmp_path / "run" / "run_finished.json").unlink()  # as if killed during its last save: it never finished
    if damage == "remove_state":  # what a kill between two files of a save leaves
        (newest / "trainer_state.json").unlink()
        (newest / "optimizer.pt").unlink()
    else:
        weights = newest / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:100])
    again = train_hf.main(argv)
    out = capsys.readouterr().out
    assert f"skipping damaged checkpoint {newest}" in out and f"resuming from {tmp_path / 'run' / 'checkpoint-10'}" in out
    assert again["eval_bpc"] == pytest.approx(whole["eval_bpc"], rel=1e-4)
    assert again["test_bpc"] == pytest.approx(whole["test_bpc"], rel=1e-4)
    assert (tmp_path / "run" / "checkpoint-10").is_dir()  # nothing deleted


def test_no_usable_checkpoint_is_one_clear_error(tiny_argv, tmp_path):
    argv = [*tiny_argv, "--max_steps", "10", "--save_steps", "10", "--eval_strategy", "no"]
    train_hf.main(argv)
    (tmp_path / "run" / "checkpoint-10" / "scheduler.pt").write_bytes(b"")
    (tmp_path / "run" / "run_finished.json").unlink()  # as if killed during its last save: it never finished
    with pytest.raises(MachadoError, match="no usable checkpoint in .*--resume_from_checkpoint"):
        train_hf.main(argv)
    assert (tmp_path / "run" / "checkpoint-10" / "model.safetensors").is_file()  # nothing lost
    with pytest.raises(MachadoError, match="cannot be resumed"):
        train_hf.main([*argv, "--resume_from_checkpoint", str(tmp_path / "run" / "checkpoint-10")])


KILL_DURING_SAVE = """
import os, signal, sys
from transformers import Trainer
import train_hf
original = Trainer._save_optimizer_and_scheduler
def save_then_die(self, output_dir):
    if self.state.global_step == 20:  # weights written, optimizer and trainer state not yet: SIGKILL now
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, output_dir)
Trainer._save_optimizer_and_scheduler = save_then_die
train_hf.main(sys.argv[1:])
"""


@pytest.mark.slow  # 18 s (three runs through the CLI): make test stays under 7 minutes
def test_a_sigkill_during_a_save_leaves_a_run_that_resumes(tiny_argv, tmp_path):
    argv = [*tiny_argv, "--max_steps", "30", "--save_steps", "10", "--eval_steps", "30"]
    env = {**os.environ, "WANDB_MODE": "offline"}
    killed = subprocess.run([sys.executable, "-c", KILL_DURING_SAVE, *argv], cwd=ROOT, capture_output=True, env=env)
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "run" / "checkpoint-20" / "model.safetensors").is_file()
    assert not (tmp_path / "run" / "checkpoint-20" / "trainer_state.json").exists()
    done = subprocess.run([sys.executable, "train_hf.py", *argv], cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "skipping damaged checkpoint" in done.stdout and "checkpoint-10" in done.stdout
    assert json.loads((tmp_path / "model" / "metrics.json").read_text())["max_steps"] == 30


def test_samples_during_training_keep_within_a_short_length_without_warnings(tiny_model_dir):
    """A run's samples with a short --sample_max_new_tokens (the tiny recipes', the README test's 4): at most that
    many tokens, and no "Unfeasible length constraints" warning from a minimum longer than the maximum."""
    import warnings

    from machado_gpt.evaluation import load_model
    from machado_gpt.training import generate_samples

    model, tok = load_model(str(tiny_model_dir))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        samples = generate_samples(model, tok, ["Capitu", "Era uma vez"], max_new_tokens=4, seed=0)
    assert not [w for w in caught if "Unfeasible" in str(w.message)]
    for prompt, text in samples.items():
        assert text.startswith(prompt) and 0 < len(tok(text)["input_ids"]) - len(tok(prompt)["input_ids"]) <= 4
