"""What the machine is and what it can do: a one-line description (CPU model and bf16 flags, GPU name) and the
matrix-product peak of each precision, measured rather than quoted, so that every MFU is a share of a rate that
this machine reached in the same run."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_supports_bf16() -> bool:
    """bf16 autocast pays on a CPU only with native bf16 instructions (AVX512-BF16 or AMX)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def multiplies_bf16_natively(device: torch.device | None = None) -> bool:
    """A GPU, or a CPU with bf16 instructions: where bf16 is the fast precision (elsewhere it is emulated, and fp32's
    products ran about 100x faster on a 2-core AVX2 CPU). `device` None: the one training uses (the GPU if any)."""
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return device.type == "cuda" or cpu_supports_bf16()


def has_cpp_compiler() -> bool:
    """Whether torch.compile can build its CPU kernels: inductor writes C++ and needs a compiler (g++, or $CXX)."""
    from torch._inductor import exc
    from torch._inductor.cpp_builder import get_cpp_compiler

    try:
        get_cpp_compiler()
    except exc.InvalidCxxCompiler:
        return False
    return True


def cpu_description() -> str:
    """'AMD EPYC, 2 cores, torch 2.13.0, 2 threads, bf16 hardware: AVX512-BF16': printed by every benchmark."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = [f for f, ok in (("AVX512-BF16", torch.cpu._is_avx512_bf16_supported()),
                             ("AMX", torch.cpu._is_amx_tile_supported())) if ok]
    return (f"{name}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads, "
            f"bf16 hardware: {', '.join(flags) or 'none (bf16 autocast is slow here: training runs fp32)'}")


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        return (f"{p.name}, {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs, capability "
                f"{p.major}.{p.minor}, torch {torch.__version__}, CUDA {torch.version.cuda}; host CPU {cpu_description()}")
    return f"CPU: {cpu_description()}"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_tflops(precision: str, device: torch.device, m: int | None = None, k: int | None = None,
                  n: int | None = None, repeats: int = 10) -> float:
    """Best TFLOP/s of (m x k) @ (k x n) products in `precision` on random data (zeros run faster than real data).
    Default: square 8192 on a GPU, 3072 on a CPU. fp32 on a GPU runs as TF32 when the caller allowed it."""
    size = 8192 if device.type == "cuda" else 3072
    m, k, n = m or size, k or size, n or size
    dtype = DTYPES[precision]
    a = torch.randn(m, k, device=device).to(dtype)
    b = torch.randn(k, n, device=device).to(dtype)
    best = float("inf")
    for i in range(repeats + 2):  # two warm-ups: kernel selection, clocks
        synchronize(device)
        start = time.perf_counter()
        torch.mm(a, b)
        synchronize(device)
        if i >= 2:
            best = min(best, time.perf_counter() - start)
    return 2 * m * k * n / best / 1e12


def matmul_parameters(model: torch.nn.Module) -> int:
    """Parameters that enter a matrix product at every token: all but the embedding tables that are only looked up
    (the input embedding when the output head has a matrix of its own, as Qwen3's here; GPT-2's learned positions).
    A lookup costs no FLOPs: counting the main model's input embedding would overstate its step's FLOPs by 22%. A
    tied table is the output head's matrix too, so it counts."""
    head = model.get_output_embeddings()
    head_weight = head.weight if head is not None else None
    looked_up = sum(m.weight.numel() for m in model.modules()
                    if isinstance(m, torch.nn.Embedding) and m.weight is not head_weight)
    return model.num_parameters() - looked_up


def flops_per_token(model: torch.nn.Module, context: int, training: bool = True) -> int:
    """Matrix-product FLOPs per token, PaLM's count (Chowdhery et al. 2022, appendix B): 6 per matrix parameter for
    a training step (forward and backward; 2 when generating) plus attention's scores and weighted sum over
    `context` positions, 12 x layers x attention width x context (4 x ... when generating). torch's FlopCounterMode
    agrees on a real step within the norms' gains (tests)."""
    c = model.config
    width = c.num_attention_heads * (getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads)
    per_parameter, attention = (6, 12) if training else (2, 4)
    return per_parameter * matmul_parameters(model) + attention * c.num_hidden_layers * width * context


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed memory for the next step instead of returning it to the system.

    A training step on a CPU allocates and frees the same large activations every step (the main model's logits
    alone are 32 MB). glibc serves blocks over its mmap threshold with fresh mappings and unmaps them when freed,
    and trims the heap's top above 128 KB, so every step faulted its activations' pages in again: 16,386 page faults
    a step of the main recipe, 0.203 s against 0.177 s with this setting, best of 3 in alternating processes
    (`benchmarks/train_throughput.py --ab allocator`, docs/performance.md). It is what Intel's PyTorch CPU guide
    gets from swapping in jemalloc or tcmalloc, done with glibc's own knobs at run time (mallopt): no mmap for large
    blocks (glibc still falls back to mmap when the heap cannot grow) and no trimming. The process then holds its
    peak memory until it exits. Returns whether it applied (glibc only; elsewhere nothing changes)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    import ctypes

    M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # malloc.h
    libc = ctypes.CDLL(None)  # this process's own C library
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))  # an int: 2 GiB
