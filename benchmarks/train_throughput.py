"""Training throughput (tokens/s) and MFU of a recipe's model: Trainer against a plain PyTorch loop on the same
model and batch, in fp32 and in bf16 (and compiled, with --compile), all in one run, the variants interleaved
--repeats times and the best kept, so the ratios hold on a noisy machine.

    python benchmarks/train_throughput.py                                   # the 28.5M model, CPU-sized batch
    python benchmarks/train_throughput.py --batch_size 512 --steps 30       # on a GPU
    python benchmarks/train_throughput.py --config configs/cpu.yaml --batch_size 32
    python benchmarks/train_throughput.py --config configs/cpu.yaml --batch_size 32 --profile --compile  # where the time goes
    python benchmarks/train_throughput.py --config configs/cpu.yaml --recipe_step   # the recipe's own Trainer step
    python benchmarks/train_throughput.py --config configs/cpu.yaml --recipe_step --profile   # where its time goes
    python benchmarks/train_throughput.py --config configs/cpu.yaml --end_to_end    # make all's run against that step
    python benchmarks/train_throughput.py --config configs/cpu.yaml --ab allocator --repeats 3   # one change at a time
    python benchmarks/train_throughput.py --config configs/cpu-1h.yaml --ab newton_schulz          # Muon's dtype
    python benchmarks/train_throughput.py --config configs/cpu-1h.yaml --ab batch_size -- --per_device_train_batch_size 64

--recipe_step times the step that `make all` runs (the project's Trainer on the real data, the recipe's optimizer and
schedule, its callbacks) with Muon and with AdamW, each in fp32 and bf16 with the SDPA kernel, eager, and in bf16
compiled with attention as matrix products and a softmax (cpu.yaml's): the median of 50 steps after 20, and its
share of the peak of its own precision measured here. --end_to_end runs the recipe's whole training job (train_hf.py's,
in a scratch folder) between two timings of its step as written, and prints the run's tokens/s as a share of the
step's. --recipe_step --profile profiles the recipe's step as written instead (torch.profiler, 10 steps after 30):
the model's matrix products, the compiled kernels, the optimizer (Muon's orthogonalisation products apart) and the
rest, in milliseconds a step, and the share of the peak that the model's matrix products reach on their own, which
bounds the step's.

MFU = 6 * matrix parameters + 12 * n_layer * n_embd * block_size FLOPs per token (PaLM's count; the input
embedding, a lookup, is not a matrix product: machado_gpt.hardware.flops_per_token) against the peak of the
line's own precision, measured in the same run (machado_gpt.hardware.matmul_tflops): the better of a square product
(3072 on a CPU, 8192 on a GPU) and one of the model's own shape. A bf16 step divided by the fp32 peak would overstate
it by the ratio of the two peaks (2.2x on an AVX512-BF16 CPU).
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import NamedTuple

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from machado_gpt.config import VocabularyShape, build_model, parse_recipe
from machado_gpt.data import BlockDataset
from machado_gpt.hardware import (
    cpu_supports_bf16,
    device_description,
    flops_per_token,
    keep_freed_memory,
    matmul_tflops,
    multiplies_bf16_natively,
)


class StepTimer(TrainerCallback):
    def __init__(self, warmup: int):
        self.warmup, self.start, self.steps = warmup, None, 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.begin = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        if state.global_step == self.warmup:
            self.start = time.perf_counter()
        elif state.global_step > self.warmup:
            self.steps += 1
            self.seconds = time.perf_counter() - self.start


def plain_step(model, blocks, batch_size, bf16, device, compile=False):
    """One training step of a plain PyTorch loop (AdamW, autocast, clipping), as a function of the step's index."""
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1,
                            fused=device.type == "cuda")
    forward = torch.compile(model) if compile else model

    def step(i: int) -> None:
        x = blocks[(i * batch_size) % (len(blocks) - batch_size):][:batch_size].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = forward(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def plain_loop(model, blocks, batch_size, steps, warmup, bf16, device, compile=False) -> tuple[float, float]:
    step = plain_step(model, blocks, batch_size, bf16, device, compile)
    begin, start = time.perf_counter(), None
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch_size * blocks.shape[1] / (time.perf_counter() - start), start - begin


def trainer_loop(model, blocks, batch_size, steps, warmup, bf16, device, compile=False) -> tuple[float, float]:
    timer = StepTimer(warmup)
    args = TrainingArguments(
        output_dir="out/bench-trainer", max_steps=warmup + steps, per_device_train_batch_size=batch_size,
        learning_rate=1e-3, adam_beta2=0.99, weight_decay=0.1, max_grad_norm=1.0, bf16=bf16, report_to=[],
        logging_strategy="no", save_strategy="no", eval_strategy="no", disable_tqdm=True,
        dataloader_drop_last=True, logging_nan_inf_filter=False, use_cpu=device.type == "cpu",
        dataloader_pin_memory=device.type == "cuda", torch_compile=compile,
        optim="adamw_torch_fused" if device.type == "cuda" else "adamw_torch",
    )
    Trainer(model=model, args=args, train_dataset=BlockDataset(blocks), callbacks=[timer]).train()
    return timer.steps * batch_size * blocks.shape[1] / timer.seconds, timer.start - timer.begin


# Where a step's time goes, by the profiler's operator names (self time, so nothing is counted twice).
CATEGORIES = (
    ("matrix products", ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear", "mkldnn", "onednn")),
    ("attention kernel", ("scaled_dot_product", "flash_attention", "_efficient_attention")),
    ("loss (log-softmax, NLL)", ("cross_entropy", "log_softmax", "nll_loss")),
    ("optimizer step", ("Optimizer.step", "_foreach", "adamw", "lerp", "addcmul", "addcdiv", "sqrt")),
    ("compiled fused kernels", ("cpp_fused", "triton_")),
    ("compiled graphs' own code (around their kernels)", ("CompiledFxGraph", "Torch-Compiled Region",
                                                          "CompiledFunction")),
    ("casts and copies", ("aten::copy_", "aten::to", "aten::_to_copy", "aten::clone", "aten::contiguous", "aten::cat")),
    ("elementwise (norms, rotary, activations)", ("aten::mul", "aten::add", "aten::rsqrt", "aten::pow", "aten::mean",
                                                  "aten::silu", "aten::neg", "aten::sub", "aten::div", "aten::sum",
                                                  "aten::exp", "aten::where", "aten::fill_", "aten::zero_")),
)


def profile_step(model, blocks, batch_size, bf16, device, compile=False, steps=5):
    """torch.profiler over `steps` training steps of the plain loop (after two unprofiled ones): each category's
    share of the profiled self time, the rest as 'other (framework, Python, data)', and the five largest compiled
    kernels with their shares."""
    from torch.profiler import ProfilerActivity, profile

    step = plain_step(model, blocks, batch_size, bf16, device, compile)
    for i in range(2):
        step(i)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for i in range(steps):
            step(i + 2)
    totals = dict.fromkeys([name for name, _ in CATEGORIES] + ["other (framework, Python, data)"], 0.0)
    for event in prof.key_averages():
        category = next((name for name, keys in CATEGORIES if any(k.lower() in event.key.lower() for k in keys)),
                        "other (framework, Python, data)")
        totals[category] += event.self_cpu_time_total
    whole = sum(totals.values()) or 1.0
    kernels = sorted(((e.key, e.self_cpu_time_total) for e in prof.key_averages() if "cpp_fused" in e.key),
                     key=lambda kv: -kv[1])[:5]
    return {name: 100 * t / whole for name, t in totals.items()}, [(k, 100 * t / whole) for k, t in kernels]


# --recipe_step's variants: the flags each adds to the recipe (after the optimizer's).
RECIPE_VARIANTS = {
    "fp32, SDPA, eager": ["--mixed_precision", "no", "--attn_implementation", "sdpa", "--torch_compile", "false"],
    "bf16, SDPA, eager": ["--mixed_precision", "bf16", "--attn_implementation", "sdpa", "--torch_compile", "false"],
    "bf16, compiled": ["--mixed_precision", "bf16", "--attn_implementation", "eager", "--torch_compile", "true"],
}


class Intervals(TrainerCallback):
    """The clock and the process's page faults (minor: a page of memory touched for the first time) at every step."""

    def __init__(self):
        self.times: list[float] = []
        self.faults: list[int] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter())
        self.faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)


def recipe_trainer(config: str, extra: list[str], folder: str, steps: int, flags: list[str] | None = None):
    """The recipe's own Trainer on the real data (`flags` after the recipe's, `extra` last) for `steps` steps,
    nothing evaluated or saved, and the precision its steps run in: bf16 or fp16, else fp32. On a CPU without bf16
    instructions the recipe trains in fp32, and a share of the (emulated, slow) bf16 peak would read over 100%."""
    from machado_gpt.training import prepare

    argv = ["--config", config, *(flags or []), "--max_steps", str(steps), "--eval_strategy", "no", "--save_strategy", "no",
            "--disable_tqdm", "true", "--report_to", "none", "--output_dir", folder, "--model_dir", f"{folder}-model",
            *extra]
    trainer, _, _, precision = prepare(*parse_recipe(argv), log=lambda *a: None)
    return trainer, precision if precision in ("bf16", "fp16") else "fp32"


def recipe_peak(trainer, kind: str) -> float:
    """The matrix peak of `kind` here, as in main(): the better of a square product and the model's own shape (a
    training batch's tokens @ the first MLP matrix)."""
    cfg, device = trainer.model.config, torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tokens = trainer.args.per_device_train_batch_size * trainer.block_size
    width = cfg.intermediate_size if cfg.model_type == "qwen3" else 4 * cfg.hidden_size
    return max(matmul_tflops(kind, device), matmul_tflops(kind, device, tokens, cfg.hidden_size, width))


class RecipeStep:
    """The recipe's own Trainer step on the real data (nothing saved), timed as the median of `steps - 20` steps after
    20 (compilation and the first caches), with its share of the matrix peak of the precision it trains in, measured
    once per run."""

    def __init__(self, config: str, extra: list[str], scratch: str, steps: int = 70):
        self.config, self.extra, self.scratch, self.steps, self.peaks = config, extra, scratch, steps, {}

    def time(self, name: str, flags: list[str]) -> tuple[float, float]:
        """(median seconds per step, tokens per step) of the recipe with `flags` after its own."""
        import statistics

        folder = f"{self.scratch}/{name.replace(', ', '-').replace(' ', '_')}"
        trainer, kind = recipe_trainer(self.config, self.extra, folder, self.steps, flags)
        batch, block = trainer.args.per_device_train_batch_size, trainer.block_size
        tokens = batch * block
        flops = flops_per_token(trainer.model, block)
        if kind not in self.peaks:  # the peak of the precision the step runs in, once per run
            self.peaks[kind] = recipe_peak(trainer, kind)
            print(f"{kind} matmul peak here: {self.peaks[kind]:.3f} TFLOP/s; batch {batch} x {block}", flush=True)
        clock = Intervals()
        trainer.add_callback(clock)
        trainer.train()
        median = statistics.median([b - a for a, b in zip(clock.times, clock.times[1:])][20:])
        faults = statistics.median([b - a for a, b in zip(clock.faults, clock.faults[1:])][20:])
        tps = tokens / median
        print(f"recipe step, {name:<25} {median:.3f} s  {tps:10,.0f} tokens/s  "
              f"{100 * tps * flops / 1e12 / self.peaks[kind]:5.1f}% of the {kind} peak  {faults:8,.0f} page faults a step",
              flush=True)
        return median, tokens


class StepProfiler(TrainerCallback):
    """torch.profiler (CPU activity) over `steps` training steps after `after`, when the compiled graphs and the
    caches are warm, and the wall-clock seconds of each profiled step."""

    def __init__(self, after: int = 30, steps: int = 10):
        self.after, self.steps, self.prof = after, steps, None

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.after:
            self.prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
            self.prof.__enter__()
            self.begin = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.after + self.steps:
            self.seconds = (time.perf_counter() - self.begin) / self.steps
            self.prof.__exit__(None, None, None)


MATRIX_PRODUCTS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def step_breakdown(prof, steps: int) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """Milliseconds a step by where they go, from the profiler's self times (nothing counted twice): the model's
    matrix products (forward and backward), inductor's fused kernels, the optimizer step (Muon's
    orthogonalisation products apart from the rest of it) and everything else; and the five largest fused kernels."""
    def in_optimizer(event) -> bool:
        while event is not None:
            if event.name.startswith("Optimizer.step"):
                return True
            event = event.cpu_parent
        return False

    totals = dict.fromkeys(("matrix products, forward and backward", "compiled fused kernels (norms, rotary, "
                            "softmax, SiLU, loss)", "optimizer: Muon's orthogonalisation products",
                            "optimizer: the rest (momentum, decay, AdamW)", "the rest (Trainer, data, graphs' glue, "
                            "Python)"), 0.0)
    keys = list(totals)
    kernels: dict[str, float] = {}
    for event in prof.events():
        ms = event.self_cpu_time_total / 1000 / steps
        product, optimizer = event.name in MATRIX_PRODUCTS, in_optimizer(event)
        if optimizer:
            key = keys[2] if product else keys[3]
        elif product:
            key = keys[0]
        elif "cpp_fused" in event.name or "triton_" in event.name:
            key = keys[1]
            kernels[event.name] = kernels.get(event.name, 0.0) + ms
        else:
            key = keys[4]
        totals[key] += ms
    return totals, sorted(kernels.items(), key=lambda kv: -kv[1])[:5]


def profile_recipe_step(config: str, extra: list[str], after: int = 30, steps: int = 10) -> dict[str, float]:
    """Where the recipe's own step (Trainer, its optimizer, as written) spends its time: torch.profiler over `steps`
    steps after `after`, each category's milliseconds and share, the model's matrix products' own rate against the
    peak, and the share of the peak the step would reach if everything but those products took no time."""
    if not torch.cuda.is_available():
        from torch._inductor import config as inductor

        inductor.cpp.enable_kernel_profile = True  # each fused C++ kernel an event of its own (see main)
    scratch = tempfile.mkdtemp(prefix="recipe-profile-")
    trainer, kind = recipe_trainer(config, extra, f"{scratch}/run", after + steps)
    tokens = trainer.args.per_device_train_batch_size * trainer.block_size
    flops = flops_per_token(trainer.model, trainer.block_size) * tokens  # the model's matrix products in one step
    profiler = StepProfiler(after, steps)
    trainer.add_callback(profiler)
    before = recipe_peak(trainer, kind)
    trainer.train()
    # Before and after the steps, the better kept: one measurement on this machine once read 0.42 TFLOP/s where the
    # same products ran at 0.70-0.87 minutes apart, and a step cannot outrun its machine's peak.
    peak = max(before, recipe_peak(trainer, kind))
    totals, kernels = step_breakdown(profiler.prof, steps)
    whole = sum(totals.values())
    print(f"profile of the recipe's step as written ({kind}, {steps} steps after {after}; {kind} peak here "
          f"{peak:.3f} TFLOP/s): {1000 * profiler.seconds:.1f} ms a step, "
          f"{100 * flops / profiler.seconds / 1e12 / peak:.1f}% of the peak")
    for name, ms in totals.items():
        print(f"  {name:<62}{ms:8.1f} ms {100 * ms / whole:6.1f}%")
    for name, ms in kernels:  # inductor names a kernel after the operators it fused
        print(f"  kernel {ms:6.2f} ms  {name[:110]}")
    products = totals["matrix products, forward and backward"]
    print(f"the model's matrix products: {flops / 1e9:.1f} GFLOP a step in {products:.1f} ms, "
          f"{100 * flops / (products / 1000) / 1e12 / peak:.1f}% of the peak: the step's share if nothing else in it "
          f"took any time", flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return totals


def recipe_steps(config: str, extra: list[str], steps: int = 70) -> dict[str, float]:
    """Median step time (s) of the recipe's own Trainer on the real data, per (optimizer, variant), and its share of
    the matrix peak of its own precision measured here."""
    scratch = tempfile.mkdtemp(prefix="recipe-step-")  # nothing is saved; no earlier run's folder is in the way
    timer = RecipeStep(config, extra, scratch, steps)
    medians = {}
    variants = RECIPE_VARIANTS
    if not multiplies_bf16_natively():
        # Emulated bf16 is no step anyone trains with here (the recipes train in fp32), and its matrix peak alone
        # took over 20 minutes on a 2-core CPU with AVX2 only (a 3072 square product at about 1 GFLOP/s).
        variants = {name: flags for name, flags in variants.items() if not name.startswith("bf16")}
        print("bf16 variants left out: this CPU has no bf16 instructions, so the recipes train in fp32", flush=True)
    for optimizer in ("muon", "adamw"):
        for variant, flags in variants.items():
            name = f"{optimizer}, {variant}"
            medians[name] = timer.time(name, ["--optimizer", optimizer, *flags])[0]
    shutil.rmtree(scratch, ignore_errors=True)
    return medians


def end_to_end(config: str, extra: list[str], steps: int = 70) -> dict[str, float]:
    """The recipe's whole training job (train_hf.py's: its time budget, evaluations, samples and saving, in a scratch
    folder) between two timings of its own step, as written: the run's tokens/s over its training (what metrics.json
    and `make all` report) against the step's, measured minutes apart in one process, so that a machine whose speed
    drifts from one run to the next cannot make or break the ratio."""
    from machado_gpt.training import train

    scratch = tempfile.mkdtemp(prefix="end-to-end-")
    timer = RecipeStep(config, extra, scratch, steps)
    before, tokens = timer.time("as written, before", [])
    metrics = train(*parse_recipe(["--config", config, "--output_dir", f"{scratch}/run", "--model_dir",
                                   f"{scratch}/model", "--report_to", "none", *extra]))
    after, _ = timer.time("as written, after", [])
    step_tps, run_tps = tokens / ((before + after) / 2), metrics["train_tokens_per_second"]
    print(f"whole run: {run_tps:,.0f} tokens/s over {metrics['max_steps']:,} steps = {100 * run_tps / step_tps:.1f}% "
          f"of the recipe step's {step_tps:,.0f} tokens/s (the mean of before and after)", flush=True)
    print("where the run's wall-clock went: " + ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in
                                                         metrics["time_seconds"].items()), flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return {"run_tokens_per_second": run_tps, "step_tokens_per_second": step_tps}


# --ab's comparisons: (as training runs now, the alternative). Each process applies its mode's change to itself only.
class Comparison(NamedTuple):
    """One --ab comparison: the step as training runs it (`now`), the step with one change (`other`), and the change:
    a module attribute replaced before the recipe is prepared (module, attribute, replacement), or flags after the
    recipe's. A replaced attribute must exist, or the two arms would silently be one (tests check it)."""
    now: str
    other: str
    change: tuple[str, str, Callable] | list[str]


AB = {
    "allocator": Comparison("freed memory kept", "glibc's defaults",
                            ("machado_gpt.training", "keep_freed_memory", lambda: False)),  # applied in prepare()
    # accelerate wraps the forward when Trainer prepares the model
    "fp32_outputs": Comparison("accelerate's fp32 outputs", "outputs as the model computes them",
                               ("accelerate.accelerator", "convert_outputs_to_fp32", lambda forward: forward)),
    "rotary_table": Comparison("rotary table", "rotary computed",
                               ("machado_gpt.training", "tabulate_rotary", lambda model, positions: model)),
    "newton_schulz": Comparison("Newton-Schulz in the machine's dtype", "Newton-Schulz in bf16",
                                ["--muon_dtype", "bf16"]),  # the recipe's own option
    "compile_mode": Comparison("inductor's default mode", "max-autotune",
                               ["--torch_compile_mode", "max-autotune"]),  # a TrainingArguments field
    "batch_size": Comparison("the batch as given", "a batch of 32 rows", ["--per_device_train_batch_size", "32"]),
    "residual_dropout": Comparison("the residual dropout as given", "no residual dropout", ["--residual_dropout", "0"]),
    "causal_mask": Comparison("causal mask table", "mask built at every forward",
                              ("machado_gpt.training", "tabulate_causal_mask", lambda model, positions: model)),
    "loss": Comparison("the direct loss", "the library's loss",
                       ("machado_gpt.training", "use_direct_loss", lambda model: model)),
}


def ab(config: str, extra: list[str], comparison: str, repeats: int = 3, profile: bool = False) -> dict[str, float]:
    """The recipe's step in two settings, each in its own process (a setting holds until its process exits),
    alternating `repeats` times; the best median step of each, and its page faults. `allocator`: glibc's malloc as
    it comes against hardware.keep_freed_memory (what every training run on a CPU sets). `fp32_outputs`: accelerate's
    bf16 wrapper converts the model's outputs to fp32, inside the compiled graph, the 32-MB logits included, which
    the loss (computed inside the model, in fp32) never reads; the alternative leaves them as computed.
    `rotary_table`: training.RotaryTable (cos and sin looked up while training) against the model's own rotary
    embedding, whose cos and sin the compiled backward recomputes for every batch row and head. `newton_schulz`:
    Muon's orthogonalisation as the recipes run it (`muon_dtype: auto`: fp32 on a CPU without bf16 instructions, bf16
    elsewhere, where the two arms are the same) against the recipe with `--muon_dtype bf16`, as torch's Muon does.
    `compile_mode`: Trainer's torch.compile in its default mode against `--torch_compile_mode max-autotune`, where
    inductor times its own C++ GEMM template against aten's for every matrix product and keeps the faster.
    `batch_size`: the recipe's batch, or the one given after `--`, against `--per_device_train_batch_size 32`, the
    recipes' batch. `residual_dropout`: the recipe's, or the one given after `--`, against `--residual_dropout 0`
    (what the forward hooks that drop each block's outputs cost a step). `causal_mask`: training.CausalMaskTable (the
    training block's causal mask computed once) against the mask transformers builds at every forward, which the
    compiled step computes inline in attention's softmax. `loss`: training.direct_causal_lm_loss (on a CPU) against
    transformers' ForCausalLMLoss, whose compiled backward sums a one-hot over the vocabulary for every row. Every
    comparison ranks its arms by tokens/s, so that batches of two sizes compare fairly. With `profile`, each arm's
    process profiles its step instead (profile_recipe_step: where the time goes, its largest fused kernels), and the
    arms are ranked by the profiled milliseconds a step: a change too small for the step's wall-clock noise shows in
    its own kernels."""
    best: dict[str, tuple[float, str]] = {}  # each arm's best score (tokens/s, or minus the profiled ms) and its text
    for repeat in range(repeats):
        for mode in (AB[comparison].other, AB[comparison].now):
            out = subprocess.run([sys.executable, __file__, "--config", config, "--ab_mode", mode,
                                  *(["--profile"] if profile else []), "--", *extra],
                                 capture_output=True, text=True, check=True).stdout
            lines = out.splitlines()
            if profile:
                first = next(i for i, x in enumerate(lines) if x.startswith("profile of"))
                text = "\n".join(lines[first:])
                score = -float(re.search(r"([0-9.]+) ms a step", lines[first]).group(1))
                print(f"repeat {repeat + 1}, {mode}: {text}", flush=True)
            else:
                text = next(x for x in lines if x.startswith("recipe step"))
                score = float(re.search(r"\s([0-9,]+) tokens/s", text).group(1).replace(",", ""))
                print(f"repeat {repeat + 1}: {text}", flush=True)
            if mode not in best or score > best[mode][0]:
                best[mode] = (score, text)
    now, other, _ = AB[comparison]
    if profile:
        print(f"best of {repeats}: {other} {-best[other][0]:.1f} ms a step, {now} {-best[now][0]:.1f} ms; "
              f"ratio of profiled steps, {other} / {now}: {best[other][0] / best[now][0]:.2f}x", flush=True)
        return {mode: -score for mode, (score, _) in best.items()}
    print(f"best of {repeats}:")
    for mode in (other, now):
        print(best[mode][1])
    print(f"ratio of tokens/s, {now} / {other}: {best[now][0] / best[other][0]:.2f}x", flush=True)
    return {mode: score for mode, (score, _) in best.items()}


def ab_child(config: str, extra: list[str], mode: str, profile: bool = False) -> None:
    change = next((c.change for c in AB.values() if c.other == mode), None)  # None: the recipe's step as it runs
    if isinstance(change, list):
        extra = [*extra, *change]
    elif change is not None:
        import importlib

        module, name, replacement = change
        setattr(importlib.import_module(module), name, replacement)
    if profile:
        profile_recipe_step(config, extra)
        return
    scratch = tempfile.mkdtemp(prefix="ab-")
    RecipeStep(config, extra, scratch).time(mode, [])
    shutil.rmtree(scratch, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/machado-gpt-28m.yaml")
    p.add_argument("--batch_size", type=int, default=None, help="default: 8 on a CPU, the recipe's on a GPU")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--vocab_size", type=int, default=210, help="210: the char vocabulary")
    p.add_argument("--peak_tflops", type=float, default=None, help="Use this peak for every precision instead of measuring")
    p.add_argument("--precisions", default=None,
                   help="default fp32,bf16 on a GPU or a CPU with native bf16; fp32 alone elsewhere (bf16 is ~17x slower there)")
    p.add_argument("--compile", action="store_true", help="also time both loops through torch.compile")
    p.add_argument("--repeats", type=int, default=2, help="runs of every variant, interleaved; the best is kept")
    p.add_argument("--profile", action="store_true", help="also print where a bf16 step's time goes (torch.profiler), "
                   "eager and, with --compile, compiled; with --recipe_step: where the recipe's own step's time goes; "
                   "with --ab: each arm's profile, ranked by its profiled step")
    p.add_argument("--recipe_step", action="store_true", help="only time the recipe's own Trainer step: Muon and "
                                                              "AdamW; fp32, bf16, bf16 compiled")
    p.add_argument("--end_to_end", action="store_true", help="run the recipe's whole training job between two "
                                                             "timings of its own step; print the run's share of it")
    p.add_argument("--ab", choices=AB, help="the recipe's step as training runs it and with one change, in "
                                            "alternating processes: " + ", ".join(AB))
    p.add_argument("--ab_mode", choices=[m for c in AB.values() for m in (c.now, c.other)], help=argparse.SUPPRESS)
    p.add_argument("extra", nargs="*", help="--recipe_step: flags for the recipe after its own (e.g. -- --corpus_dir X)")
    a = p.parse_args(argv)
    if a.ab_mode:
        return ab_child(a.config, a.extra, a.ab_mode, a.profile)
    if a.ab or a.recipe_step or a.end_to_end:
        print(device_description(torch.device("cuda" if torch.cuda.is_available() else "cpu")))
        if a.ab:
            return ab(a.config, a.extra, a.ab, a.repeats, a.profile)
        if a.end_to_end:
            return end_to_end(a.config, a.extra)
        return profile_recipe_step(a.config, a.extra) if a.profile else recipe_steps(a.config, a.extra)
    _, _, model_args, _, _, training = parse_recipe(["--config", a.config, "--dropout", "0"])
    cuda = torch.cuda.is_available()
    if not cuda:
        keep_freed_memory()  # as every training run on a CPU does (training.prepare)
        if a.profile and a.compile:
            from torch._inductor import config as inductor

            # Each fused C++ kernel a profiler event of its own (else they hide in their graph's call): set before
            # the first compilation, which the timed runs do; it adds a few hundred ns to each kernel's call.
            inductor.cpp.enable_kernel_profile = True
    device = torch.device("cuda" if cuda else "cpu")
    if a.precisions is None:
        a.precisions = "fp32,bf16" if multiplies_bf16_natively(device) else "fp32"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
    batch = a.batch_size or (training.per_device_train_batch_size if cuda else 8)
    T = model_args.block_size
    blocks = torch.randint(3, a.vocab_size, ((a.warmup + a.steps + 2) * batch, T))
    # Each precision against its own peak, measured here in this run: square products and the model's own shape
    # (a block's tokens @ the first MLP matrix), the larger being what this machine's matrix units reach.
    name = device_description(device)
    C = model_args.n_embd
    peaks = {}
    for precision in a.precisions.split(","):
        square = matmul_tflops(precision, device)
        own = matmul_tflops(precision, device, batch * T, C, model_args.n_inner or 4 * C)
        peaks[precision] = a.peak_tflops or max(square, own)
        print(f"{precision} matmul peak here: {square:.3f} TFLOP/s square, {own:.3f} on the model's shape "
              f"({batch * T} x {C} @ {C} x {model_args.n_inner or 4 * C})", flush=True)
    probe = build_model(model_args, VocabularyShape(a.vocab_size))
    n_params, flops = probe.num_parameters(), flops_per_token(probe, T)
    print(f"{name}; model {n_params:,} parameters; batch {batch} x {T} tokens; {a.steps} timed steps after "
          f"{a.warmup} warm-up; torch threads {torch.get_num_threads()}; CPU native bf16: {cpu_supports_bf16()}", flush=True)
    results: dict[tuple[str, str], float] = {}
    precisions = a.precisions.split(",") + [f"{p}+compile" for p in a.precisions.split(",") if a.compile]
    for repeat in range(a.repeats):  # interleaved, best kept: a machine that drifts slows every variant alike
        for precision in precisions:
            bf16, compile = precision.startswith("bf16"), precision.endswith("+compile")
            for loop_name, loop in (("plain PyTorch", plain_loop), ("Trainer", trainer_loop)):
                torch.manual_seed(0)
                model = build_model(model_args, VocabularyShape(a.vocab_size))
                tps, warmup_s = loop(model, blocks, batch, a.steps, a.warmup, bf16, device, compile=compile)
                results[(precision, loop_name)] = max(tps, results.get((precision, loop_name), 0.0))
                print(f"repeat {repeat + 1}: {precision:>12} {loop_name:<14}{tps:12,.0f} tokens/s  "
                      f"(warm-up steps, compilation included: {warmup_s:.1f} s)", flush=True)
    print(f"best of {a.repeats}:")
    for (precision, loop_name), tps in results.items():
        tflops = tps * flops / 1e12
        peak = peaks[precision.removesuffix("+compile")]
        mfu = f"{100 * tflops / peak:5.1f}% of the {precision.removesuffix('+compile')} peak"
        print(f"{precision:>12} {loop_name:<14}{tps:12,.0f} tokens/s  {tflops:7.3f} TFLOP/s  {mfu}")
    for precision in precisions:
        ratio = results[(precision, "Trainer")] / results[(precision, "plain PyTorch")]
        print(f"{precision}: Trainer / plain loop = {ratio:.2f}")
        if precision.endswith("+compile"):
            for loop_name in ("plain PyTorch", "Trainer"):
                gain = results[(precision, loop_name)] / results[(precision.removesuffix("+compile"), loop_name)]
                print(f"{precision}: compiled / eager ({loop_name}) = {gain:.2f}")
    if "fp32" in a.precisions and "bf16" in a.precisions:
        print(f"bf16 / fp32 (plain loop) = {results[('bf16', 'plain PyTorch')] / results[('fp32', 'plain PyTorch')]:.2f}")
    best = max(results.values())
    print(f"10,000 steps of batch {batch} at the best speed: {10_000 * batch * T / best / 3600:.2f} hours")
    if a.profile:
        bf16 = "bf16" in a.precisions
        for compile in (False, True) if a.compile else (False,):
            torch.manual_seed(0)
            shares, kernels = profile_step(build_model(model_args, VocabularyShape(a.vocab_size)), blocks, batch,
                                           bf16, device, compile=compile)
            print(f"profile of 5 {'bf16' if bf16 else 'fp32'} steps, plain loop{', compiled' if compile else ''}: "
                  f"share of the profiled time")
            for name, share in sorted(shares.items(), key=lambda kv: -kv[1]):
                print(f"  {name:<50}{share:6.1f}%")
            for name, share in kernels:  # inductor names a kernel after the operators it fused
                print(f"  kernel {share:5.1f}%  {name}")
    return results


if __name__ == "__main__":
    main()
