"""Long-form generation past the context window: KV cache while the window has room, then a re-prefill of the
last part of the text, so GPT-2's learned positions never overflow. Same sampling controls as Hugging Face.

The thesis recomputed the whole 128-token window for every new token; `generate_full_recompute` keeps that
method as the baseline of `benchmarks/generation_speed.py`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache
from transformers.generation.logits_process import (
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

# Default sampling, everywhere (generation_config.json, eval samples, the CLI). Measured on the cpu.yaml model,
# 12 samples of 300 tokens: temperature 0.8 -> 83.9% of words found in the training split, distinct-2 0.83;
# 0.7 -> 86.2%, 0.78; 0.6 -> 91.4%, 0.68 (repetitive). 0.7 keeps words real and text varied.
DEFAULT_SAMPLING = {"temperature": 0.7, "top_k": 50, "top_p": 0.95}


@dataclass
class SamplingArguments:
    """Sampling controls, in Hugging Face's names. temperature 0 means greedy."""

    max_new_tokens: int = field(default=500, metadata={"help": "Tokens to generate (characters, for a char model)"})
    temperature: float = field(
        default=DEFAULT_SAMPLING["temperature"], metadata={"help": "Softmax temperature; 0 for greedy decoding"}
    )
    top_k: int = field(default=DEFAULT_SAMPLING["top_k"], metadata={"help": "Sample among the k most likely tokens; 0 disables"})
    top_p: float = field(default=DEFAULT_SAMPLING["top_p"], metadata={"help": "Nucleus sampling mass; 1.0 disables"})
    repetition_penalty: float = field(default=1.0, metadata={"help": "HF's repetition penalty; 1.0 disables"})
    seed: int | None = field(default=None, metadata={"help": "Random seed, for reproducible samples"})
    keep_fraction: float = field(
        default=0.75, metadata={"help": "Share of the window kept as context when it fills and is re-prefilled"}
    )


def logits_processors(args: SamplingArguments) -> LogitsProcessorList:
    procs = LogitsProcessorList()
    if args.repetition_penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(args.repetition_penalty))
    if args.temperature > 0:
        if args.temperature != 1.0:
            procs.append(TemperatureLogitsWarper(args.temperature))
        if args.top_k > 0:
            procs.append(TopKLogitsWarper(args.top_k))
        if args.top_p < 1.0:
            procs.append(TopPLogitsWarper(args.top_p))
    return procs


def _pick(logits: torch.Tensor, ids: torch.Tensor, procs: LogitsProcessorList, args: SamplingArguments,
          generator: torch.Generator | None) -> torch.Tensor:
    """(1, V) logits -> (1, 1) next token."""
    scores = procs(ids, logits.float())
    if args.temperature <= 0:
        return scores.argmax(dim=-1, keepdim=True)
    return torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator)


@functools.cache
def _cache_keyword(model_class: type) -> str:
    """`cache` from transformers 5.x on, `past_key_values` before."""
    return "cache" if "cache" in inspect.signature(model_class.forward).parameters else "past_key_values"


def _forward(model, input_ids: torch.Tensor, cache: DynamicCache):
    """One forward pass that extends `cache`."""
    return model(input_ids=input_ids, use_cache=True, **{_cache_keyword(type(model)): cache})


def _generator(args: SamplingArguments, device) -> torch.Generator | None:
    if args.seed is None:
        return None
    return torch.Generator(device=device).manual_seed(args.seed)


@torch.inference_mode()
def generate_tokens(model, prompt_ids: list[int], args: SamplingArguments) -> Iterator[int]:
    """Yield new token ids one at a time, for as long as asked, whatever the context length.

    While the window (n_positions tokens) has room, each step feeds one token through the KV cache. When it is
    full, the last keep_fraction * n_positions tokens are re-encoded from position 0 (one forward pass) and the
    cache goes on from there: about n_positions / (1 - keep_fraction) = 4 cheap steps per re-prefill of 128 tokens.
    """
    model.eval()
    window = model.config.n_positions
    keep = max(1, min(window - 1, int(window * args.keep_fraction)))
    device = model.device
    procs, generator = logits_processors(args), _generator(args, device)
    ids = torch.tensor([prompt_ids], device=device)
    if ids.shape[1] == 0:
        ids = torch.tensor([[model.config.bos_token_id]], device=device)
    context = ids[:, -window:]  # a prompt longer than the window is cropped on the left
    cache = DynamicCache()
    out = _forward(model, context, cache)
    used = context.shape[1]
    for _ in range(args.max_new_tokens):
        next_id = _pick(out.logits[:, -1], ids, procs, args, generator)
        ids = torch.cat([ids, next_id], dim=1)
        yield int(next_id)
        if used < window:
            out = _forward(model, next_id, cache)  # the cache grows in place
            used += 1
        else:  # window full: re-prefill the last `keep` tokens at positions 0..keep-1
            context = ids[:, -keep:]
            cache = DynamicCache()
            out = _forward(model, context, cache)
            used = keep


@torch.inference_mode()
def generate_full_recompute(model, prompt_ids: list[int], args: SamplingArguments) -> Iterator[int]:
    """The thesis's method: run the whole last window through the model for every new token (no cache)."""
    model.eval()
    window = model.config.n_positions
    procs, generator = logits_processors(args), _generator(args, model.device)
    ids = torch.tensor([prompt_ids or [model.config.bos_token_id]], device=model.device)
    for _ in range(args.max_new_tokens):
        logits = model(input_ids=ids[:, -window:], use_cache=False).logits
        next_id = _pick(logits[:, -1], ids, procs, args, generator)
        ids = torch.cat([ids, next_id], dim=1)
        yield int(next_id)


def generate_text(model, tokenizer, prompt: str, args: SamplingArguments,
                  on_text: Callable[[str], None] | None = None, stop_at_eos: bool = False) -> str:
    """Prompt + continuation as text; `on_text` receives each new piece as soon as it decodes cleanly
    (a byte-level token can hold half a character: such pieces wait for the rest)."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    new: list[int] = []
    shown = ""
    for token in generate_tokens(model, prompt_ids, args):
        if stop_at_eos and token == tokenizer.eos_token_id:
            break
        new.append(token)
        text = tokenizer.decode(new, skip_special_tokens=True)
        if on_text and not text.endswith("\ufffd"):
            on_text(text[len(shown):])
            shown = text
    text = tokenizer.decode(new, skip_special_tokens=True)
    if on_text and len(text) > len(shown):
        on_text(text[len(shown):])
    return prompt + text
