"""Quality-per-minute machinery: the time budget, Muon + AdamW in one optimizer, the two model families."""

import json
import math
import time

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM, TrainerCallback, TrainingArguments

import train_hf
from machado_gpt.budget import parse_duration
from machado_gpt.config import ModelArguments, build_model, context_length, has_sliding_window
from machado_gpt.hardware import cpu_supports_bf16
from machado_gpt.optim import MuonWithAdamW, OptimizerArguments, build_optimizer, named_param_groups
from machado_gpt.tokenizer import load_tokenizer
from machado_gpt.utils import MachadoError


def test_durations_parse_and_bad_ones_name_the_format():
    assert parse_duration("600") == 600 and parse_duration("10m") == 600 and parse_duration("1h30m") == 5400
    assert parse_duration("90s") == 90 and parse_duration(None) is None and parse_duration("0") is None
    for bad in ("ten minutes", "10 m", "5d", "1h-3m"):
        with pytest.raises(MachadoError, match="not a duration"):
            parse_duration(bad)


def _tiny(model_type, tokenizer, **kw):
    torch.manual_seed(0)
    return build_model(ModelArguments(model_type=model_type, n_layer=2, n_head=2, n_embd=32, n_positions=16,
                                      dropout=0.0, **kw), tokenizer)


@pytest.mark.parametrize("model_type", ["gpt2", "qwen3"])
def test_param_groups_split_by_role(char_tokenizer_dir, model_type):
    tokenizer = load_tokenizer(char_tokenizer_dir)
    model = _tiny(model_type, tokenizer)
    groups = named_param_groups(model)
    ids = [id(p) for g in groups.values() for p in g]
    assert len(ids) == len(set(ids)) == len({id(p) for p in model.parameters()})  # each parameter once
    assert all(p.ndim == 2 for p in groups["hidden_matrix_params"]) and groups["hidden_matrix_params"]
    assert all(p.ndim == 1 for p in groups["scalar_params"])
    embedding = model.get_input_embeddings().weight
    assert any(p is embedding for p in groups["embed_params"])
    if model_type == "gpt2":  # tied head: the embedding is the head; learned positions are an embedding too
        assert groups["head_params"] == [] and len(groups["embed_params"]) == 2
    else:  # untied head, RoPE: no position table; QK-norm gains are scalars
        assert [p is model.lm_head.weight for p in groups["head_params"]] == [True]
        assert len(groups["embed_params"]) == 1
        assert any(p is model.model.layers[0].self_attn.q_norm.weight for p in groups["scalar_params"])
    assert has_sliding_window(model.config) == (model_type == "qwen3") and context_length(model.config) == 16


def test_muon_with_adamw_steps_saves_both_states_and_resumes_exactly(char_tokenizer_dir, tmp_path):
    tokenizer = load_tokenizer(char_tokenizer_dir)
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=3e-3, weight_decay=0.1, report_to=[])
    opt_args = OptimizerArguments(optimizer="muon", muon_learning_rate=0.02)
    batch = torch.randint(3, len(tokenizer), (4, 16))

    def step(model, optimizer):
        optimizer.zero_grad()
        model(input_ids=batch, labels=batch).loss.backward()
        optimizer.step()

    model = _tiny("qwen3", tokenizer)
    optimizer = build_optimizer(model, opt_args, args)
    assert isinstance(optimizer, MuonWithAdamW)
    assert [g["name"] for g in optimizer.param_groups] == ["hidden_matrix_params", "embed_params", "head_params",
                                                           "scalar_params"]
    assert optimizer.param_groups[0]["lr"] == 0.02 and optimizer.param_groups[1]["lr"] == 3e-3
    step(model, optimizer)
    state = optimizer.state_dict()
    hidden = model.model.layers[0].mlp.up_proj.weight
    assert "momentum_buffer" in optimizer.state[hidden] and "exp_avg" in optimizer.state[model.lm_head.weight]
    kinds = {frozenset(s) for s in state["state"].values()}
    assert {"momentum_buffer"} in kinds and any("exp_avg_sq" in k for k in kinds)  # both states in one dict

    # A copy restored from the state dict takes the same next step as the original.
    torch.save({"model": model.state_dict(), "optimizer": state}, tmp_path / "ckpt.pt")
    twin = _tiny("qwen3", tokenizer)
    twin_opt = build_optimizer(twin, opt_args, args)
    saved = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    twin.load_state_dict(saved["model"])
    twin_opt.load_state_dict(saved["optimizer"])
    assert twin_opt.muon.param_groups[0] is twin_opt.param_groups[0]  # the scheduler's lr reaches Muon after a load
    twin_opt.param_groups[0]["lr"] = optimizer.param_groups[0]["lr"] = 0.01
    step(model, optimizer)
    step(twin, twin_opt)
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        assert torch.equal(a, b), name


def test_batched_muon_step_is_torchs_muon_step(char_tokenizer_dir):
    """The orthogonalisation batched by shape gives torch.optim.Muon's own updates (to bf16 rounding), for square,
    tall and wide matrices, and three optimizer steps land where torch's Muon lands."""
    from torch.optim._muon import _zeropower_via_newtonschulz

    from machado_gpt.optim import orthogonalize

    torch.manual_seed(0)
    updates = [torch.randn(*shape) for shape in [(32, 32), (88, 32), (32, 88), (32, 32), (88, 32)]]
    coefficients = (3.4445, -4.775, 2.0315)
    batched = orthogonalize(updates, coefficients, 5, 1e-7)
    for u, mine in zip(updates, batched):
        theirs = _zeropower_via_newtonschulz(u, coefficients, 5, 1e-7)
        assert mine.shape == u.shape and mine.dtype == theirs.dtype == torch.bfloat16
        assert (mine.float() - theirs.float()).abs().max() <= 0.02 * theirs.float().abs().max()

    tokenizer = load_tokenizer(char_tokenizer_dir)
    opt_args = OptimizerArguments(optimizer="muon", muon_learning_rate=0.02)
    args = TrainingArguments(output_dir="unused", learning_rate=3e-3, weight_decay=0.1, report_to=[])
    batch = torch.randint(3, len(tokenizer), (4, 16))
    models = [_tiny("qwen3", tokenizer) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    ours, reference = (build_optimizer(m, opt_args, args) for m in models)
    reference.muon_step = reference.muon.step  # torch's own Muon step, matrix by matrix
    start = {n: p.detach().clone() for n, p in models[0].named_parameters()}
    for _ in range(3):
        for model, optimizer in zip(models, (ours, reference)):
            optimizer.zero_grad()
            model(input_ids=batch, labels=batch).loss.backward()
            optimizer.step()
    for (name, a), b in zip(models[0].named_parameters(), models[1].parameters()):
        moved = (b - start[name]).abs().max()
        assert moved > 0 and (a - b).abs().max() <= 0.05 * moved, name


def test_muon_iterates_in_fp32_where_the_cpu_has_no_bf16_and_agrees_with_torchs_bf16(char_tokenizer_dir):
    """On a CPU without bf16 instructions bf16 products are emulated (3x slower for cpu-1h.yaml's matrices), so the
    orthogonalisation runs in fp32 there: the same iteration as torch's bf16 one, to bf16 rounding. The optimizer's
    real update carries fp32 digits exactly where the machine lacks native bf16, and bf16-rounded ones elsewhere."""
    from torch.optim._muon import _adjust_lr, _zeropower_via_newtonschulz

    from machado_gpt.optim import newton_schulz_dtype, orthogonalize

    assert newton_schulz_dtype(torch.device("cpu")) == (torch.bfloat16 if cpu_supports_bf16() else torch.float32)
    torch.manual_seed(0)
    updates = [torch.randn(*shape) for shape in [(32, 32), (88, 32), (32, 88)]]
    coefficients = (3.4445, -4.775, 2.0315)
    for u, mine in zip(updates, orthogonalize(updates, coefficients, 5, 1e-7, torch.float32)):
        theirs = _zeropower_via_newtonschulz(u, coefficients, 5, 1e-7).float()
        assert mine.dtype == torch.float32 and not torch.equal(mine, mine.bfloat16().float())  # not bf16-rounded
        # bf16's rounding, compounded over 5 iterations, moves entries by up to 3% of the largest; the singular
        # values, what the iteration is for (all pulled into about 0.7-1.1), agree to 1%.
        assert (mine - theirs).abs().max() <= 0.04 * theirs.abs().max()
        assert torch.allclose(torch.linalg.svdvals(mine), torch.linalg.svdvals(theirs), atol=0.015)

    tokenizer = load_tokenizer(char_tokenizer_dir)
    batch = torch.randint(3, len(tokenizer), (4, 16))
    for muon_dtype, expect_bf16 in (("auto", cpu_supports_bf16()), ("bf16", True), ("fp32", False)):
        torch.manual_seed(0)
        model = _tiny("qwen3", tokenizer)
        optimizer = build_optimizer(model, OptimizerArguments(optimizer="muon", muon_learning_rate=0.02,
                                                              muon_dtype=muon_dtype),
                                    TrainingArguments(output_dir="unused", weight_decay=0.0, report_to=[]))
        matrix = optimizer.muon.param_groups[0]["params"][0]
        before = matrix.detach().clone()
        model(input_ids=batch, labels=batch).loss.backward()
        optimizer.step()
        # No decay here: the step is -lr' x the orthogonalised update (lr' = Muon's lr adjusted to the shape), so the
        # update is read back to about 1e-6 of itself; bf16 spaces its numbers 4e-3 apart.
        update = (before - matrix.detach()) / _adjust_lr(0.02, "match_rms_adamw", matrix.shape)
        bf16_rounded = torch.allclose(update, update.bfloat16().float(), rtol=1e-4, atol=1e-7)
        assert bf16_rounded == expect_bf16, muon_dtype
    with pytest.raises(MachadoError, match="unknown muon_dtype 'fp8': use one of auto, bf16, fp32"):
        OptimizerArguments(optimizer="muon", muon_dtype="fp8")


def test_gpt2_takes_every_improvement_its_config_allows(char_tokenizer_dir):
    tokenizer = load_tokenizer(char_tokenizer_dir)
    model = _tiny("gpt2", tokenizer, activation_function="relu2", tie_word_embeddings=False)
    assert model.config.activation_function == "relu2" and model.lm_head.weight is not model.transformer.wte.weight
    out = model(input_ids=torch.randint(3, len(tokenizer), (2, 16)))
    assert out.logits.shape == (2, 16, len(tokenizer))
    with pytest.raises(MachadoError, match="unknown model_type"):
        ModelArguments(model_type="llama4")
    with pytest.raises(MachadoError, match="unknown optimizer"):
        OptimizerArguments(optimizer="sgd")


def test_qwen3_ties_its_tables_when_asked_and_saves_one(char_tokenizer_dir, tmp_path):
    """recipe_ablation's tied-embeddings arm: one table, in AdamW's embedding group once, and saved as one."""
    tokenizer = load_tokenizer(char_tokenizer_dir)
    untied, tied = _tiny("qwen3", tokenizer), _tiny("qwen3", tokenizer, tie_word_embeddings=True)
    assert tied.lm_head.weight is tied.model.embed_tokens.weight
    assert untied.num_parameters() - tied.num_parameters() == len(tokenizer) * 32
    groups = named_param_groups(tied)
    assert groups["head_params"] == [] and [p is tied.lm_head.weight for p in groups["embed_params"]] == [True]
    tied.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight
    assert torch.equal(loaded.lm_head.weight, tied.lm_head.weight)


@pytest.mark.slow  # 27 s: make test stays under 7 minutes
def test_time_budget_plans_max_steps_from_measured_throughput(tiny_argv, tmp_path):
    budget = 25
    metrics = train_hf.main([*tiny_argv, "--max_steps", "-1", "--time_budget", f"{budget}s", "--model_type", "qwen3",
                             "--optimizer", "muon", "--lr_scheduler_type", "warmup_stable_decay", "--eval_steps", "400",
                             "--save_steps", "400"])
    plans = metrics["time_budget_plans"]
    assert plans and plans[0]["at_step"] >= 10 and plans[0]["step_seconds"] > 0
    assert metrics["max_steps"] == plans[-1]["max_steps"] > 100  # far more than the recipe's 20 steps
    # Evaluation, saving and the final evaluation are inside the budget; the run ends near it, not after it.
    assert 0.7 * budget < metrics["wall_seconds"] < 1.2 * budget
    saved = yaml.safe_load((tmp_path / "model" / "run_config.yaml").read_text())
    assert saved["training"]["max_steps"] == metrics["max_steps"]  # rerun exactly with --max_steps
    assert saved["run"]["time_budget"] == "25s"
    last = max((tmp_path / "run").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))  # 1154 after 800
    state = json.loads((last / "trainer_state.json").read_text())
    assert state["stateful_callbacks"]["StepClock"]["attributes"]["planned"] == metrics["max_steps"]
    # Each param group's rate, by its name (Trainer alone would log Muon's as `learning_rate`, under AdamW's name).
    logged = [h for h in state["log_history"] if "learning_rate/hidden_matrix_params" in h]
    assert logged and "learning_rate" not in logged[-1] and "learning_rate/embed_params" in logged[-1]
    lrs = [h["learning_rate/hidden_matrix_params"] for h in logged]
    assert max(lrs) == pytest.approx(0.02, rel=1e-3)  # Muon's peak (muon_learning_rate), AdamW's is 0.003
    assert max(h["learning_rate/embed_params"] for h in logged) == pytest.approx(0.003, rel=1e-3)
    assert lrs[-1] < 0.5 * max(lrs)  # the warmup-stable-decay schedule reached its cooldown on time
    assert math.isfinite(metrics["test_bpc"])
    # The recipe says muon_dtype auto; the metrics say what this machine's Newton-Schulz iteration ran in.
    ran_in = "bf16" if cpu_supports_bf16() else "fp32"
    assert metrics["muon_dtype"] == ran_in
    assert f"Newton-Schulz in {ran_in})" in (tmp_path / "model" / "README.md").read_text()  # and the card says so

    # Interrupted after its second-to-last checkpoint, the run resumes there and finishes the plan saved in it,
    # whatever a new clock would say (a 5 s budget). That is the uninterrupted run's own end unless the budget
    # re-planned after that checkpoint (a machine whose speed drifted): then it is the plan the checkpoint holds.
    import shutil

    checkpoints = sorted((tmp_path / "run").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    resumed_state = json.loads((checkpoints[-2] / "trainer_state.json").read_text())
    saved_plan = resumed_state["stateful_callbacks"]["StepClock"]["attributes"]["planned"]
    shutil.rmtree(checkpoints[-1])
    (tmp_path / "run" / "run_finished.json").unlink()  # a killed run never wrote it
    again = train_hf.main([*tiny_argv, "--max_steps", "-1", "--time_budget", "5s", "--model_type", "qwen3",
                           "--optimizer", "muon", "--lr_scheduler_type", "warmup_stable_decay", "--eval_steps", "400",
                           "--save_steps", "400"])
    assert again["max_steps"] == saved_plan > 100
    if saved_plan == metrics["max_steps"]:  # no re-plan after that checkpoint: the same run, to the same loss
        assert again["eval_bpc"] == pytest.approx(metrics["eval_bpc"])


def test_an_explicit_max_steps_wins_over_the_budget(tiny_argv):
    metrics = train_hf.main([*tiny_argv, "--max_steps", "12", "--time_budget", "1h", "--eval_strategy", "no",
                             "--save_strategy", "no"])
    assert metrics["max_steps"] == 12 and "time_budget_plans" not in metrics


class Slowdown(TrainerCallback):
    """Another process taking the cores, for real: from step `at` on, every step sleeps three times its length."""

    def __init__(self, at: int):
        self.at, self.begin = at, None

    def on_step_begin(self, args, state, control, **kwargs):
        self.begin = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.at:
            time.sleep(3 * (time.perf_counter() - self.begin))


def test_a_sustained_slowdown_warns_once_and_the_budget_re_plans_to_end_on_time(tiny_argv, capsys):
    from machado_gpt.config import parse_recipe
    from machado_gpt.training import prepare

    data, tok, model_args, opt, run, args = parse_recipe([*tiny_argv, "--max_steps", "-1", "--time_budget", "20",
                                                          "--eval_strategy", "no", "--save_strategy", "no"])
    start = time.perf_counter()
    trainer, _, _, _ = prepare(data, tok, model_args, opt, run, args, start_time=start)
    trainer.add_callback(Slowdown(at=150))
    trainer.train()
    out = capsys.readouterr().out
    assert out.count("another process is probably using the same cores") == 1 and "OMP_NUM_THREADS" in out
    assert "(re-planned)" in out
    plans = next(c for c in trainer.callback_handler.callbacks if type(c).__name__ == "StepClock").plans
    assert len(plans) >= 2 and plans[-1]["max_steps"] < plans[0]["max_steps"]  # fewer, slower steps
    assert trainer.state.global_step == plans[-1]["max_steps"]
    assert time.perf_counter() - start < 1.2 * 20


@pytest.mark.parametrize("model_type", ["gpt2", "qwen3"])
def test_the_training_attention_kernel_is_the_same_computation(char_tokenizer_dir, model_type, tmp_path):
    """attn_implementation eager (cpu.yaml's, faster compiled on a CPU) and sdpa give the same loss and gradients,
    and the saved folder does not carry the choice: it loads with transformers' default."""
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(char_tokenizer_dir)
    x = torch.randint(3, len(tokenizer), (2, 16))
    losses, grads = [], []
    for kernel in ("eager", "sdpa"):
        model = _tiny(model_type, tokenizer, attn_implementation=kernel)
        assert model.config._attn_implementation == kernel
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert losses[0] == pytest.approx(losses[1], rel=1e-5) and torch.allclose(grads[0], grads[1], atol=1e-5)
    model.save_pretrained(tmp_path)
    assert "attn_implementation" not in (tmp_path / "config.json").read_text()
    assert AutoModelForCausalLM.from_pretrained(tmp_path).config._attn_implementation == "sdpa"
    with pytest.raises(MachadoError, match="unknown attn_implementation 'flash': use one of sdpa, eager"):
        ModelArguments(attn_implementation="flash")
