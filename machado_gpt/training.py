"""Training with `transformers.Trainer` (run through `accelerate`): metrics in bits per character, samples at
every evaluation, tokens per second, resume, and a self-describing model folder that `pipeline` loads."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from transformers import GenerationConfig, Trainer, TrainerCallback, TrainingArguments, set_seed
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .budget import StepClock
from .config import ModelArguments, RunArguments, build_model, context_length, has_sliding_window
from .corpus import DataArguments, build_dataset
from .data import pack
from .generation import DEFAULT_SAMPLING
from .hardware import cpu_supports_bf16
from .optim import OptimizerArguments, build_optimizer, build_scheduler
from .tokenizer import TokenizerArguments, chars_per_token_id, load_tokenizer, tokenize_dataset, train_tokenizer
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
        if "loss" in logs:
            now, step = time.perf_counter(), self.state.global_step
            then, last_step = self._last_log
            if step > last_step:
                logs["tokens_per_second"] = round((step - last_step) * self.tokens_per_step() / (now - then), 1)
            self._last_log = (now, step)
        super().log(logs, start_time)


class SampleCallback(TrainerCallback):
    """After every evaluation, sample from fixed prompts with a fixed seed; print the samples and keep them in the
    trainer state's log history (and in W&B when it is on)."""

    def __init__(self, run: RunArguments):
        self.run = run

    def on_evaluate(self, args, state, control, model=None, processing_class=None, **kwargs):
        if not state.is_world_process_zero or model is None:
            return
        samples = generate_samples(model, processing_class, self.run.sample_prompts, self.run.sample_max_new_tokens,
                                   self.run.sample_seed)
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
            room = window - ids.shape[1]
            gen = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, **DEFAULT_SAMPLING,
                                 max_length=ids.shape[1] + min(max_new_tokens, room), pad_token_id=tokenizer.pad_token_id,
                                 min_new_tokens=min(16, room))  # no <|endoftext|> right after the prompt
            out[prompt] = tokenizer.decode(gen[0], skip_special_tokens=True)
    model.train(was_training)
    return out


def check_output_dir(output_dir: Path, run_config: dict) -> None:
    """An output folder may hold nothing, or this very run (to resume it); anything else is an error."""
    if not output_dir.exists() or not any(output_dir.iterdir()):
        return
    saved = output_dir / RUN_CONFIG
    if not saved.is_file():
        raise MachadoError(f"output_dir {output_dir} holds files of something else: pass another --output_dir or remove it")
    old = yaml.safe_load(saved.read_text(encoding="utf-8")) or {}
    diff = sorted(name for section in ("model", "tokenizer", "optimizer") for name, value in run_config[section].items()
                  if (old.get(section) or {}).get(name) != value)
    if diff:
        raise MachadoError(
            f"output_dir {output_dir} holds an unrelated run (different {', '.join(diff)}): pass another --output_dir "
            f"or remove it"
        )


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


def prepare(data: DataArguments, tok: TokenizerArguments, model_args: ModelArguments, opt: OptimizerArguments,
            run: RunArguments, args: TrainingArguments, log=print, model_init=None, start_time: float | None = None):
    """Dataset -> tokenizer -> blocks -> Trainer, shared by training and hyperparameter search.
    Returns (trainer, resolved run config, test blocks, precision)."""
    start_time = time.perf_counter() if start_time is None else start_time
    budget = run.time_budget_seconds
    if budget and args.max_steps > 0:
        log(f"max_steps {args.max_steps} given: it wins over time_budget {run.time_budget}")
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
    if not torch.cuda.is_available():
        args.dataloader_pin_memory = False  # pinning needs an accelerator; it only warns on a CPU
    config = resolved_config(data, tok, model_args, opt, run, args)
    check_output_dir(output_dir, config)  # before any training starts
    if "wandb" in args.report_to or run.hp_search == "wandb":
        os.environ.setdefault("WANDB_DIR", str(output_dir))
        os.environ.setdefault("WANDB_PROJECT", "machado-gpt")
        output_dir.mkdir(parents=True, exist_ok=True)

    set_seed(args.seed)
    block = model_args.block_size
    train_set = pack(tokenized["train"]["input_ids"], block)
    eval_set = pack(tokenized["validation"]["input_ids"], block, run.max_eval_blocks)
    test_set = pack(tokenized["test"]["input_ids"], block, run.max_eval_blocks)
    smallest = min(len(eval_set), len(test_set)) // max(1, args.world_size)
    if args.dataloader_drop_last and smallest < args.per_device_eval_batch_size:  # Trainer would drop every batch
        raise MachadoError(f"{smallest} evaluation blocks per process is less than per_device_eval_batch_size "
                           f"{args.per_device_eval_batch_size} with dataloader_drop_last: raise max_eval_blocks or lower "
                           f"per_device_eval_batch_size")
    model = None if model_init else build_model(model_args, tokenizer)
    if model is not None:
        log(f"model: {model.num_parameters():,} parameters; {len(train_set):,} train blocks of {block} tokens, "
            f"{len(eval_set):,} eval blocks; precision {precision}")

    bpc = BitsPerChar(chars_per_token_id(tokenizer))
    trainer = MachadoTrainer(
        model=model, model_init=model_init, args=args, train_dataset=train_set, eval_dataset=eval_set,
        processing_class=tokenizer, compute_metrics=bpc, preprocess_logits_for_metrics=bpc.preprocess_logits_for_metrics,
        callbacks=[SampleCallback(run), StepClock(budget, start_time, opt, len(eval_set), log=log)], block_size=block,
        opt_args=opt,
    )
    if trainer.is_world_process_zero():
        output_dir.mkdir(parents=True, exist_ok=True)
        write_run_config(output_dir, config)
    return trainer, config, test_set, precision


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
        raise MachadoError(f"no usable checkpoint in {output_dir} ({len(found)} damaged, named above): pass another "
                           f"--output_dir to start afresh, or --resume_from_checkpoint PATH")
    return None


def train(data: DataArguments, tok: TokenizerArguments, model_args: ModelArguments, opt: OptimizerArguments,
          run: RunArguments, args: TrainingArguments, log=print) -> dict:
    """The main job: prepare, train (resuming if a checkpoint is there), evaluate, save the model folder.
    Returns the final metrics."""
    start = time.perf_counter()
    trainer, config, test_set, precision = prepare(data, tok, model_args, opt, run, args, log, start_time=start)
    output_dir = Path(args.output_dir)
    if args.resume_from_checkpoint and (problem := checkpoint_problem(Path(args.resume_from_checkpoint))):
        raise MachadoError(f"--resume_from_checkpoint {args.resume_from_checkpoint} cannot be resumed ({problem}): "
                           f"give another checkpoint, or leave the flag out to take the newest complete one")
    resume = args.resume_from_checkpoint or newest_complete_checkpoint(output_dir, log)
    clock = next(c for c in trainer.callback_handler.callbacks if isinstance(c, StepClock))
    if resume:
        log(f"resuming from {resume}")
        clock.resume(resume, args)
    try:
        result = trainer.train(resume_from_checkpoint=resume)
    except torch.OutOfMemoryError:
        a = args
        raise MachadoError(
            f"out of memory at per_device_train_batch_size {a.per_device_train_batch_size}: halve it and double "
            f"gradient_accumulation_steps (now {a.gradient_accumulation_steps}) to keep the same batch") from None
    block = model_args.block_size
    metrics = {k: v for k, v in result.metrics.items()}
    # From the steps this call ran: Trainer's own samples/s assumes max_steps was known in advance (a budget plans it).
    steps_run = trainer.state.global_step - getattr(trainer, "_initial_global_step", 0)
    metrics["train_tokens_per_second"] = round(steps_run * trainer.tokens_per_step() / max(metrics["train_runtime"], 1e-9), 1)
    metrics.update(trainer.evaluate(metric_key_prefix="eval"))
    metrics.update(trainer.evaluate(test_set, metric_key_prefix="test"))
    metrics["parameters"] = trainer.model.num_parameters()
    metrics["precision"] = precision
    metrics["world_size"] = args.world_size
    metrics["distributed_type"] = str(trainer.accelerator.distributed_type.value)  # what accelerate really ran
    metrics["global_batch_sequences"] = trainer.tokens_per_step() // block
    metrics["max_steps"] = trainer.state.global_step
    if clock.plans:  # what the time budget chose, beside the steps run (see budget.py on rerunning with max_steps)
        metrics["time_budget_plans"] = clock.plans
    config["training"]["max_steps"] = trainer.state.global_step
    if trainer.is_world_process_zero():
        tokenizer = trainer.processing_class
        samples = generate_samples(trainer.model, tokenizer, run.sample_prompts, run.sample_max_new_tokens,
                                   run.sample_seed)
        metrics["samples"] = list(samples.values())
        metrics["wall_seconds"] = round(time.perf_counter() - start, 1)
        write_run_config(output_dir, config)
        save_model_folder(trainer, Path(run.model_dir), config, metrics)
        log(f"validation bits/char {metrics['eval_bpc']:.3f}, test bits/char {metrics['test_bpc']:.3f}; "
            f"{metrics['train_tokens_per_second']:,.0f} tokens/s; {metrics['max_steps']:,} steps in "
            f"{metrics['wall_seconds']:.0f} s; model saved to {run.model_dir}")
        log(f"sample: {metrics['samples'][0]}")
    if args.world_size > 1:
        # Every process waits for the main one to write the folder, then leaves the process group together: a
        # process that exits while gloo's threads still run aborts ("terminate called without an active exception").
        trainer.accelerator.wait_for_everyone()
        torch.distributed.destroy_process_group()
    return metrics


def save_model_folder(trainer: Trainer, model_dir: Path, config: dict, metrics: dict) -> None:
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
    trainer.processing_class.model_max_length = context_length(model.config)
    trainer.save_model(str(model_dir))  # saves the tokenizer too
    (model_dir / "training_args.bin").unlink(missing_ok=True)  # a pickle: never part of a shareable folder
    write_run_config(model_dir, config)
    write_json(model_dir / "metrics.json", metrics)
    (model_dir / "README.md").write_text(model_card(model_dir, config, metrics), encoding="utf-8")

