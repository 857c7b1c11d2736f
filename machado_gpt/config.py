"""The recipe: typed dataclasses read from `configs/*.yaml` plus CLI flags, and the one place a GPT2Config is made.

Training reuses `transformers.TrainingArguments` for everything the Trainer knows (output_dir, learning_rate, ...).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast, TrainingArguments

from .corpus import DataArguments
from .tokenizer import TokenizerArguments
from .utils import MachadoError, parse_config

DEFAULT_PROMPTS = ["Capitu", "Era uma vez", "— Que é isso?", "Ao verme que primeiro roeu"]


@dataclass
class ModelArguments:
    """GPT-2 architecture, in GPT2Config's names. Defaults: the thesis's 28.5M model."""

    n_layer: int = field(default=9, metadata={"help": "Transformer blocks"})
    n_head: int = field(default=8, metadata={"help": "Attention heads; n_embd must be divisible by it"})
    n_embd: int = field(default=512, metadata={"help": "Width of the residual stream"})
    n_positions: int = field(default=128, metadata={"help": "Context length in tokens (learned positions)"})
    block_size: int | None = field(default=None, metadata={"help": "Training sequence length; default n_positions"})
    dropout: float = field(default=0.2, metadata={"help": "Residual, embedding and attention dropout"})

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise MachadoError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}: pick n_head among its divisors")
        if self.block_size is None:
            self.block_size = self.n_positions
        if self.block_size > self.n_positions:
            raise MachadoError(
                f"block_size {self.block_size} is larger than n_positions {self.n_positions}: GPT-2 has no position "
                f"embedding past n_positions; lower block_size or raise n_positions"
            )
        if not 0 <= self.dropout < 1:
            raise MachadoError(f"dropout {self.dropout} must be in [0, 1)")


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

    def __post_init__(self):
        if self.hp_search not in (None, "optuna", "wandb"):
            raise MachadoError(f"unknown hp_search backend {self.hp_search!r}: use optuna (offline) or wandb (W&B account)")
        if self.mixed_precision not in ("auto", "bf16", "fp16", "no"):
            raise MachadoError(f"unknown mixed_precision {self.mixed_precision!r}: use auto, bf16, fp16 or no")


RECIPE_TYPES = (DataArguments, TokenizerArguments, ModelArguments, RunArguments, TrainingArguments)


def parse_recipe(argv: Sequence[str] | None = None):
    """(data, tokenizer, model, run, training) arguments from `--config recipe.yaml` and CLI flags."""
    if not torch.cuda.is_available():
        # Without a GPU, processes started by `accelerate launch --num_processes N` must run DDP on the CPU over gloo;
        # accelerate's own CPU launcher needs mpirun. Set before TrainingArguments picks its device.
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")
    return parse_config(RECIPE_TYPES, argv)


def build_model(args: ModelArguments, tokenizer: PreTrainedTokenizerFast) -> GPT2LMHeadModel:
    """The only place a GPT2Config is made. Vocabulary and special ids come from the tokenizer: GPT2Config's
    defaults (50257 tokens, bos = eos = 50256) are wrong for our vocabularies."""
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=args.n_positions,
        n_embd=args.n_embd,
        n_layer=args.n_layer,
        n_head=args.n_head,
        resid_pdrop=args.dropout,
        embd_pdrop=args.dropout,
        attn_pdrop=args.dropout,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        use_cache=True,
    )
    model = GPT2LMHeadModel(config)
    model.loss_type = "ForCausalLM"  # transformers cannot infer it from the class name 'GPT2LMHeadModel' and warns
    return model
