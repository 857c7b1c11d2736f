"""The recipe: typed dataclasses read from `configs/*.yaml` plus CLI flags, and the one place a model config is made.

Two stock families, chosen by `model_type`: `gpt2` (the design card's GPT2Config, learned positions) and `qwen3`
(RoPE, RMSNorm, gated MLP, QK-norm, untied head, sliding-window attention equal to the training context, so it
generates past the window natively). Everything else talks to `AutoModelForCausalLM` and `context_length(config)`.
Training reuses `transformers.TrainingArguments` for everything the Trainer knows (output_dir, learning_rate, ...).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen3Config,
    Qwen3ForCausalLM,
    TrainingArguments,
)

from .averaging import AVERAGES
from .corpus import DataArguments
from .optim import OptimizerArguments
from .tokenizer import TokenizerArguments
from .utils import MachadoError, parse_config

DEFAULT_PROMPTS = ["Capitu", "Era uma vez", "— Que é isso?", "Ao verme que primeiro roeu"]
MODEL_TYPES = ("gpt2", "qwen3")
ATTENTION_KERNELS = ("sdpa", "eager", "flex_attention", "flash_attention_2", "flash_attention_3")
UNLIMITED_POSITIONS = 1 << 20  # max_position_embeddings of the sliding-window family (see build_model)
MAX_SIZE = 1 << 20  # any architecture size above this is a typo on a machine of this project's scale


@dataclass
class ModelArguments:
    """The architecture, in GPT2Config's names whatever the family. Defaults: the thesis's 28.5M GPT-2."""

    model_type: str = field(default="gpt2", metadata={
        "help": "gpt2 (learned positions, the design card's model) or qwen3 (RoPE, QK-norm, gated MLP, sliding window)"})
    n_layer: int = field(default=9, metadata={"help": "Transformer blocks"})
    n_head: int = field(default=8, metadata={"help": "Attention heads; n_embd must be divisible by it"})
    n_embd: int = field(default=512, metadata={"help": "Width of the residual stream"})
    n_positions: int = field(default=128, metadata={"help": "Context length in tokens (learned positions)"})
    block_size: int | None = field(default=None, metadata={"help": "Training sequence length; default n_positions"})
    dropout: float = field(default=0.2, metadata={
        "help": "Residual, embedding and attention dropout (gpt2); attention dropout only (qwen3, whose config has no "
                "other)"})
    residual_dropout: float | None = field(default=None, metadata={
        "help": "Dropout on each block's attention and MLP outputs before they join the residual stream (GPT-2's "
                "resid_pdrop): default dropout for gpt2, 0 for qwen3. Qwen3Config has no such setting, so build_model "
                "adds it to qwen3 by forward hooks (one mask per sequence and feature), active in train() mode only: "
                "the saved model is plain Qwen3"})
    activation_function: str | None = field(default=None, metadata={
        "help": "MLP activation, a transformers ACT2FN name (relu2, gelu_new, silu); default gelu_new (gpt2), silu (qwen3)"})
    n_inner: int | None = field(default=None, metadata={
        "help": "MLP width; default 4 * n_embd (gpt2), or 8/3 * n_embd rounded to 32 for qwen3's gated MLP (same params)"})
    attn_implementation: str | None = field(default=None, metadata={
        "help": "Attention kernel while training: transformers' sdpa (the default) or eager (matmul + softmax, which "
                "torch.compile fuses; on a 2-core CPU at 128 tokens the compiled plain loop ran 1.45x compiled SDPA, "
                "docs/performance.md). The same computation: the saved model loads with the default"})
    tie_word_embeddings: bool | None = field(default=None, metadata={
        "help": "Share the input embedding with the output head; default true for gpt2 (as GPT-2), false for qwen3"})

    def __post_init__(self):
        if self.attn_implementation not in (None, *ATTENTION_KERNELS):
            raise MachadoError.of("unknown_choice", name="attn_implementation", value=repr(self.attn_implementation),
                                  choices=", ".join(ATTENTION_KERNELS))
        for name in ("n_layer", "n_head", "n_embd", "n_positions", "block_size", "n_inner"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= MAX_SIZE:
                raise MachadoError.of("size_bounds", flag=name, value=str(value), low=1, high=MAX_SIZE)
        if self.model_type not in MODEL_TYPES:
            raise MachadoError.of("unknown_choice", name="model_type", value=repr(self.model_type),
                                  choices=", ".join(MODEL_TYPES))
        if self.activation_function is None:
            self.activation_function = "gelu_new" if self.model_type == "gpt2" else "silu"
        from transformers.activations import ACT2FN

        if self.activation_function not in ACT2FN:
            raise MachadoError.of("unknown_activation", value=repr(self.activation_function))
        if self.n_inner is None:
            self.n_inner = 4 * self.n_embd if self.model_type == "gpt2" else max(32, round(8 * self.n_embd / 3 / 32) * 32)
        if self.tie_word_embeddings is None:
            self.tie_word_embeddings = self.model_type == "gpt2"
        if self.n_embd % self.n_head:
            raise MachadoError.of("heads_divide", n_embd=str(self.n_embd), n_head=str(self.n_head))
        if self.block_size is None:
            self.block_size = self.n_positions
        if self.block_size > self.n_positions:
            raise MachadoError.of("block_size", block_size=str(self.block_size), n_positions=str(self.n_positions))
        for name in ("dropout", "residual_dropout"):
            if getattr(self, name) is not None and not 0 <= getattr(self, name) < 1:
                raise MachadoError.of("dropout_range", name=name, value=str(getattr(self, name)))

    @property
    def residual_dropout_rate(self) -> float:
        """residual_dropout, or its default, read when the model is built: a search that changes `dropout` (by
        dataclasses.replace) moves GPT-2's residual dropout with it."""
        if self.residual_dropout is not None:
            return self.residual_dropout
        return self.dropout if self.model_type == "gpt2" else 0.0


@dataclass
class RunArguments:
    """What the run does around the Trainer: evaluation subset, samples, and the final model folder."""

    model_dir: str = field(default="machado-gpt", metadata={"help": "Final model folder; pipeline(model=...) loads it"})
    max_eval_blocks: int = field(default=0, metadata={"help": "Evaluate on this many evenly spaced validation blocks; 0: all"})
    sample_prompts: list[str] = field(
        default_factory=lambda: list(DEFAULT_PROMPTS), metadata={"help": "Prompts sampled at each eval"}
    )
    sample_max_new_tokens: int = field(default=200, metadata={"help": "Length of each eval sample"})
    sample_seed: int = field(default=1234, metadata={"help": "Seed of the eval samples, so they compare across evals"})
    hp_search: str | None = field(default=None, metadata={"help": "Hyperparameter search backend: optuna or wandb"})
    n_trials: int = field(default=8, metadata={"help": "Trials of the hyperparameter search"})
    sweep_config: str = field(default="configs/sweeps/cpu-sweep.yaml", metadata={"help": "Sweep, in W&B's format"})
    mixed_precision: str = field(
        default="auto", metadata={"help": "auto (bf16 where the GPU or CPU has it, fp16 on older GPUs), bf16, fp16 or no"}
    )
    overwrite_model_dir: bool = field(default=False, metadata={
        "help": "Replace a model_dir that holds a model of another run (by default that stops before training)"})
    time_budget: str | None = field(default=None, metadata={
        "help": "Wall-clock budget of the whole run (600, 90s, 10m, 1h): plans max_steps on this machine. Typed on the "
                "command line it beats the recipe's max_steps, and a typed --max_steps beats the recipe's budget"})
    weight_average: str = field(default="none", metadata={
        "help": "Evaluate and save averaged weights (torch.optim.swa_utils): none, ema (exponential moving average, "
                "ema_decay) or swa (equal average from swa_start of the run on)"})
    ema_decay: float = field(default=0.995, metadata={"help": "weight_average ema: weight of the old average per step"})
    swa_start: float = field(default=0.6, metadata={
        "help": "weight_average swa: share of the planned steps before averaging starts (0.6: the last 40% averaged)"})

    def __post_init__(self):
        from .budget import parse_duration

        for name, low in (("max_eval_blocks", 0), ("sample_max_new_tokens", 1), ("n_trials", 1)):
            if not low <= getattr(self, name) <= MAX_SIZE:
                raise MachadoError.of("between", flag=name, value=str(getattr(self, name)), low=low, high=MAX_SIZE)
        if not 0 <= self.sample_seed < 2**32:
            raise MachadoError.of("between", flag="sample_seed", value=str(self.sample_seed), low=0, high=2**32 - 1)

        self.time_budget_seconds = parse_duration(self.time_budget)  # checks the format before any work
        if self.weight_average not in AVERAGES:
            raise MachadoError.of("unknown_choice", name="weight_average", value=repr(self.weight_average),
                                  choices=", ".join(AVERAGES))
        if not 0 < self.ema_decay < 1:
            raise MachadoError.of("ema_decay", value=str(self.ema_decay))
        if not 0 <= self.swa_start < 1:
            raise MachadoError.of("swa_start", value=str(self.swa_start))
        if self.hp_search not in (None, "optuna", "wandb"):
            raise MachadoError.of("hp_search_backend", value=repr(self.hp_search))
        if self.mixed_precision not in ("auto", "bf16", "fp16", "no"):
            raise MachadoError.of("mixed_precision", value=repr(self.mixed_precision))


RECIPE_TYPES = (DataArguments, TokenizerArguments, ModelArguments, OptimizerArguments, RunArguments, TrainingArguments)


def parse_recipe(argv: Sequence[str] | None = None):
    """(data, tokenizer, model, optimizer, run, training) arguments from `--config recipe.yaml` and CLI flags."""
    if not torch.cuda.is_available():
        # Without a GPU, processes started by `accelerate launch --num_processes N` must run DDP on the CPU over gloo;
        # accelerate's own CPU launcher needs mpirun. Set before TrainingArguments picks its device.
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")
    argv = list(sys.argv[1:] if argv is None else argv)
    parsed = parse_config(RECIPE_TYPES, argv)
    resolve_run_length(argv, parsed[4], parsed[5])
    return parsed


def resolve_run_length(argv: Sequence[str], run: RunArguments, training: TrainingArguments) -> None:
    """One of max_steps and time_budget sets the run's length. A value typed on the command line beats the recipe's
    (defaults < recipe < command line, as for every other field); at the same level max_steps wins, being exact.
    The choice and its reason are kept in `run.length_note` for the log."""
    typed = {k for k in ("max_steps", "time_budget") if any(a == f"--{k}" or a.startswith(f"--{k}=") for a in argv)}
    if not (run.time_budget_seconds and training.max_steps > 0):
        run.length_note = None
        return
    if typed == {"time_budget"}:
        run.length_note = (f"--time_budget {run.time_budget} typed: it wins over the recipe's max_steps "
                           f"{training.max_steps}")
        training.max_steps = -1
        return
    why = ("typed, it wins over the recipe's" if typed == {"max_steps"} else "given with") + f" time_budget {run.time_budget}"
    run.length_note = f"max_steps {training.max_steps} {why}: the run is {training.max_steps} steps"
    run.time_budget, run.time_budget_seconds = None, None


class VocabularyShape:
    """Just what build_model reads from a tokenizer (its size and the special ids, the char vocabulary's), for a model
    built without one: the throughput benchmark, the FLOP-count test."""

    bos_token_id = eos_token_id = 0
    pad_token_id = 1

    def __init__(self, size: int):
        self.size = size

    def __len__(self) -> int:
        return self.size


def build_model(args: ModelArguments, tokenizer: PreTrainedTokenizerFast) -> PreTrainedModel:
    """The only place a model config is made. Vocabulary and special ids come from the tokenizer: the configs'
    defaults (GPT-2's 50257 tokens, bos = eos = 50256) are wrong for our vocabularies."""
    special = dict(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                   pad_token_id=tokenizer.pad_token_id, use_cache=True, tie_word_embeddings=args.tie_word_embeddings)
    if args.attn_implementation:
        special["attn_implementation"] = args.attn_implementation
    if args.model_type == "gpt2":
        config = GPT2Config(
            n_positions=args.n_positions, n_embd=args.n_embd, n_layer=args.n_layer, n_head=args.n_head,
            n_inner=args.n_inner, activation_function=args.activation_function,
            resid_pdrop=args.residual_dropout_rate, embd_pdrop=args.dropout, attn_pdrop=args.dropout, **special,
        )
        model = GPT2LMHeadModel(config)
        model.loss_type = "ForCausalLM"  # transformers cannot infer it from the class name 'GPT2LMHeadModel' and warns
        return model
    config = Qwen3Config(
        hidden_size=args.n_embd, num_hidden_layers=args.n_layer, num_attention_heads=args.n_head,
        num_key_value_heads=args.n_head, head_dim=args.n_embd // args.n_head, intermediate_size=args.n_inner,
        hidden_act=args.activation_function, attention_dropout=args.dropout,
        # Every layer attends to the last n_positions tokens, as in training, so generation may run past the window
        # with no position limit (RoPE). max_position_embeddings says so: at the trained context (128), transformers'
        # generate() and pipeline() warn that a 300-token continuation "exceeded the model's predefined maximum length".
        # It does not change the model: RoPE's default type never reads it.
        use_sliding_window=True, sliding_window=args.n_positions, max_window_layers=0,
        max_position_embeddings=UNLIMITED_POSITIONS, rope_theta=10_000.0, **special,
    )
    model = Qwen3ForCausalLM(config)
    if args.residual_dropout_rate:
        add_residual_dropout(model, args.residual_dropout_rate)
    return model


def add_residual_dropout(model: Qwen3ForCausalLM, p: float) -> None:
    """GPT-2's resid_pdrop for Qwen3: drop each block's attention and MLP outputs before the residual sum, the
    regulariser that Xue et al. (2023, "To Repeat or Not To Repeat") find best against many passes over the same
    data. The mask is locked over the sequence (variational dropout, Gal and Ghahramani 2016; AWD-LSTM's small-data
    language models, Merity et al. 2018): one draw per row and feature, the same at every position, 128 times fewer
    random numbers than a draw per element, which inductor generates slowly on a CPU (the step's cost:
    `benchmarks/train_throughput.py --ab residual_dropout`). Forward hooks, not a subclass, so the model stays a
    stock Qwen3ForCausalLM: hooks are not saved, so the saved folder is plain Qwen3, and they do nothing in eval()
    mode. torch.compile traces them with the rest of the step."""

    def drop(module: torch.nn.Module, inputs: tuple, output):
        hidden = output[0] if isinstance(output, tuple) else output  # the attention returns (output, weights)
        if module.training:
            keep = hidden.new_ones(hidden.shape[0], 1, hidden.shape[-1])
            hidden = hidden * torch.nn.functional.dropout(keep, p)  # 0 or 1 / (1 - p), as F.dropout scales
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    for layer in model.model.layers:
        layer.self_attn.register_forward_hook(drop)
        layer.mlp.register_forward_hook(drop)


def context_length(config: PretrainedConfig) -> int:
    """The trained context in tokens, for any family: the attention window of a sliding-window model, else the
    learned positions (GPT2Config maps max_position_embeddings to n_positions)."""
    return getattr(config, "sliding_window", None) or config.max_position_embeddings


def tokenizer_max_length(config: PretrainedConfig) -> int:
    """The tokenizer's model_max_length: GPT-2's learned positions, or no limit (transformers' own VERY_LARGE_INTEGER,
    which never warns) for a sliding-window model, which reads any length."""
    return int(1e30) if has_sliding_window(config) else context_length(config)


def has_sliding_window(config: PretrainedConfig) -> bool:
    """True when every layer attends to a window of the last tokens (no position limit: generates past it)."""
    return getattr(config, "sliding_window", None) is not None
