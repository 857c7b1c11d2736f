"""Timings of the model in other clients, one run on one machine: the ONNX export (and int8 quantization), then
greedy generation of the same tokens in PyTorch (generate.py's path), onnxruntime (Python), transformers.js in Node
(onnxruntime-node) and transformers.js in headless Chromium (onnxruntime-web, WebAssembly, one thread).

    python benchmarks/clients.py --model_dir machado-gpt --new_tokens 200
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from machado_gpt.evaluation import load_model  # noqa: E402
from machado_gpt.generation import SamplingArguments, generate_tokens  # noqa: E402
from machado_gpt.hardware import cpu_description  # noqa: E402
from machado_gpt.onnx_export import FP32, INT8, ExportArguments, OnnxLM, run_export  # noqa: E402
from machado_gpt.web import browser_generate  # noqa: E402


def timed(fn) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def node(model_dir: Path, n: int, dtype: str) -> float:
    """Seconds of generation as generate.mjs measures it (model loading excluded)."""
    proc = subprocess.run(["node", str(ROOT / "web/generate.mjs"), str(model_dir), "Capitu", str(n), "0", dtype],
                          capture_output=True, text=True, check=True)
    return float(proc.stderr.split(" tokens in ")[1].split(" s")[0])


def main(argv=None) -> list[tuple[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", default="machado-gpt")
    parser.add_argument("--new_tokens", type=int, default=200)
    parser.add_argument("--skip_export", action="store_true", help="time only generation (onnx/ already there)")
    a = parser.parse_args(argv)
    folder = Path(a.model_dir)
    print(f"CPU: {cpu_description()}", flush=True)
    rows = []
    if not a.skip_export:
        report = run_export(ExportArguments(model_dir=str(folder), check_tokens=0), log=lambda *x: None)
        rows += [("export to ONNX (dynamo), s", report["seconds"]["export"]),
                 ("int8 quantization, s", report["seconds"]["quantize"])]
    model, tokenizer = load_model(str(folder))
    prompt = tokenizer("Capitu", add_special_tokens=False)["input_ids"]
    n = a.new_tokens
    args = SamplingArguments(max_new_tokens=n, temperature=0)
    _, seconds = timed(lambda: list(generate_tokens(model, prompt, args)))
    rows.append(("PyTorch (KV cache, eager), tokens/s", n / seconds))
    for name, label in ((FP32, "fp32"), (INT8, "int8")):
        lm = OnnxLM(folder / "onnx" / name, model.config)
        lm.greedy(prompt, 8)  # warm-up
        _, seconds = timed(lambda: lm.greedy(prompt, n))
        rows.append((f"onnxruntime Python, {label}, tokens/s", n / seconds))
        rows.append((f"transformers.js Node, {label}, tokens/s", n / node(folder, n, "fp32" if label == "fp32" else "q8")))
    page = browser_generate(folder, "Capitu", n, temperature=0, dtype="q8")
    rows.append(("transformers.js Chromium (WebAssembly, 1 thread), int8, tokens/s", page["tokens"] / page["seconds"]))
    print(f"\n{folder} ({model.config.model_type}, {model.num_parameters():,} parameters), {n} greedy tokens")
    for name, value in rows:
        print(f"{name:<70}{value:>10.1f}")
    return rows


if __name__ == "__main__":
    main()
