"""Long-form generation speed: KV cache with re-prefill (generate.py) against recomputing the full window for
every token (the thesis's method), same model, same machine, same run. Prints both speeds and the ratio, eager
and (with --compile) through torch.compile, where each method gets the compiler too.

    python benchmarks/generation_speed.py --model_dir machado-gpt --compile
    python benchmarks/generation_speed.py --config configs/machado-gpt-28m.yaml   # a random model of that shape

The text starts from a prompt that fills the window (the --prompt text repeated), so both methods run in the
regime long-form generation lives in: the full recompute always sees n_positions tokens, the cache re-prefills
every (1 - keep_fraction) * n_positions tokens. --short_prompt starts from the bare prompt instead (the
thesis's 512 characters from one word: the recompute's window is shorter for the first n_positions tokens).
Variants are interleaved and the best of --repeats is kept, so a noisy machine slows them alike.
--num_samples 8 also times batches of 8 samples of one prompt (generate.py --num_samples, the demo's variants):
their tokens/s count every sample's tokens.

Each line's share of the machine: 2 * parameters + 4 * n_layer * n_embd * context FLOPs per token (the forward half
of train_throughput.py's count, at a full window) against the fp32 matrix-product peak measured in the same run, on a
square product and on the model's own one-token shape (1 x n_embd @ n_embd x 4 n_embd), the better of the two.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from machado_gpt.config import context_length
from machado_gpt.evaluation import load_model
from machado_gpt.generation import SamplingArguments, generate_batch, generate_full_recompute, generate_tokens
from machado_gpt.hardware import device_description, flops_per_token, matmul_tflops


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model_dir", default="machado-gpt")
    p.add_argument("--config", default=None, help="benchmark a randomly initialised model of this recipe's shape")
    p.add_argument("--prompt", default="Capitu olhou para mim com os olhos de ressaca. ")
    p.add_argument("--short_prompt", action="store_true", help="start from the bare prompt, not a full window")
    p.add_argument("--max_new_tokens", type=int, default=512)
    p.add_argument("--keep_fraction", type=float, default=SamplingArguments.keep_fraction)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--compile", action="store_true", help="also time both methods through torch.compile")
    p.add_argument("--num_samples", type=int, default=1, help="also time batches of this many samples of one prompt")
    p.add_argument("--onnx", action="store_true", help="also time the onnxruntime backend (the optimized, fp32 and "
                                                        "int8 files of <model_dir>/onnx/, from export_onnx.py)")
    a = p.parse_args(argv)
    model, tokenizer = load_model(a.model_dir)
    if a.config:
        from machado_gpt.config import build_model, parse_recipe

        model_args = parse_recipe(["--config", a.config, "--dropout", "0"])[2]
        torch.manual_seed(0)
        model = build_model(model_args, tokenizer).to(model.device).eval()
    window = context_length(model.config)
    ids = tokenizer(a.prompt, add_special_tokens=False)["input_ids"]
    if not a.short_prompt:
        ids = (ids * (window // len(ids) + 1))[-window:]
    args = SamplingArguments(max_new_tokens=a.max_new_tokens, temperature=0, keep_fraction=a.keep_fraction)  # greedy

    def batched(n: int, backend=None):
        def fn(model, ids, args, compile):
            for step in generate_batch(backend or model, ids, args, n, compile=compile):
                yield from step.tolist()
        return fn

    variants = {"KV cache + re-prefill": (generate_tokens, False), "full recompute (thesis)": (generate_full_recompute, False)}
    if a.compile:
        variants |= {"KV cache + re-prefill, compiled": (generate_tokens, True),
                     "full recompute, compiled": (generate_full_recompute, True)}
    if a.num_samples > 1:
        variants[f"batch of {a.num_samples}, KV cache"] = (batched(a.num_samples), False)
        if a.compile:
            variants[f"batch of {a.num_samples}, KV cache, compiled"] = (batched(a.num_samples), True)
    if a.onnx:
        from machado_gpt.onnx_export import FP32, INT8, ONNX_DIR, OPTIMIZED, OnnxDecoder

        files = {name: OnnxDecoder(Path(a.model_dir) / ONNX_DIR / name, model.config) for name in (OPTIMIZED, FP32, INT8)}
        variants |= {f"onnxruntime {name}": (batched(1, decoder), False) for name, decoder in files.items()}
        if a.num_samples > 1:
            for name in (OPTIMIZED, FP32):
                variants[f"batch of {a.num_samples}, onnxruntime {name}"] = (batched(a.num_samples, files[name]), False)
    for name, (fn, compile) in variants.items():  # warm-up, and compilation, outside the timings
        start = time.perf_counter()
        sum(1 for _ in fn(model, ids, SamplingArguments(max_new_tokens=window + 2, temperature=0), compile=compile))
        print(f"warm-up {name}: {time.perf_counter() - start:.1f} s")
    speed = dict.fromkeys(variants, 0.0)
    for _ in range(a.repeats):
        for name, (fn, compile) in variants.items():
            start = time.perf_counter()
            n = sum(1 for _ in fn(model, ids, args, compile=compile))
            speed[name] = max(speed[name], n / (time.perf_counter() - start))

    c = model.config
    width = c.hidden_size
    peak = max(matmul_tflops("fp32", model.device), matmul_tflops("fp32", model.device, 1, width, 4 * width))
    flops = flops_per_token(model, window, training=False)
    print(device_description(model.device))
    print(f"model {model.num_parameters():,} parameters ({a.config or a.model_dir}), device {model.device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, context {window}, "
          f"prompt {len(ids)} tokens, {a.max_new_tokens} new tokens, keep_fraction {a.keep_fraction}, best of {a.repeats}")
    print(f"fp32 matrix-product peak measured in this run: {peak:.3f} TFLOP/s; "
          f"{flops / 1e6:.2f} MFLOP per token (matrix products)")
    for name, tps in speed.items():
        print(f"{name:40s} {tps:10.1f} tokens/s  {100 * tps * flops / (peak * 1e12):5.2f}% of the fp32 peak")
    ratios = {"eager": speed["KV cache + re-prefill"] / speed["full recompute (thesis)"]}
    if a.compile:
        ratios["compiled"] = speed["KV cache + re-prefill, compiled"] / speed["full recompute, compiled"]
        ratios["compiled cache / eager recompute"] = speed["KV cache + re-prefill, compiled"] / speed["full recompute (thesis)"]
    for name, r in ratios.items():
        print(f"ratio, {name + ':':34s} {r:6.2f}x")
    return ratios


if __name__ == "__main__":
    main()
