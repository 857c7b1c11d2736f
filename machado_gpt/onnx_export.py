"""ONNX export of a model folder, in the layout that transformers.js and optimum read, checked by onnxruntime.

`onnx/model.onnx` (fp32) and `onnx/model_quantized.onnx` (dynamic int8 weights) take `input_ids`, `attention_mask`,
`position_ids` and `past_key_values.{i}.key/value`, and return `logits` and `present.{i}.key/value`; the dynamic
axes are `batch_size`, `sequence_length`, `past_sequence_length` (and `total_sequence_length` for the mask).
`onnx/model_optimized.onnx` is for onnxruntime on a CPU (generate.py, the demo; transformers.js reads model.onnx). For
Qwen3 it is onnxruntime-genai's model builder's graph: GroupQueryAttention with the rotary embedding inside, fused
norms, and a KV cache of one window that each step writes in place (past and present bound to the same buffer); its
inputs are `input_ids`, `attention_mask` and the cache (no `position_ids`: they follow from the mask). For GPT-2
(which that builder does not cover) it is model.onnx with the last position's logits only.
The export goes through `torch.onnx.export(..., dynamo=True)`: optimum-onnx does not support transformers 5.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import DynamicCache

from .config import context_length, has_sliding_window
from .generation import SamplingArguments, _cache_keyword, full_attention_config, generate_tokens
from .utils import MachadoError, write_json

ONNX_DIR = "onnx"
FP32, INT8, OPTIMIZED = "model.onnx", "model_quantized.onnx", "model_optimized.onnx"


@dataclass
class ExportArguments:
    model_dir: str = field(default="machado-gpt", metadata={"help": "Model folder written by train_hf.py"})
    quantize: bool = field(default=True, metadata={"help": "Also write the int8 onnx/model_quantized.onnx"})
    check_tokens: int = field(default=64, metadata={"help": "Greedy tokens compared with PyTorch after export; 0 skips"})

    def __post_init__(self):
        if not 0 <= self.check_tokens <= 4096:
            raise MachadoError.of("between", flag="check_tokens", value=str(self.check_tokens), low=0, high=4096)


class WithPast(torch.nn.Module):
    """The model with its cache as flat tensors in and out, as transformers.js feeds it: each step sends the
    previous step's `present` back as `past_key_values`. The cache is a full DynamicCache (no cropping): a
    sliding-window model masks what lies beyond its window, so the cache just grows, as the attention mask does."""

    def __init__(self, model, last_logits_only: bool = False):
        super().__init__()
        self.model = model
        self.logits_to_keep = 1 if last_logits_only else 0  # transformers: 0 keeps every position
        self.n_layer = model.config.num_hidden_layers
        self.cache_kw = _cache_keyword(type(model))

    def forward(self, input_ids, attention_mask, position_ids, past: list[torch.Tensor]):
        cache = DynamicCache(ddp_cache_data=[(past[2 * i], past[2 * i + 1]) for i in range(self.n_layer)])
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         use_cache=True, logits_to_keep=self.logits_to_keep, **{self.cache_kw: cache})
        # The output's name follows the input's (`cache` from transformers 5.2x; reading the old name warns there).
        present = [t for layer in getattr(out, self.cache_kw).layers for t in (layer.keys, layer.values)]
        return (out.logits, *present)


def kv_shape(config) -> tuple[int, int]:
    """(key/value heads, head size) for either family."""
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    return heads, getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def io_names(n_layer: int) -> tuple[list[str], list[str]]:
    cache = [(i, k) for i in range(n_layer) for k in ("key", "value")]
    return (["input_ids", "attention_mask", "position_ids"] + [f"past_key_values.{i}.{k}" for i, k in cache],
            ["logits"] + [f"present.{i}.{k}" for i, k in cache])


def export(model, path: Path, last_logits_only: bool = False) -> None:
    """torch.onnx.export with dynamo; example shapes have a non-empty past, so no axis is specialised to 0 or 1
    (an empty past, as on a first step, runs fine: tested). last_logits_only: `logits` is (batch, 1, vocab), the
    last position's, as generation needs (a re-prefill of 64 tokens at batch 8 then skips 64 x 8 - 8 rows of the
    output projection)."""
    config = model.config
    heads, head_dim = kv_shape(config)
    batch, seq, past_len = 2, 3, 5
    example = (torch.randint(0, config.vocab_size, (batch, seq)), torch.ones(batch, past_len + seq, dtype=torch.long),
               torch.arange(past_len, past_len + seq)[None].expand(batch, -1),
               [torch.zeros(batch, heads, past_len, head_dim) for _ in range(2 * config.num_hidden_layers)])
    dim = torch.export.Dim
    b, s, p = dim("batch_size"), dim("sequence_length"), dim("past_sequence_length")
    dynamic = {"input_ids": {0: b, 1: s}, "attention_mask": {0: b, 1: dim("total_sequence_length")},
               "position_ids": {0: b, 1: s}, "past": [{0: b, 2: p} for _ in example[3]]}
    inputs, outputs = io_names(config.num_hidden_layers)
    with quiet_exporter():
        torch.onnx.export(WithPast(model, last_logits_only).eval(), example, str(path), dynamo=True, dynamic_shapes=dynamic,
                          input_names=inputs, output_names=outputs, external_data=False, verbose=False)


@contextlib.contextmanager
def quiet_exporter():
    """Silence what torch's exporter and onnxruntime's quantizer print about themselves, none of it true of this
    export or actionable by its user: 'torchvision is not installed. Skipping torchvision::nms' (x4, a registry of
    vision ops we never use), a LeafSpec FutureWarning from torch's own pytree code, 'The axis name: batch_size will
    not be used' (x3: our names are kept, as the tests check), and quantize_dynamic's 'consider to run
    pre-processing before quantization' (shape inference for static quantization; ours is dynamic)."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    root_filter = _MessageFilter("pre-processing before quantization")
    logging.getLogger().addFilter(root_filter)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
            warnings.filterwarnings("ignore", message=".*The axis name: .* will not be used.*", category=UserWarning)
            yield
    finally:
        registration.setLevel(level)
        logging.getLogger().removeFilter(root_filter)


class _MessageFilter(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def quantize(src: Path, dst: Path) -> None:
    """Dynamic int8 weights of the weight MatMuls (per tensor), what transformers.js calls q8. Measured on the
    cpu-1h model (greedy tokens equal to PyTorch's, of 100): every MatMul quantized, the attention's
    activation-by-activation ones included, 1; weights only but per channel, 1; weights only per tensor, 43."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with quiet_exporter():
        quantize_dynamic(str(src), str(dst), op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8,
                         per_channel=False, extra_options={"MatMulConstBOnly": True})


def build_gqa(config, model_dir: Path, dst: Path) -> None:
    """onnxruntime-genai's model builder on a Qwen3 folder, fp32 for the CPU, written as one self-contained file.
    The builder reads generation's own cache config (`full_attention_config`: the cache is re-prefilled from position
    0 before it outgrows the window, so a sliding window over it masks nothing) with positions that stop at the
    window, so the rotary tables are one window long, not the config's 1,048,576 positions."""
    import onnx
    from onnxruntime_genai.models.builder import create_model, parse_extra_options

    capped = copy.copy(full_attention_config(config))
    capped.max_position_embeddings, capped.use_sliding_window = context_length(config), False
    with tempfile.TemporaryDirectory() as tmp:
        src, built, cache = (Path(tmp) / name for name in ("src", "built", "cache"))
        src.mkdir()
        capped.to_json_file(src / "config.json")
        for f in model_dir.iterdir():  # weights and tokenizer, read in place
            if f.is_file() and f.name != "config.json":
                (src / f.name).symlink_to(f.resolve())
        log = io.StringIO()  # the builder narrates every tensor it saves
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                options = parse_extra_options(None, str(src), str(built), "fp32", "cpu", str(cache), [])
                create_model(None, str(src), str(built), "fp32", "cpu", str(cache), **options)
        except Exception as err:
            first = (str(err).splitlines() or [""])[0][:200]
            raise MachadoError.of("export_builder_failed", path=str(model_dir), error=f"{type(err).__name__}: {first}") from err
        onnx.save(onnx.load(str(built / "model.onnx")), str(dst))  # the weights inside the file, not beside it


class OnnxLM:
    """Greedy decoding over an exported file with onnxruntime, feeding `present` back as transformers.js does."""

    def __init__(self, path: Path, config):
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.config = config
        self.inputs, self.outputs = io_names(config.num_hidden_layers)
        self.takes = {i.name for i in self.session.get_inputs()}  # the GQA file has no position_ids

    def forward(self, ids: np.ndarray, past: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        past_len = past[0].shape[2]
        feeds = {"input_ids": ids, "attention_mask": np.ones((1, past_len + ids.shape[1]), dtype=np.int64),
                 "position_ids": np.arange(past_len, past_len + ids.shape[1], dtype=np.int64)[None]}
        feeds.update(zip(self.inputs[3:], past))
        # outputs asked by name: the GQA file lists every layer's key before the values
        logits, *present = self.session.run(self.outputs, {k: v for k, v in feeds.items() if k in self.takes})
        return logits, present

    def empty_past(self) -> list[np.ndarray]:
        heads, head_dim = kv_shape(self.config)
        return [np.zeros((1, heads, 0, head_dim), dtype=np.float32) for _ in range(2 * self.config.num_hidden_layers)]

    def greedy(self, prompt_ids: list[int], n: int) -> list[int]:  # reads only the last position's logits
        logits, past = self.forward(np.array([prompt_ids], dtype=np.int64), self.empty_past())
        out = []
        for _ in range(n):
            out.append(int(logits[0, -1].argmax()))
            logits, past = self.forward(np.array([[out[-1]]], dtype=np.int64), past)
        return out


class OnnxDecoder:
    """The onnxruntime backend of generation.generate_batch (generate.py --backend onnx, the demo's Escrever): the
    same prefill/step as the PyTorch one, over onnx/model_optimized.onnx (or model.onnx, in a folder exported before
    that file existed). The KV cache stays in onnxruntime's own buffers, and only the last position's logits come
    out, as a torch tensor for the shared sampling code. Two kinds of file:
    - a file with `position_ids` (model.onnx, model_quantized.onnx, GPT-2's optimized file) concatenates: each
      step's `present` outputs, one token longer, are bound as the next step's `past` inputs (IO binding);
    - the GroupQueryAttention file (Qwen3's optimized file) has a cache of one window per layer, bound as both
      `past` and `present`, that each step writes in place; the attention mask's length says how much of it is
      filled. No copy of the cache per token: the step that copies it costs more the larger the batch.
    The sampling around each step (torch) runs on the calling thread alone (`sampling_threads`): torch's OpenMP
    workers, spinning between its tiny sampling ops, took the cores from onnxruntime's threads (1.5x at batch 8 in
    benchmarks/generation_speed.py, docs/performance.md)."""

    sampling_threads = 1

    def __init__(self, path: Path, config):
        import onnxruntime as ort

        self.path, self.config, self.device = Path(path), config, torch.device("cpu")
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.input_names, self.output_names = io_names(config.num_hidden_layers)
        self.in_place = "position_ids" not in {i.name for i in self.session.get_inputs()}
        self.past, self.length, self.masks = [], 0, []

    def _new_cache(self, n: int) -> list:
        import onnxruntime as ort

        heads, head_dim = kv_shape(self.config)
        slots = context_length(self.config) if self.in_place else 0  # in place: one window; else empty, growing
        return [ort.OrtValue.ortvalue_from_numpy(np.zeros((n, heads, slots, head_dim), dtype=np.float32))
                for _ in self.input_names[3:]]

    def _run(self, ids: torch.Tensor) -> torch.Tensor:
        n, t = ids.shape
        if not self.masks or self.masks[0].shape[0] != n:  # a new batch size: its masks, and a new cache
            # the attention masks of every length (all ones: the samples share every length)
            self.masks = [np.ones((n, k), dtype=np.int64) for k in range(context_length(self.config) + 1)]
            self.past = []
        if not self.past:
            self.past = self._new_cache(n)
        binding = self.session.io_binding()
        binding.bind_cpu_input("input_ids", np.ascontiguousarray(ids.cpu().numpy(), dtype=np.int64))
        binding.bind_cpu_input("attention_mask", self.masks[self.length + t])
        binding.bind_output("logits", "cpu")
        if not self.in_place:
            binding.bind_cpu_input("position_ids",
                                   np.tile(np.arange(self.length, self.length + t, dtype=np.int64), (n, 1)))
        for name, out, value in zip(self.input_names[3:], self.output_names[1:], self.past):
            binding.bind_ortvalue_input(name, value)
            if self.in_place:
                binding.bind_ortvalue_output(out, value)
            else:
                binding.bind_output(out, "cpu")
        self.session.run_with_iobinding(binding)
        logits, *present = binding.get_outputs()
        if not self.in_place:
            self.past = present
        self.length += t
        return torch.from_numpy(logits.numpy()[:, -1])

    def prefill(self, context: torch.Tensor) -> torch.Tensor:
        """(N, T) ids from position 0 -> (N, V) logits of the last position."""
        if not self.in_place:
            self.past = []  # a new empty cache; the in-place one is overwritten from slot 0
        self.length = 0
        return self._run(context)

    def step(self, next_ids: torch.Tensor) -> torch.Tensor:
        """(N, 1) ids at the next position -> (N, V) logits."""
        return self._run(next_ids)


BACKENDS = ("auto", "torch", "onnx", "onnx-int8")


def onnx_file(model_dir: str, backend: str = "onnx") -> Path:
    """The file a backend runs: onnx-int8 onnx/model_quantized.onnx; onnx the optimized file, else model.onnx."""
    folder = Path(model_dir) / ONNX_DIR
    if backend == "onnx-int8":
        return folder / INT8
    return folder / OPTIMIZED if (folder / OPTIMIZED).is_file() else folder / FP32


def load_decoder(model_dir: str, backend: str = "auto", **load_kwargs):
    """(model or OnnxDecoder, tokenizer) for generation. auto: onnxruntime on onnx/ when the folder has it
    (export_onnx.py wrote it and checked that its greedy text is PyTorch's), else PyTorch. onnx-int8 runs
    onnx/model_quantized.onnx, whose agreement export.json states."""
    from transformers import AutoConfig, AutoTokenizer

    from .evaluation import load_model

    if backend not in BACKENDS:
        raise MachadoError.of("unknown_choice", name="backend", value=repr(backend), choices=", ".join(BACKENDS))
    path = onnx_file(model_dir, backend)
    if backend == "auto":
        backend = "onnx" if path.is_file() else "torch"
    if backend == "torch":
        return load_model(model_dir, **load_kwargs)
    if not path.is_file():
        raise MachadoError.of("no_onnx", path=str(path), model_dir=model_dir)
    return OnnxDecoder(path, AutoConfig.from_pretrained(model_dir)), AutoTokenizer.from_pretrained(model_dir)


def max_new_tokens_for(config, prompt_len: int, wanted: int) -> int:
    """GPT-2's learned positions stop at the context: prompt + new tokens must fit. A sliding window has no limit."""
    return wanted if has_sliding_window(config) else max(0, min(wanted, context_length(config) - prompt_len))


def torch_greedy(model, prompt_ids: list[int], n: int) -> list[int]:
    ids = torch.tensor([prompt_ids])
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                             do_sample=False)
    return out[0, len(prompt_ids):].tolist()


def check(model, tokenizer, folder: Path, n_tokens: int, prompt: str = "Capitu") -> dict:
    """Logits of both files against PyTorch's on the same inputs (with a past), and greedy continuations."""
    config = model.config
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    n = max_new_tokens_for(config, len(prompt_ids), n_tokens)
    reference = torch_greedy(model, prompt_ids, n)
    steps = [*prompt_ids, *reference][: max(2, min(len(prompt_ids) + n, context_length(config)) - 1)]
    with torch.no_grad():  # logits for a prefill of all but the last few tokens, then the last ones with the past
        split = max(1, len(steps) - 4)
        wrapped = WithPast(model)
        heads, head_dim = kv_shape(config)
        empty = [torch.zeros(1, heads, 0, head_dim) for _ in range(2 * config.num_hidden_layers)]
        first = wrapped(torch.tensor([steps[:split]]), torch.ones(1, split, dtype=torch.long),
                        torch.arange(split)[None], empty)
        second = wrapped(torch.tensor([steps[split:]]), torch.ones(1, len(steps), dtype=torch.long),
                         torch.arange(split, len(steps))[None], list(first[1:]))
    report = {"prompt": prompt, "new_tokens": n, "torch_greedy": tokenizer.decode(reference)}
    # The optimized file is compared the way generate.py runs it, with the PyTorch backend of the same loop as the
    # reference; within the window both references are the same tokens.
    loop = SamplingArguments(max_new_tokens=max(n, 1), temperature=0)
    loop_reference = list(generate_tokens(model, prompt_ids, loop))[:n] if (folder / OPTIMIZED).is_file() else []
    for name in (FP32, INT8, OPTIMIZED):
        path = folder / name
        if not path.is_file():
            continue
        lm = OnnxLM(path, config)
        logits1, past = lm.forward(np.array([steps[:split]]), lm.empty_past())
        logits2, _ = lm.forward(np.array([steps[split:]]), past)
        # the optimized file returns the last position's logits only: compare what each file returns
        diff = max(float(np.abs(logits1 - first[0][:, -logits1.shape[1]:].numpy()).max()),
                   float(np.abs(logits2 - second[0][:, -logits2.shape[1]:].numpy()).max()))
        if name == OPTIMIZED:  # what generate.py runs, through its own loop (re-prefill when the window is full)
            greedy = list(generate_tokens(OnnxDecoder(path, config), prompt_ids, loop))[:n]
            reference_here = loop_reference
        else:  # as transformers.js runs model.onnx: one growing cache
            greedy, reference_here = lm.greedy(prompt_ids, n), reference
        report[name] = {"max_abs_logit_diff": diff, "greedy_equal": greedy == reference_here,
                        "greedy_text": tokenizer.decode(greedy),
                        "greedy_tokens_equal": next((i for i, (a, b) in enumerate(zip(greedy, reference_here))
                                                     if a != b), n),
                        "bytes": path.stat().st_size}
    return report


def browser_choice(report: dict) -> dict:
    """The file web/index.html loads by default: the int8 one (4x smaller) only when its greedy text equals PyTorch's
    for every checked token, else the fp32 one, which does. The page shows the agreement with its choice."""
    int8 = report.get(INT8)
    agrees = bool(int8) and int8["greedy_tokens_equal"] == report.get("new_tokens")
    return {"dtype": "q8" if agrees else "fp32", "file": f"{ONNX_DIR}/{INT8 if agrees else FP32}",
            "int8_tokens_equal": int8["greedy_tokens_equal"] if int8 else None, "new_tokens": report.get("new_tokens")}


def run_export(args: ExportArguments, log=print) -> dict:
    from .evaluation import check_model_location, load_model

    if not Path(args.model_dir).is_dir():
        check_model_location(args.model_dir)  # the shared one-line errors for a bad location
        raise MachadoError.of("export_not_local", path=args.model_dir)
    # eager attention: plain MatMul/Softmax, which every onnxruntime backend (CPU, WebAssembly) runs; on the CPU,
    # where the example inputs are
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a 'Loading weights' bar for a file that loads in milliseconds
    model, tokenizer = load_model(args.model_dir, attn_implementation="eager")
    model = model.cpu()
    out = Path(args.model_dir) / ONNX_DIR
    out.mkdir(exist_ok=True)
    seconds = {}

    def write(name: str, step: str, make) -> None:
        """make(path) writes aside, then the file is moved in: a failure leaves no half-written file."""
        start, tmp = time.perf_counter(), out / f".{name}.partial"
        try:
            make(tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(out / name)
        seconds[step] = round(time.perf_counter() - start, 1)
        log(f"wrote {out / name} ({(out / name).stat().st_size:,} bytes) in {seconds[step]} s")

    write(FP32, "export", lambda path: export(model, path))
    if args.quantize:
        write(INT8, "quantize", lambda path: quantize(out / FP32, path))

    def optimized(path: Path) -> None:
        # onnxruntime-genai's builder covers Qwen3, not GPT-2: GPT-2's file is the last-logits export.
        if model.config.model_type == "qwen3":
            return build_gqa(model.config, Path(args.model_dir), path)
        export(model, path, last_logits_only=True)

    write(OPTIMIZED, "optimize", optimized)
    report = {"model_type": model.config.model_type, "seconds": seconds}
    if args.check_tokens:
        report |= check(model, tokenizer, out, args.check_tokens)
        for name in (FP32, OPTIMIZED, INT8):
            if name in report:
                r = report[name]
                log(f"onnxruntime {name}: max |logit - PyTorch| {r['max_abs_logit_diff']:.2e}, greedy "
                    f"{r['greedy_tokens_equal']}/{report['new_tokens']} tokens equal to PyTorch's")
    report["browser"] = browser_choice(report)
    write_json(out / "export.json", report)
    for name in (FP32, OPTIMIZED):  # the files that claim PyTorch's output: model.onnx, and what generate.py runs
        r = report.get(name)
        if r and not (r["max_abs_logit_diff"] <= 1e-4 and r["greedy_equal"]):
            if name == OPTIMIZED:
                (out / name).unlink()  # generate.py would pick it: a disagreeing file does not stay
            raise MachadoError.of("export_disagrees", path=str(out / name), report=str(out / "export.json"))
    return report
