"""Training with `transformers.Trainer` (run through `accelerate`): metrics in bits per character, samples at
every evaluation, tokens per second, resume, and a self-describing model folder that `pipeline` loads."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from transformers import (
    GenerationConfig,
    ProgressCallback,
    Trainer,
    TrainerCallback,
    TrainerState,
    TrainingArguments,
    default_data_collator,
    set_seed,
)
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .averaging import WeightAveraging
from .budget import PlannedProgress, StepClock
from .config import ModelArguments, RunArguments, build_model, context_length, has_sliding_window, tokenizer_max_length
from .corpus import DataArguments, build_dataset
from .data import ResegmentedBlocks, ShiftedBlocks, pack
from .generation import DEFAULT_SAMPLING
from .hardware import cpu_supports_bf16, has_cpp_compiler, keep_freed_memory
from .i18n import cli_language, message
from .optim import OptimizerArguments, build_optimizer, build_scheduler, muon_dtype_name
from .plots import CURVE, draw_training_curve
from .tokenizer import (
    TokenizerArguments,
    chars_per_token_id,
    encode_works,
    load_tokenizer,
    tokenize_dataset,
    train_tokenizer,
    with_dropout,
)
from .utils import MachadoError, write_json

RUN_CONFIG = "run_config.yaml"
LN2 = math.log(2)


def resolve_precision(run: RunArguments, args: TrainingArguments) -> str:
    """Apply `mixed_precision` (auto: bf16 on GPUs that have it, else fp16; bf16 on CPUs with native bf16, else fp32)."""
    choice = run.mixed_precision
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matmuls that remain (e.g. the loss) use TF32 cores
        torch.backends.cudnn.allow_tf32 = True
    if choice == "auto":
        if torch.cuda.is_available():
            choice = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            choice = "bf16" if cpu_supports_bf16() else "no"
    args.bf16, args.fp16 = choice == "bf16", choice == "fp16"
    # TrainingArguments derives `mixed_precision`, which Trainer hands to its Accelerator, from bf16/fp16 once, in
    # __post_init__; setting bf16 afterwards alone left the Accelerator at "no", and every step ran in fp32.
    args.mixed_precision = choice
    return choice


class BitsPerChar:
    """Trainer hooks for exact bits per character: per-token losses from the logits, divided by the number of
    characters the predicted tokens decode to. Apples to apples across char and BPE vocabularies."""

    def __init__(self, chars_per_token: list[int]):
        self.chars = np.asarray(chars_per_token, dtype=np.int64)

    @staticmethod
    def preprocess_logits_for_metrics(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # (B, T, V) logits -> (B, T-1) nats: keeps only what the metric needs instead of B*T*V floats.
        return torch.nn.functional.cross_entropy(
            logits[:, :-1].float().transpose(1, 2), labels[:, 1:], reduction="none"
        )

    def __call__(self, eval_pred) -> dict[str, float]:
        nats, labels = np.asarray(eval_pred.predictions, dtype=np.float64), np.asarray(eval_pred.label_ids)
        n_chars = self.chars[labels[:, 1:]].sum()
        return {"bpc": float(nats.sum() / LN2 / max(n_chars, 1)), "perplexity": float(np.exp(nats.mean())),
                "chars": int(n_chars)}


class MachadoTrainer(Trainer):
    """Trainer with the project's optimizer (AdamW or Muon + AdamW, optim.py) and schedule, logging training
    throughput in tokens per second."""

    def __init__(self, *args, block_size: int, opt_args: OptimizerArguments, **kwargs):
        super().__init__(*args, **kwargs)
        self.block_size = block_size
        self.opt_args = opt_args
        self._last_log = (time.perf_counter(), 0)
        self.log_times: list[tuple[int, float]] = []

    def create_optimizer(self, model=None):
        if self.optimizer is None:
            self.optimizer = build_optimizer(self.model if model is None else model, self.opt_args, self.args)
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            self.lr_scheduler = build_scheduler(optimizer or self.optimizer, self.args, self.opt_args, num_training_steps)
            self._created_lr_scheduler = True
        return self.lr_scheduler

    def tokens_per_step(self) -> int:
        """Tokens in one optimizer step over all processes (read from args: a search trial may change the batch)."""
        a = self.args
        return self.block_size * a.per_device_train_batch_size * a.gradient_accumulation_steps * a.world_size

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        now, step = time.perf_counter(), self.state.global_step
        self.log_times.append((step, now))  # the training curve's minutes axis
        if "loss" in logs:
            then, last_step = self._last_log
            if step > last_step:
                logs["tokens_per_second"] = round((step - last_step) * self.tokens_per_step() / (now - then), 1)
            self._last_log = (now, step)
            if self.optimizer is not None and "learning_rate" in logs:
                # Trainer logs the first group's rate only (Muon's, under Muon): log each group by its name instead.
                rates = {g.get("name", str(i)): g["lr"] for i, g in enumerate(self.optimizer.param_groups)}
                if len(set(rates.values())) > 1:
                    del logs["learning_rate"]
                    logs.update({f"learning_rate/{name}": float(f"{lr:.4g}") for name, lr in rates.items()})
        super().log(logs, start_time)


class SampleCallback(TrainerCallback):
    """After every evaluation, sample from fixed prompts with a fixed seed; print the samples and keep them in the
    trainer state's log history (and in W&B when it is on)."""

    def __init__(self, run: RunArguments):
        self.run = run
        self.enabled = True
        self.last: tuple[int, dict] | None = None  # (step, samples) of the latest evaluation

    def on_evaluate(self, args, state, control, model=None, processing_class=None, **kwargs):
        if not (self.enabled and state.is_world_process_zero) or model is None:
            return
        samples = generate_samples(model, processing_class, self.run.sample_prompts, self.run.sample_max_new_tokens,
                                   self.run.sample_seed)
        self.last = (state.global_step, samples)
        state.log_history.append({"step": state.global_step, "samples": samples})
        for prompt, text in samples.items():
            print(f"[sample @ step {state.global_step}] {text!r}")
        if "wandb" in args.report_to:
            import wandb

            if wandb.run is not None:
                rows = [[state.global_step, p, t] for p, t in samples.items()]
                table = wandb.Table(columns=["step", "prompt", "sample"], data=rows)
                wandb.log({"samples": table}, commit=False)


@torch.no_grad()
def generate_samples(model, tokenizer, prompts: list[str], max_new_tokens: int, seed: int) -> dict[str, str]:
    """Sample continuations that fit in the model's context (GPT-2's learned positions end at n_positions)."""
    was_training = model.training
    model.eval()
    out = {}
    window = context_length(model.config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for prompt in prompts:
            ids = tokenizer(prompt, return_tensors="pt")["input_ids"][:, -(window - 1):].to(model.device)
            new = min(max_new_tokens, window - ids.shape[1])
            gen = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, **DEFAULT_SAMPLING,
                                 max_length=ids.shape[1] + new, pad_token_id=tokenizer.pad_token_id,
                                 min_new_tokens=min(16, new))  # no <|endoftext|> right after the prompt; a
            # minimum above the maximum only warns (transformers' "Unfeasible length constraints"), once per prompt
            out[prompt] = tokenizer.decode(gen[0], skip_special_tokens=True)
    model.train(was_training)
    return out


def check_output_dir(output_dir: Path, run_config: dict) -> None:
    """An output folder may hold nothing, or this very run (to resume it); anything else is an error."""
    if not output_dir.exists() or not any(output_dir.iterdir()):
        return
    saved = output_dir / RUN_CONFIG
    if not saved.is_file():
        raise MachadoError.of("output_dir_foreign", path=str(output_dir))
    old = yaml.safe_load(saved.read_text(encoding="utf-8")) or {}
    diff = sorted(name for section in ("model", "tokenizer", "optimizer") for name, value in run_config[section].items()
                  if (old.get(section) or {}).get(name, LATER_FIELDS.get(f"{section}.{name}")) != value)
    if diff:
        raise MachadoError.of("output_dir_unrelated", path=str(output_dir), diff=", ".join(diff))


# What makes two runs the same run: the recipe's hyperparameters, as given, and the output folder (its lineage).
# Paths of inputs, logging and the like are not part of it; max_steps is as given (-1 under a time budget).
IDENTITY_TRAINING = ("output_dir", "max_steps", "num_train_epochs", "learning_rate", "per_device_train_batch_size",
                     "gradient_accumulation_steps", "lr_scheduler_type", "warmup_steps", "warmup_ratio", "weight_decay",
                     "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm", "seed")
IDENTITY_DROP = {"data": ("corpus_dir", "dataset_dir", "force_rebuild"), "tokenizer": ("tokenizer_dir",)}
FINISHED = "run_finished.json"


def run_identity(config: dict) -> dict:
    """The flat {section.field: value} that tells whether a folder holds this run (see IDENTITY_TRAINING)."""
    identity = {f"{section}.{k}": v for section in ("model", "tokenizer", "optimizer", "data")
                for k, v in config[section].items() if k not in IDENTITY_DROP.get(section, ())}
    identity["run.time_budget"] = config["run"]["time_budget"]
    identity["run.weight_average"] = config["run"]["weight_average"]
    identity.update({f"training.{k}": config["training"].get(k) for k in IDENTITY_TRAINING})
    identity["training.output_dir"] = str(Path(identity["training.output_dir"]).resolve())
    return identity


# Fields added after folders were written: an older folder's run had these values (it knew no other).
LATER_FIELDS = {"data.train_fraction": 1.0, "data.shift_blocks": False, "tokenizer.bpe_dropout": 0.0,
                "run.weight_average": "none"}


def identity_diff(old: dict, new: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    old = {**{k: v for k, v in LATER_FIELDS.items() if k not in old}, **old}
    return sorted(k.split(".", 1)[1] for k in set(old) | set(new) if k not in ignore and old.get(k) != new.get(k))


def check_model_dir(model_dir: Path, identity: dict, overwrite: bool, ignore: tuple[str, ...] = ()) -> None:
    """A model folder may be written if it is empty or missing, holds this same run (a rerun replaces its own
    folder), or --overwrite_model_dir is given. Anything else stops before training, so no trained model is lost."""
    if not model_dir.exists() or not any(model_dir.iterdir()):
        return
    if not model_dir.is_dir() or not (model_dir / "config.json").is_file():
        raise MachadoError.of("model_dir_not_model", path=str(model_dir))
    if overwrite:
        return
    saved = model_dir / RUN_CONFIG
    old = (yaml.safe_load(saved.read_text(encoding="utf-8")) or {}).get("identity") if saved.is_file() else None
    if old is None:
        raise MachadoError.of("model_dir_foreign", path=str(model_dir))
    if diff := identity_diff(old, identity, ignore):
        raise MachadoError.of("model_dir_other_run", path=str(model_dir),
                              diff=", ".join(diff[:6]) + (", ..." if len(diff) > 6 else ""))


def write_run_config(folder: Path, config: dict) -> None:
    (folder / RUN_CONFIG).write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")


def resolved_config(data, tok, model, opt, run, training: TrainingArguments) -> dict:
    return {
        "data": dataclasses.asdict(data),
        "tokenizer": dataclasses.asdict(tok),
        "model": dataclasses.asdict(model),
        "optimizer": dataclasses.asdict(opt),
        "run": dataclasses.asdict(run),
        "training": {k: v for k, v in training.to_dict().items() if not k.startswith("_") and "token" not in k},
    }


def with_identity(config: dict) -> dict:
    return {**config, "identity": run_identity(config)}


def dataset_and_tokenizer(data: DataArguments, tok: TokenizerArguments, model_args: ModelArguments,
                          args: TrainingArguments, log=print):
    """The dataset and the recipe's tokenizer, each built first when missing (one command per recipe): the same code
    and output as build_dataset.py and train_tokenizer.py. Under DDP one process builds, the others wait and read."""
    with args.main_process_first(desc="building the dataset and the tokenizer"):
        dsd = build_dataset(data, log=log)
        if not (Path(tok.tokenizer_dir) / "tokenizer.json").is_file():
            log(f"no tokenizer at {tok.tokenizer_dir}: training it first, as train_tokenizer.py does")
            train_tokenizer(dsd, tok, model_max_length=model_args.n_positions, log=log)
        return dsd, load_tokenizer(tok.tokenizer_dir)


class RotaryTable(torch.nn.Module):
    """A RoPE model's rotary embedding with its cos and sin looked up in a table of the training block's positions
    while it trains, and computed as the model computes them otherwise (evaluation, generation, other lengths).

    Why: compiled, the backward recomputes cos and sin inside the QK-norm weight-gradient kernel for every batch row
    and head (inductor rematerialises them: they are cheap pointwise ops of `arange`), 128x over on cpu.yaml's
    shapes, on one thread; with the table they are loads. `benchmarks/train_throughput.py --ab rotary_table`, best
    of 3 on a 2-core Xeon without bf16 instructions: fp32 step 0.271 -> 0.256 s (1.06x), bf16 0.679 -> 0.618 s
    (1.10x). The table holds what the model's own formula gives; its buffers are not saved, so the model folder and
    its state dict are the same as without it."""

    def __init__(self, rotary: torch.nn.Module, positions: int):
        super().__init__()
        self.rotary = rotary
        with torch.no_grad():
            ids = torch.arange(positions, device=rotary.inv_freq.device)[None]
            cos, sin = rotary(rotary.inv_freq.float(), ids)
        self.register_buffer("cos", cos[0], persistent=False)
        self.register_buffer("sin", sin[0], persistent=False)

    def forward(self, x, position_ids):
        # A training block's positions are arange(block) (whole blocks, no cache, no padding): a block of the table's
        # length looks up exactly the table; anything else (a cached step, a longer input) is computed.
        if self.training and position_ids.shape[-1] == self.cos.shape[0]:
            return self.cos[position_ids].to(x.dtype), self.sin[position_ids].to(x.dtype)
        return self.rotary(x, position_ids)


def tabulate_rotary(model, positions: int):
    """Give a RoPE model with the default rotary embedding (Qwen3) a RotaryTable of `positions` for training; other
    models (GPT-2's learned positions) are returned as they are."""
    inner = getattr(model, "model", None)
    rotary = getattr(inner, "rotary_emb", None)
    if rotary is not None and getattr(rotary, "rope_type", None) == "default":
        inner.rotary_emb = RotaryTable(rotary, positions)
    return model


class CausalMaskTable:
    """A forward pre-hook that hands a training block's causal mask, computed once, to a Qwen3 model with eager
    attention, in place of the one transformers builds at every forward.

    Why: compiled, the mask transformers builds (its index comparisons) is computed inline inside attention's masked
    softmax, for every batch row, head and position: that kernel was the step's largest outside the matrix products
    (docs/performance.md). A precomputed mask is a load: `benchmarks/train_throughput.py --ab causal_mask --profile`
    on a 2-core AMD EPYC with AVX2 only (fp32), that kernel 36.7-37.8 -> 7.9-8.0 ms, the step's median 1.05x.
    The mask is what transformers builds for a whole block (0 where a position may attend, the dtype's minimum
    elsewhere; the sliding window equals the block, so both layer types get the same one); it is used only while
    training on whole blocks with no mask and no cache of their own, and it is a non-persistent buffer, so the saved
    folder and the state dict are the same as without it."""

    def __init__(self, positions: int):
        self.positions = positions

    def __call__(self, module, args, kwargs):
        ids = kwargs.get("input_ids")
        if (module.training and ids is not None and ids.shape[-1] == self.positions
                and kwargs.get("attention_mask") is None and kwargs.get("past_key_values") is None):
            kwargs["attention_mask"] = {kind: module.causal_mask_table for kind in set(module.config.layer_types)}
        return args, kwargs


def tabulate_causal_mask(model, positions: int):
    """Give a Qwen3 model with eager attention (the recipes') a CausalMaskTable of `positions` for training; other
    models (GPT-2, or an SDPA kernel, whose causal path takes no mask) are returned as they are."""
    inner = getattr(model, "model", None)
    if model.config._attn_implementation != "eager" or not hasattr(model.config, "layer_types") or inner is None:
        return model
    allowed = torch.ones(positions, positions, dtype=torch.bool, device=model.device).tril()
    minimum = torch.finfo(model.dtype).min
    mask = torch.zeros(positions, positions, dtype=model.dtype, device=model.device).masked_fill(~allowed, minimum)
    inner.register_buffer("causal_mask_table", mask[None, None], persistent=False)
    inner.register_forward_pre_hook(CausalMaskTable(positions), with_kwargs=True)
    return model


class _DirectCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of (rows, vocabulary) logits against labels, whose backward writes softmax minus one-hot
    directly, row by row. Why: compiled on a CPU, the backward of the library's log-softmax and NLL loss sums the
    one-hot gradient over the whole vocabulary for every row (an int64 compare per logit, the labels loaded again for
    each), the step's largest kernel outside the matrix products on a CPU without AVX-512 (docs/performance.md).
    `benchmarks/train_throughput.py --ab loss` on a 2-core AMD EPYC with AVX2 only (fp32): that kernel 30.8-37.2 ->
    16.4-26.6 ms, the step 1.05x (best of 4)."""

    @staticmethod
    def forward(ctx, logits, labels, divisor, ignore_index: int):
        keep = labels != ignore_index
        safe = labels.where(keep, 0)
        lse = logits.logsumexp(-1)
        ctx.save_for_backward(logits, lse, safe, keep, divisor)
        return ((lse - logits.gather(-1, safe[:, None]).squeeze(-1)) * keep).sum() / divisor

    @staticmethod
    def backward(ctx, grad):
        logits, lse, safe, keep, divisor = ctx.saved_tensors
        scale = (grad / divisor * keep)[:, None]
        # One pointwise pass, which inductor fuses with the zero gradient Trainer's returned logits add to it (a
        # scatter of the one-hot into the softmax could not fuse, and cost a pass of its own over the logits).
        onehot = torch.arange(logits.shape[-1], device=logits.device) == safe[:, None]
        softmax = (logits - lse[:, None]).exp()
        return torch.where(onehot, softmax - 1, softmax) * scale, None, None, None


def direct_causal_lm_loss(logits, labels, vocab_size: int, num_items_in_batch=None, ignore_index: int = -100,
                          shift_labels=None, **kwargs):
    """transformers' ForCausalLMLoss (the same arguments, shift, upcast and reduction: a sum over num_items_in_batch
    when Trainer counts them, else the mean over the labelled tokens), through _DirectCrossEntropy."""
    logits = logits.float()
    if shift_labels is None:
        shift_labels = torch.nn.functional.pad(labels, (0, 1), value=ignore_index)[..., 1:]
    shift_labels = shift_labels.reshape(-1).to(logits.device)
    divisor = (shift_labels != ignore_index).sum() if num_items_in_batch is None else num_items_in_batch
    divisor = torch.as_tensor(divisor, device=logits.device).float()
    return _DirectCrossEntropy.apply(logits.reshape(-1, vocab_size), shift_labels, divisor, ignore_index)


def use_direct_loss(model):
    """The model's loss through direct_causal_lm_loss (transformers' own setter: not saved, not in the config)."""
    model.loss_function = direct_causal_lm_loss
    return model


def for_training(model, positions: int, device: torch.device):
    """The model set up for training on blocks of `positions` tokens: the rotary table and the causal mask table,
    and on a CPU the loss with a direct backward (measured there; a GPU's compiled loss is another kernel, left as the
    library writes it). Called through the module's names, so that a benchmark can leave any of them out."""
    model = tabulate_causal_mask(tabulate_rotary(model, positions), positions)
    return use_direct_loss(model) if device.type == "cpu" else model


def prepare(data: DataArguments, tok: TokenizerArguments, model_args: ModelArguments, opt: OptimizerArguments,
            run: RunArguments, args: TrainingArguments, log=print, model_init=None, start_time: float | None = None):
    """Dataset -> tokenizer -> blocks -> Trainer, shared by training and hyperparameter search.
    Returns (trainer, resolved run config, test blocks, precision)."""
    start_time = time.perf_counter() if start_time is None else start_time
    budget = run.time_budget_seconds
    if getattr(run, "length_note", None):
        log(run.length_note)
    if budget and args.max_steps > 0:  # both set in code, not through parse_recipe: the exact one wins
        log(f"max_steps {args.max_steps} given with time_budget {run.time_budget}: the run is {args.max_steps} steps")
        budget = None
    elif budget:
        # A bound the plan never reaches (1,000 steps a second), so that Trainer's epoch loop outlasts the plan;
        # StepClock sets state.max_steps and the schedule after measuring this machine.
        args.max_steps = int(budget * 1000)
    dsd, tokenizer = dataset_and_tokenizer(data, tok, model_args, args, log)
    with args.main_process_first(desc="tokenizing"):  # one process writes the cache, the others read it
        tokenized = tokenize_dataset(dsd, tokenizer)
    output_dir = Path(args.output_dir)
    precision = resolve_precision(run, args)
    if args.torch_compile and not torch.cuda.is_available() and not has_cpp_compiler():
        # Compiling is only speed: the main job must run on a machine without g++ too. Trainer builds accelerate's
        # dynamo plugin from the backend that TrainingArguments set when torch_compile was true: clear it as well.
        args.torch_compile, args.torch_compile_backend, args.torch_compile_mode = False, None, None
        log("torch_compile: no C++ compiler found (torch.compile builds C++ kernels on a CPU), so this run trains "
            "without it; install g++ for the faster step")
    if not torch.cuda.is_available():
        args.dataloader_pin_memory = False  # pinning needs an accelerator; it only warns on a CPU
        keep_freed_memory()  # a CPU step re-faulted its activations' pages every step: 1.15x (hardware.py)
    config = resolved_config(data, tok, model_args, opt, run, args)
    if budget:
        config["training"]["max_steps"] = -1  # as given: the budget's placeholder bound is not part of the recipe
    config = with_identity(config)
    check_output_dir(output_dir, config)  # before any training starts
    if "wandb" in args.report_to or run.hp_search == "wandb":
        os.environ.setdefault("WANDB_DIR", str(output_dir))
        os.environ.setdefault("WANDB_PROJECT", "machado-gpt")
        output_dir.mkdir(parents=True, exist_ok=True)

    set_seed(args.seed)
    block = model_args.block_size
    train_set = train_blocks(dsd, tokenized, tokenizer, data, tok, block, args.seed)
    eval_set = pack(tokenized["validation"]["input_ids"], block, run.max_eval_blocks)
    test_set = pack(tokenized["test"]["input_ids"], block, run.max_eval_blocks)
    smallest = min(len(eval_set), len(test_set)) // max(1, args.world_size)
    if args.dataloader_drop_last and smallest < args.per_device_eval_batch_size:  # Trainer would drop every batch
        raise MachadoError.of("eval_blocks", blocks=str(smallest), batch=str(args.per_device_eval_batch_size))
    if model_init:  # hyperparameter search: Trainer calls it with the trial
        model_init = (lambda init: lambda trial: for_training(init(trial), block, args.device))(model_init)
    model = None if model_init else for_training(build_model(model_args, tokenizer), block, args.device)
    if model is not None:
        log(f"model: {model.num_parameters():,} parameters; {len(train_set):,} train blocks of {block} tokens, "
            f"{len(eval_set):,} eval blocks; precision {precision}"
            + (f"; Muon's Newton-Schulz in {muon_dtype_name(args.device, opt)}" if opt.optimizer == "muon" else ""))

    bpc = BitsPerChar(chars_per_token_id(tokenizer))
    trainer = MachadoTrainer(
        model=model, model_init=model_init, args=args, train_dataset=train_set, eval_dataset=eval_set,
        # Blocks are all one length: stacking them is the whole collation. With a tokenizer, Trainer's default pads
        # every batch in Python and adds an all-ones attention_mask that the model then turns into a mask. Measured
        # by `benchmarks/train_throughput.py --recipe_step` on a 2-core CPU: 0.381 -> 0.341 s a step with Muon.
        data_collator=default_data_collator,
        processing_class=tokenizer, compute_metrics=bpc, preprocess_logits_for_metrics=bpc.preprocess_logits_for_metrics,
        callbacks=[SampleCallback(run), StepClock(budget, start_time, opt, len(eval_set), log=log)], block_size=block,
        opt_args=opt,
    )
    if isinstance(train_set, (ResegmentedBlocks, ShiftedBlocks)):
        trainer.add_callback(NewBlocksEachEpoch(train_set))
    if run.weight_average != "none":
        trainer.add_callback(WeightAveraging(run.weight_average, run.ema_decay, run.swa_start))
    if any(type(c) is ProgressCallback for c in trainer.callback_handler.callbacks):  # not with disable_tqdm
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(PlannedProgress(next(c for c in trainer.callback_handler.callbacks
                                                  if isinstance(c, StepClock))))
    if trainer.is_world_process_zero() and not (output_dir / FINISHED).is_file():  # a finished run is left as it is
        output_dir.mkdir(parents=True, exist_ok=True)
        write_run_config(output_dir, config)
    return trainer, config, test_set, precision


def train_blocks(dsd, tokenized, tokenizer, data: DataArguments, tok: TokenizerArguments, block: int, seed: int):
    """The train split's blocks: the cached tokenization, or, with train_fraction < 1, every work's first share of its
    text; with bpe_dropout, blocks that are segmented afresh at every epoch, or with shift_blocks, cut afresh."""
    texts = dsd["train"]["text"]
    if data.train_fraction < 1:
        texts = [t[: max(1, round(len(t) * data.train_fraction))] for t in texts]
    eos = tokenizer.eos_token_id
    ids = encode_works(tokenizer.backend_tokenizer, eos, texts) if data.train_fraction < 1 else tokenized["train"]["input_ids"]
    if tok.bpe_dropout:
        dropped = with_dropout(tokenizer, tok.bpe_dropout)
        return ResegmentedBlocks(lambda: encode_works(dropped, eos, texts), block, n_blocks=len(pack(ids, block)))
    return ShiftedBlocks(ids, block, seed) if data.shift_blocks else pack(ids, block)


class NewBlocksEachEpoch(TrainerCallback):
    """BPE-dropout's new segmentation, or shift_blocks' new cuts, at the start of every epoch after the first
    (Trainer reshuffles the blocks at every epoch on its own: its sampler is seeded with the epoch)."""

    def __init__(self, blocks: ResegmentedBlocks | ShiftedBlocks):
        self.blocks = blocks

    def on_epoch_begin(self, args, state, control, **kwargs):
        # state.epoch is the epochs done: a whole number at an epoch's start, the checkpoint's when a run resumes
        # (Trainer then skips into the epoch it stopped in, which must be cut as it was).
        if epoch := math.floor(state.epoch or 0):
            self.blocks.new_epoch(epoch)


def finished_run(output_dir: Path, given_max_steps: int) -> dict | None:
    """What a finished run in `output_dir` left ({'global_step', 'model_dir'}), unless the command asks to train it
    further (max_steps above the steps it ran); None when there is no finished run."""
    path = output_dir / FINISHED
    if not path.is_file():
        return None
    done = json.loads(path.read_text(encoding="utf-8"))
    if given_max_steps > done["global_step"]:
        return None
    return done


CHECKPOINT_FILES = ("model.safetensors", "trainer_state.json", "optimizer.pt", "scheduler.pt")


def checkpoint_problem(folder: Path) -> str | None:
    """Why a checkpoint cannot be resumed from (None if it can): a file missing, or weights, trainer state or optimizer
    state that do not load. A kill during a save leaves exactly such folders."""
    from safetensors.torch import load_file

    missing = [f for f in CHECKPOINT_FILES if not (folder / f).is_file()]
    if missing:
        return f"missing {', '.join(missing)}"
    try:
        json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
        load_file(folder / "model.safetensors")
        torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True)
        torch.load(folder / "scheduler.pt", map_location="cpu", weights_only=True)
    except Exception as e:  # any reader's error means the same thing here: this checkpoint is damaged
        return f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else 'unreadable'}"
    return None


def newest_complete_checkpoint(output_dir: Path, log=print) -> str | None:
    """The newest checkpoint that loads; damaged ones are named in a warning and skipped, never deleted."""
    if not output_dir.is_dir():
        return None
    found = sorted((p for p in output_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*") if p.is_dir()
                    and p.name.split("-")[-1].isdigit()), key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    for folder in found:
        problem = checkpoint_problem(folder)
        if problem is None:
            return str(folder)
        log(f"warning: skipping damaged checkpoint {folder} ({problem}); it is left in place")
    if found:
        raise MachadoError.of("no_checkpoint", path=str(output_dir), damaged=str(len(found)))
    return None


def train(data: DataArguments, tok: TokenizerArguments, model_args: ModelArguments, opt: OptimizerArguments,
          run: RunArguments, args: TrainingArguments, log=print) -> dict:
    """The main job: prepare, train (resuming if a checkpoint is there), evaluate, save the model folder.
    Returns the final metrics."""
    start = time.perf_counter()
    given_max_steps = args.max_steps  # before a time budget puts its placeholder there
    trainer, config, test_set, precision = prepare(data, tok, model_args, opt, run, args, log, start_time=start)
    output_dir = Path(args.output_dir)
    if done := finished_run(output_dir, given_max_steps):
        log(message("already_finished", cli_language(), path=str(output_dir), steps=done["global_step"],
                    model_dir=done["model_dir"]))
        metrics_path = Path(done["model_dir"]) / "metrics.json"
        return json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else done
    if args.resume_from_checkpoint and (problem := checkpoint_problem(Path(args.resume_from_checkpoint))):
        raise MachadoError.of("bad_checkpoint", path=str(args.resume_from_checkpoint), problem=str(problem))
    resume = args.resume_from_checkpoint or newest_complete_checkpoint(output_dir, log)
    # Resuming, or training a finished run further, continues the same run (the saved plan, or a longer one): its
    # length may differ from the command's, nothing else.
    same_run = resume or (output_dir / FINISHED).is_file()
    check_model_dir(Path(run.model_dir), config["identity"], run.overwrite_model_dir,
                    ignore=("training.max_steps", "run.time_budget") if same_run else ())
    clock = next(c for c in trainer.callback_handler.callbacks if isinstance(c, StepClock))
    if resume:
        log(f"resuming from {resume}")
        clock.resume(resume, args)
        for callback in trainer.callback_handler.callbacks:
            if isinstance(callback, WeightAveraging):
                callback.resume(resume)
    saved_state = json.loads((Path(resume) / "trainer_state.json").read_text(encoding="utf-8")) if resume else {}
    block = model_args.block_size
    if 0 < args.max_steps <= saved_state.get("global_step", 0):
        # A kill between the run's last checkpoint and its end leaves this; Trainer would train one step past it.
        log(f"{resume} holds the run's last step ({args.max_steps:,}): evaluating and saving it, no step more")
        trainer._load_from_checkpoint(resume)
        trainer.state = TrainerState.load_from_json(str(Path(resume) / "trainer_state.json"))
        metrics = {"train_loss": next((h["loss"] for h in reversed(trainer.state.log_history) if "loss" in h), None)}
    else:
        try:
            result = trainer.train(resume_from_checkpoint=resume)
        except torch.OutOfMemoryError:
            a = args
            raise MachadoError.of("oom", batch=str(a.per_device_train_batch_size),
                                  accumulation=str(a.gradient_accumulation_steps)) from None
        metrics = {k: v for k, v in result.metrics.items()}
        # From the steps this call ran: Trainer's own per-second figures assume max_steps was known in advance (a
        # budget plans it mid-run), and would count the placeholder's steps.
        steps_run = trainer.state.global_step - getattr(trainer, "_initial_global_step", 0)
        runtime = max(metrics["train_runtime"], 1e-9)
        metrics["train_steps_per_second"] = round(steps_run / runtime, 3)
        metrics["train_samples_per_second"] = round(steps_run * trainer.tokens_per_step() / block / runtime, 3)
        metrics["train_tokens_per_second"] = round(steps_run * trainer.tokens_per_step() / runtime, 1)
    trained = time.perf_counter()
    sampler = next(c for c in trainer.callback_handler.callbacks if isinstance(c, SampleCallback))
    sampler.enabled = False  # the final evaluations print no samples: the final ones are printed once, below
    metrics.update(trainer.evaluate(metric_key_prefix="eval"))
    metrics.update(trainer.evaluate(test_set, metric_key_prefix="test"))
    evaluated = time.perf_counter()
    metrics["test_blocks"] = len(test_set)
    metrics["parameters"] = trainer.model.num_parameters()
    metrics["precision"] = trainer.accelerator.mixed_precision  # what the steps ran in, not what was asked
    if opt.optimizer == "muon":  # the recipe says `auto`; this is what this machine's iteration ran in
        metrics["muon_dtype"] = muon_dtype_name(args.device, opt)
    metrics["world_size"] = args.world_size
    metrics["distributed_type"] = str(trainer.accelerator.distributed_type.value)  # what accelerate really ran
    metrics["global_batch_sequences"] = trainer.tokens_per_step() // block
    metrics["max_steps"] = trainer.state.global_step
    if clock.plans:  # what the time budget chose, beside the steps run (see budget.py on rerunning with max_steps)
        metrics["time_budget_plans"] = clock.plans
    config["training"]["max_steps"] = trainer.state.global_step
    if trainer.is_world_process_zero():
        tokenizer = trainer.processing_class
        printed = (sampler.last is not None and sampler.last[0] == trainer.state.global_step
                   and not args.load_best_model_at_end)  # else the saved weights are another step's
        samples = sampler.last[1] if printed else generate_samples(  # an evaluation at the last step wrote them
            trainer.model, tokenizer, run.sample_prompts, run.sample_max_new_tokens, run.sample_seed)
        metrics["samples"] = list(samples.values())
        metrics["wall_seconds"] = round(time.perf_counter() - start, 1)
        metrics["time_seconds"] = time_accounting(clock, start, trained, evaluated, time.perf_counter())
        write_run_config(output_dir, config)
        saving = time.perf_counter()
        save_model_folder(trainer, Path(run.model_dir), config, metrics, curve=training_curve_data(trainer, clock))
        log("time: " + ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in metrics["time_seconds"].items())
            + f", saving the model folder {time.perf_counter() - saving:.1f} s")
        write_json(output_dir / FINISHED, {"global_step": trainer.state.global_step, "model_dir": run.model_dir})
        estimate = (f"an estimate on {len(test_set):,} evenly spaced blocks; every character: `python evaluate_model.py "
                    f"--model_dir {run.model_dir}`" if run.max_eval_blocks else f"all {len(test_set):,} blocks")
        log(f"validation bits/char {metrics['eval_bpc']:.3f}, test bits/char {metrics['test_bpc']:.3f} ({estimate}); "
            f"{metrics.get('train_tokens_per_second', 0):,.0f} tokens/s; {metrics['max_steps']:,} steps in "
            f"{metrics['wall_seconds']:.0f} s; model saved to {run.model_dir}")
        for text in [] if printed else metrics["samples"]:  # printed once: by that evaluation, or here
            log(f"sample: {text!r}")
    if args.world_size > 1:
        # Every process waits for the main one to write the folder, then leaves the process group together: a
        # process that exits while gloo's threads still run aborts ("terminate called without an active exception").
        trainer.accelerator.wait_for_everyone()
        torch.distributed.destroy_process_group()
        # Then give gloo's worker threads the GIL for a moment: a finished collective's work object is freed on its
        # worker thread, which needs the GIL to drop the Python tensors it holds, while freeing the DDP model on
        # return joins those threads with the GIL held. Caught once in CI: rank 1 hung in ~ProcessGroupGloo's join
        # with a worker waiting for the GIL in ~AsyncAllgatherWork (py-spy), and the multi-node test timed out.
        time.sleep(0.2)
    return metrics


def time_accounting(clock: StepClock, start: float, trained: float, evaluated: float, sampled: float) -> dict:
    """Where the run's wall-clock went (seconds), so that every cost beside the training steps is measured:
    setup (data, tokenizer, model), the steps, evaluations and checkpoints during training (beyond the steps they
    interrupted), the final validation and test evaluations, the final samples. Saving the folder is logged after."""
    begin = clock.train_begin or start
    during = clock.event_extra_seconds()
    return {"setup": round(begin - start, 2), "training_steps": round(trained - begin - during, 2),
            "evaluations_and_checkpoints_during_training": round(during, 2),
            "final_evaluations": round(evaluated - trained, 2), "final_samples": round(sampled - evaluated, 2)}


def training_curve_data(trainer: Trainer, clock: StepClock) -> dict:
    """What the training curve draws, from the trainer's log history, the logged wall-clock and the budget's plans."""
    history = trainer.state.log_history
    return {"name": Path(trainer.args.output_dir).name, "steps": trainer.state.global_step,
            "train": [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h],
            "eval": [(h["step"], h["eval_bpc"]) for h in history if "eval_bpc" in h and "step" in h],
            "clock": [(step, (t - clock.start) / 60) for step, t in trainer.log_times], "plans": clock.plans}


def save_model_folder(trainer: Trainer, model_dir: Path, config: dict, metrics: dict, curve: dict | None = None) -> None:
    """Everything needed to use the model: weights, config, generation config, tokenizer, run config, metrics, card."""
    from .card import model_card

    model = trainer.model
    model.config.use_cache = True  # Trainer turns it off for training; generation needs it
    # No max_length: pipeline(..., max_new_tokens=N) would warn that both are set. A sliding-window model generates
    # past its window (a plain call writes 256 tokens); GPT-2 cannot (learned positions), so a plain call writes half
    # its window, and generate.py's re-prefill is the way past it.
    window = context_length(model.config)
    model.generation_config = GenerationConfig(
        do_sample=True, **DEFAULT_SAMPLING, repetition_penalty=1.0, use_cache=True,
        max_new_tokens=256 if has_sliding_window(model.config) else window // 2,
        bos_token_id=model.config.bos_token_id, eos_token_id=model.config.eos_token_id,
        pad_token_id=model.config.pad_token_id,
    )
    trainer.processing_class.model_max_length = tokenizer_max_length(model.config)
    # Written beside the target and swapped in by renames, so that a kill at any moment leaves the old folder or the
    # new one, never half of one.
    tmp = model_dir.parent / f".{model_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    trainer.save_model(str(tmp))  # saves the tokenizer too
    (tmp / "training_args.bin").unlink(missing_ok=True)  # a pickle: never part of a shareable folder
    write_run_config(tmp, config)
    write_json(tmp / "metrics.json", metrics)
    if curve:
        draw_training_curve(curve, tmp / CURVE)
    (tmp / "README.md").write_text(model_card(tmp, config, metrics), encoding="utf-8")
    old = model_dir.parent / f".{model_dir.name}.old-{os.getpid()}"
    if model_dir.exists():
        model_dir.rename(old)
    tmp.rename(model_dir)
    shutil.rmtree(old, ignore_errors=True)

