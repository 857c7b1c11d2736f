"""What dynamo's guard check costs the compiled one-token generation step, and what skipping guards buys. Before
every call of a compiled function, dynamo checks that what the graph was traced under still holds (its guards); for
a small model's one-token step that check is a large share of the step. Each setting of torch.compile's
`guard_filter_fn` runs in its own process (its own dynamo cache), the settings alternating --repeats times: the
step's median time on the KV cache, the best block kept, and the guard check's time per call (torch.profiler's
"TorchDynamo Cache Lookup").

    python benchmarks/compile_guards.py --model_dir machado-gpt

generate.py's compiled step uses the second setting (machado_gpt.generation.GUARD_FILTER).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

# setting -> the torch.compiler guard filter it uses (None: dynamo's default, every guard)
SETTINGS = {
    "every guard": None,
    "no guards on nn modules (generate.py's)": "skip_guard_on_all_nn_modules_unsafe",
    "tensor guards only": "keep_tensor_guards_unsafe",
}


def measure(model_dir: str, setting: str, blocks: int = 5) -> dict[str, float]:
    """In this process: the compiled one-token step's median time (us) per block of steps, and the guard check's."""
    from torch.profiler import ProfilerActivity, profile

    from machado_gpt import generation
    from machado_gpt.config import context_length
    from machado_gpt.evaluation import load_model

    name = SETTINGS[setting]
    generation.GUARD_FILTER = getattr(torch.compiler, name) if name else None
    model, _ = load_model(model_dir)
    decoder = generation.TorchDecoder(model, compile=True)
    window = context_length(model.config)
    ids = torch.randint(3, model.config.vocab_size, (1, window))
    half, one = window // 2, ids[:, :1]
    with torch.inference_mode():
        decoder.prefill(ids[:, :half])
        decoder.step(one)  # compiles
        medians = []
        for _ in range(blocks):
            decoder.prefill(ids[:, :half])
            times = []
            for _ in range(window - half - 1):
                start = time.perf_counter()
                decoder.step(one)
                times.append(time.perf_counter() - start)
            medians.append(statistics.median(times))
        decoder.prefill(ids[:, :half])
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(window - half - 1):
                decoder.step(one)
    lookup = next((e for e in prof.key_averages() if e.key == "TorchDynamo Cache Lookup"), None)
    return {"step_us": 1e6 * min(medians), "guard_us": lookup.self_cpu_time_total / lookup.count if lookup else 0.0}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model_dir", default="machado-gpt")
    p.add_argument("--repeats", type=int, default=2, help="processes per setting, alternating; the best is kept")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        print(json.dumps(measure(a.model_dir, a.child)))
        return None
    from machado_gpt.hardware import device_description

    print(device_description(torch.device("cpu")), flush=True)
    best: dict[str, dict[str, float]] = {}
    for repeat in range(a.repeats):
        for setting in SETTINGS:
            proc = subprocess.run([sys.executable, __file__, "--model_dir", a.model_dir, "--child", setting],
                                  capture_output=True, text=True)
            if proc.returncode:
                sys.exit(proc.stderr[-2000:])
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"repeat {repeat + 1}: {setting:<42}step {result['step_us']:7.0f} us, guard check "
                  f"{result['guard_us']:5.0f} us", flush=True)
            if setting not in best or result["step_us"] < best[setting]["step_us"]:
                best[setting] = result
    print(f"best of {a.repeats}, the compiled one-token step on the KV cache:")
    base = best["every guard"]["step_us"]
    for setting, result in best.items():
        print(f"{setting:<42}{result['step_us']:7.0f} us  guard check {result['guard_us']:5.0f} us a call  "
              f"{base / result['step_us']:.2f}x every guard's speed")
    return best


if __name__ == "__main__":
    main()
