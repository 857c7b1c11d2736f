"""Long-form generation past the context window: KV cache while the window has room, then a re-prefill of the
last part of the text, so GPT-2's learned positions never overflow. Same sampling controls as Hugging Face.

The thesis recomputed the whole 128-token window for every new token; `generate_full_recompute` keeps that
method as the baseline of `benchmarks/generation_speed.py`.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from transformers import StaticCache
from transformers.generation.logits_process import (
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from .config import context_length
from .utils import MachadoError

# Default sampling, everywhere (generation_config.json, eval samples, the CLI). Measured on the cpu.yaml model,
# 12 samples of 300 tokens: temperature 0.8 -> 83.9% of words found in the training split, distinct-2 0.83;
# 0.7 -> 86.2%, 0.78; 0.6 -> 91.4%, 0.68 (repetitive). 0.7 keeps words real and text varied.
DEFAULT_SAMPLING = {"temperature": 0.7, "top_k": 50, "top_p": 0.95}


MAX_NEW_TOKENS = 1 << 20  # a bound on every count a user types: far above any real use, far below an overflow
MAX_NUM_SAMPLES = 256  # samples in one batch


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
    # 0.5: a re-prefill of 64 tokens every 64 tokens, a quarter of the cost per token of 0.75 (96 every 32), and no
    # measurable loss: the cpu.yaml model scores 2.1707 bits/char on validation when every token sees at least 64
    # tokens of context, 2.1729 with at least 96 (`evaluate_model.py --split validation --stride 64`, `--stride 32`).
    keep_fraction: float = field(
        default=0.5, metadata={"help": "Share of the window kept as context when it fills and is re-prefilled"}
    )

    def __post_init__(self):
        """Each out-of-range value is one clear line, before any model is loaded."""
        from .i18n import LANGUAGES, message

        checks = [
            (1 <= self.max_new_tokens <= MAX_NEW_TOKENS,
             ("between", dict(flag="max_new_tokens", value=str(self.max_new_tokens), low=1, high=MAX_NEW_TOKENS))),
            (0 <= self.temperature <= 100, ("between_note", dict(flag="temperature", value=str(self.temperature), low=0,
                                                                 high=100, note={lang: message("greedy_note", lang)
                                                                                 for lang in LANGUAGES}))),
            (0 <= self.top_k <= MAX_NEW_TOKENS, ("top_k_range", dict(value=str(self.top_k)))),
            (self.seed is None or 0 <= self.seed < 2**32,
             ("between", dict(flag="seed", value=str(self.seed), low=0, high=2**32 - 1))),
            (0 < self.top_p <= 1, ("top_p_range", dict(value=str(self.top_p)))),
            (self.repetition_penalty > 0, ("repetition_penalty_range", dict(value=str(self.repetition_penalty)))),
            (0 < self.keep_fraction < 1, ("keep_fraction_range", dict(value=str(self.keep_fraction)))),
        ]
        for ok, (key, params) in checks:
            if not ok:
                raise MachadoError.of(key, **params)


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
    """(1, V) logits -> (1, 1) next token. The processors are called one by one: LogitsProcessorList.__call__
    inspects every processor's signature on every call, about 0.25 ms a token, as much as a whole forward step
    of the compiled cpu.yaml model."""
    scores = logits.float()
    for proc in procs:
        scores = proc(ids, scores)
    if args.temperature <= 0:
        return scores.argmax(dim=-1, keepdim=True)
    return torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator)


@functools.cache
def _cache_keyword(model_class: type) -> str:
    """`cache` in recent transformers 5.x releases, `past_key_values` in earlier ones (5.0 is supported)."""
    return "cache" if "cache" in inspect.signature(model_class.forward).parameters else "past_key_values"


def _generator(args: SamplingArguments, device) -> torch.Generator | None:
    if args.seed is None:
        return None
    return torch.Generator(device=device).manual_seed(args.seed)


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Which of dynamo's guards a compiled forward keeps (torch.compile's guard_filter_fn): all but those on nn modules.
GUARD_FILTER = torch.compiler.skip_guard_on_all_nn_modules_unsafe


def _compiled(model) -> Callable:
    """The model's forward pass through torch.compile, made once per model. Every call site keeps its shapes
    fixed (one token on a static cache, or a full window), so nothing recompiles while generating. On a CPU the
    C++ wrapper matters most: one token of a small model is mostly call overhead, and in a profile it took the
    compiled one-token step of the cpu.yaml model from 2.1 ms (Python wrapper) to 0.64 ms.

    Dynamo's guards on the model's modules are skipped (GUARD_FILTER): checked before every call, they took 116-138 us
    of a 450-600 us one-token step, for attributes that do not change while generating (the decoders put the model in
    eval mode, and the weights are read at each call, so weights loaded into the same modules are used). The guards
    on the inputs, the cache and the global state stay. `python benchmarks/compile_guards.py` measures each setting."""
    if model not in _COMPILED:
        options = {"guard_filter_fn": GUARD_FILTER} if GUARD_FILTER is not None else {}
        if model.device.type == "cpu":
            options["cpp_wrapper"] = True
        _COMPILED[model] = torch.compile(model.forward, dynamic=False, options=options or None)
    return _COMPILED[model]


def full_attention_config(config):
    """The config the generation cache is built from: every layer full attention. The cache never holds more than
    the window (it is re-prefilled when full), so a sliding window over it is plain causal attention, and a full
    static cache keeps its length in a tensor. transformers' sliding static layer keeps it in a Python int, which
    torch.compile guards on: the compiled step recompiled at every token until dynamo's limit, then fell back."""
    if getattr(config, "sliding_window", None) is None:
        return config
    full = copy.copy(config)
    full.sliding_window = None
    full.layer_types = ["full_attention"] * config.num_hidden_layers
    return full


class TorchDecoder:
    """The PyTorch backend of generate_batch: a static KV cache of n_positions slots, a prefill that resets it, and a
    one-token step (through torch.compile with compile=True; the first call takes 5-50 s on a CPU)."""

    def __init__(self, model, compile: bool = False):
        model.eval()
        self.model, self.config, self.device = model, model.config, model.device
        self.forward = _compiled(model) if compile else model
        self.cache = StaticCache(config=full_attention_config(model.config), max_cache_len=context_length(model.config))
        self.cache_kw = {_cache_keyword(type(model)): self.cache}

    def prefill(self, context: torch.Tensor) -> torch.Tensor:
        """(N, T) ids from position 0 -> (N, V) logits of the last position."""
        self.cache.reset()  # positions restart at 0; only the last position's logits are needed
        return self.model(input_ids=context, use_cache=True, logits_to_keep=1, **self.cache_kw).logits[:, -1]

    def step(self, next_ids: torch.Tensor) -> torch.Tensor:
        """(N, 1) ids at the next position -> (N, V) logits."""
        return self.forward(input_ids=next_ids, use_cache=True, **self.cache_kw).logits[:, -1]


@torch.inference_mode()
def generate_batch(model, prompt_ids: list[int], args: SamplingArguments, num_samples: int = 1,
                   compile: bool = False) -> Iterator[torch.Tensor]:
    """Yield the next token of each of `num_samples` continuations of one prompt, as a (num_samples,) tensor, for
    as long as asked, whatever the context length. The samples share the prompt, so they share every length: one
    batch, no padding, and N samples cost little more than one on a CPU that one sample leaves idle.

    `model` is a transformers model (TorchDecoder) or another backend with the same prefill/step/config/device
    (onnx_export.OnnxDecoder): the sampling and the re-prefill rule are this function's, whatever runs the model.
    While the window has room, each step feeds one token through the cache. When it is full, the last
    keep_fraction * n_positions tokens are re-encoded from position 0 (one forward pass, the cache reset) and the
    cache goes on from there, so a token always sees keep to n_positions tokens of context.
    """
    if not 1 <= num_samples <= MAX_NUM_SAMPLES:
        raise MachadoError.of("between", flag="num_samples", value=str(num_samples), low=1, high=MAX_NUM_SAMPLES)
    decoder = model if hasattr(model, "prefill") else TorchDecoder(model, compile)
    with _torch_threads(getattr(decoder, "sampling_threads", None)):
        yield from _generate(decoder, prompt_ids, args, num_samples)


@contextlib.contextmanager
def _torch_threads(n: int | None):
    """torch's thread count for the sampling around another runtime's steps, restored after."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _generate(decoder, prompt_ids: list[int], args: SamplingArguments, num_samples: int) -> Iterator[torch.Tensor]:
    window = context_length(decoder.config)
    keep = max(1, min(window - 1, int(window * args.keep_fraction)))
    procs, generator = logits_processors(args), _generator(args, decoder.device)
    ids = torch.tensor([prompt_ids or [decoder.config.bos_token_id]], device=decoder.device).expand(num_samples, -1)
    context = ids[:, -window:]  # a prompt longer than the window is cropped on the left
    logits = decoder.prefill(context)
    used = context.shape[1]
    for _ in range(args.max_new_tokens):
        next_id = _pick(logits, ids, procs, args, generator)
        ids = torch.cat([ids, next_id], dim=1)
        yield next_id[:, 0]
        if used < window:
            logits = decoder.step(next_id)
            used += 1
        else:  # window full: re-prefill the last `keep` tokens at positions 0..keep-1
            logits = decoder.prefill(ids[:, -keep:])
            used = keep


def generate_tokens(model, prompt_ids: list[int], args: SamplingArguments, compile: bool = False) -> Iterator[int]:
    """One continuation's token ids, one at a time (generate_batch with one sample)."""
    for next_ids in generate_batch(model, prompt_ids, args, 1, compile=compile):
        yield int(next_ids[0])


@torch.inference_mode()
def generate_full_recompute(model, prompt_ids: list[int], args: SamplingArguments, compile: bool = False) -> Iterator[int]:
    """The thesis's method: run the whole last window through the model for every new token (no cache).
    Only the last position's logits are computed, as in generate_tokens: the comparison is about the cache."""
    model.eval()
    window = context_length(model.config)
    procs, generator = logits_processors(args), _generator(args, model.device)
    forward = _compiled(model) if compile else model
    ids = torch.tensor([prompt_ids or [model.config.bos_token_id]], device=model.device)
    for _ in range(args.max_new_tokens):
        context = ids[0, -window:][None]  # strides (window, 1) whatever the length of `ids`: no recompiling
        logits = forward(input_ids=context, use_cache=False, logits_to_keep=1).logits
        next_id = _pick(logits[:, -1], ids, procs, args, generator)
        ids = torch.cat([ids, next_id], dim=1)
        yield int(next_id)


def stream_texts(model, tokenizer, prompt: str, args: SamplingArguments, num_samples: int = 1,
                 stop_at_eos: bool = False, compile: bool = False) -> Iterator[list[str]]:
    """`num_samples` continuations of `prompt`, generated in one batch: at each step, the new piece of each ("" where
    a sample has nothing new yet). Tokens are decoded as they come, not the whole text again at every step: a
    byte-level token can hold half a character, so such tokens wait for the rest (both our decoders, Fuse and
    ByteLevel, decode piecewise exactly). With stop_at_eos a sample that writes the end token stays silent after it."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    pending: list[list[int]] = [[] for _ in range(num_samples)]
    done = [False] * num_samples
    for next_ids in generate_batch(model, prompt_ids, args, num_samples, compile=compile):
        pieces = [""] * num_samples
        for i, token in enumerate(next_ids.tolist()):
            if done[i] or (stop_at_eos and token == tokenizer.eos_token_id):
                done[i] = True
                continue
            pending[i].append(token)
            piece = tokenizer.decode(pending[i], skip_special_tokens=True)
            if not piece.endswith("\ufffd"):
                pending[i].clear()
                pieces[i] = piece
        if any(pieces):
            yield pieces
        if all(done):
            return
    if any(pending):
        yield [tokenizer.decode(p, skip_special_tokens=True) for p in pending]


def stream_text(model, tokenizer, prompt: str, args: SamplingArguments, stop_at_eos: bool = False,
                compile: bool = False) -> Iterator[str]:
    """The continuation of `prompt`, piece by piece, as soon as each piece decodes cleanly (one sample)."""
    for (piece,) in stream_texts(model, tokenizer, prompt, args, 1, stop_at_eos=stop_at_eos, compile=compile):
        yield piece


def generate_texts(model, tokenizer, prompt: str, args: SamplingArguments, num_samples: int,
                   stop_at_eos: bool = False, compile: bool = False) -> list[str]:
    """`num_samples` texts (prompt + continuation), sampled in one batch."""
    texts = [prompt] * num_samples
    for pieces in stream_texts(model, tokenizer, prompt, args, num_samples, stop_at_eos=stop_at_eos, compile=compile):
        texts = [t + p for t, p in zip(texts, pieces)]
    return texts


def generate_text(model, tokenizer, prompt: str, args: SamplingArguments, on_text: Callable[[str], None] | None = None,
                  stop_at_eos: bool = False, compile: bool = False) -> str:
    """Prompt + continuation as text; `on_text` receives each new piece as it is written."""
    pieces = []
    for piece in stream_text(model, tokenizer, prompt, args, stop_at_eos=stop_at_eos, compile=compile):
        pieces.append(piece)
        if on_text:
            on_text(piece)
    return prompt + "".join(pieces)
