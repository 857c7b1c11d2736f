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
