"""Long-form generation speed: KV cache with re-prefill (generate.py) against recomputing the full window for
every token (the thesis's method), same model, same machine, same run. Prints both speeds and the ratio.

    python benchmarks/generation_speed.py --model_dir machado-gpt --max_new_tokens 512
    python benchmarks/generation_speed.py --config configs/machado-gpt-28m.yaml   # a random model of that shape

The gap grows with the model: for a tiny model each forward pass costs mostly Python and framework overhead,
whatever its length; for larger ones the 128-token recomputation dominates.
"""

from __future__ import annotations

import argparse
import time

import torch

from machado_gpt.evaluation import load_model
from machado_gpt.generation import SamplingArguments, generate_full_recompute, generate_tokens


def tokens_per_second(fn, model, prompt_ids, args, repeats: int) -> float:
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        n = sum(1 for _ in fn(model, prompt_ids, args))
        best = max(best, n / (time.perf_counter() - start))
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model_dir", default="machado-gpt")
    p.add_argument("--config", default=None, help="benchmark a randomly initialised model of this recipe's shape")
    p.add_argument("--prompt", default="Capitu")
    p.add_argument("--max_new_tokens", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    model, tokenizer = load_model(a.model_dir)
    if a.config:
        from machado_gpt.config import build_model, parse_recipe

        model_args = parse_recipe(["--config", a.config, "--dropout", "0"])[2]
        torch.manual_seed(0)
        model = build_model(model_args, tokenizer).eval()
    ids = tokenizer(a.prompt)["input_ids"]
    args = SamplingArguments(max_new_tokens=a.max_new_tokens, temperature=0)  # greedy: same work for both
    tokens_per_second(generate_tokens, model, ids, SamplingArguments(max_new_tokens=8, temperature=0), 1)  # warm-up
    cached = tokens_per_second(generate_tokens, model, ids, args, a.repeats)
    full = tokens_per_second(generate_full_recompute, model, ids, args, a.repeats)
    print(f"model {model.num_parameters():,} parameters ({a.config or a.model_dir}), device {model.device}, "
          f"torch threads {torch.get_num_threads()}, context {model.config.n_positions}, "
          f"{a.max_new_tokens} new tokens, best of {a.repeats}")
    print(f"KV cache + re-prefill: {cached:10.1f} tokens/s")
    print(f"full recompute:        {full:10.1f} tokens/s")
    print(f"ratio:                 {cached / full:10.2f}x")
    return cached / full


if __name__ == "__main__":
    main()
