"""The design card's 28.5M GPT-2 on one GPU, side by side with the thesis's own script: one prepared run of at most
8 minutes (GPU time is rented by the minute), three stages, one JSON and one Markdown table in --output_dir.

    make gpu-bundle    # once, where pip reaches PyPI: wheels, dataset, tokenizers and the thesis's input -> gpu-bundle/
    make gpu-check     # on the GPU machine, no network: python benchmarks/gpu_check.py --bundle gpu-bundle
    python benchmarks/gpu_check.py --device cpu --tiny --output_dir out/gpu-check-tiny   # every stage at toy size
    python benchmarks/gpu_check.py report --output_dir docs/results   # the table and chart again, from its JSON

(a) The thesis's script (`machado-gpt.py`, MIT; from ../shared/thesis, or the copy `make gpu-bundle` puts in the
    ignored bundle for machines without ../shared) at its own settings: 28.5M parameters, batch 512 x 128, fp32.
    Tokens/s after warm-up, and the projected time of its 10,000 steps (the thesis reports 8 h on an A100).
(b) Our configs/machado-gpt-28m.yaml, same shape, char vocabulary, batch 512 x 128, through our Trainer, in bf16,
    bf16 + torch.compile and fp16 with the grad scaler (the T4 path): tokens/s, MFU against the bf16 matrix peak
    measured in this run, and the ratio to (a). Before timing, the loss of one fixed batch in bf16 and fp16 is checked
    against fp32.
(c) The best model one GPU trains in 4 minutes: configs/gpu-4min.yaml through train() with its time budget,
    compiled if (b) measured that compilation pays; test bits/char over the whole split, word validity at the
    default sampling and at temperature 1.0, samples. The table is written here, so nothing needs the model folder.

Stage times scale with --budget (seconds, default 480): (a) 8%, each of (b)'s three 6%, (c) 50%; compilation and
the final evaluation come on top. Results are written after each stage, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

THESIS_STEPS, THESIS_A100_HOURS = 10_000, 8.0
# The thesis's own 28.5M settings; only the loop's bookkeeping is changed: max_iters (the budget ends the loop) and
# its evaluations (50 + 50 batches at step 0 and every 1,000 steps), cut to one short one, since we time training.
THESIS_SIZE = {"batch_size": 512, "context_len": 128, "n_embd": 512, "n_head": 32, "n_layer": 9, "learning_rate": 1e-3,
               "dropout": 0.2, "max_iters": 10**9, "eval_interval": 10**9, "eval_iters": 2}
THESIS_TINY = {**THESIS_SIZE, "batch_size": 8, "context_len": 32, "n_embd": 32, "n_head": 2, "n_layer": 1}
TINY_MODEL = ["--n_layer", "1", "--n_embd", "32", "--n_head", "2", "--n_positions", "32"]
# Packages a stock PyTorch + transformers GPU image lacks for the training path (the device tool's H200 image has
# pyarrow, pandas, xxhash, fsspec, aiohttp, huggingface_hub; not these). Pure-Python except multiprocess.
BUNDLE_WHEELS = ("datasets", "evaluate", "dill", "multiprocess")
BUNDLE_PYTHON = "3.12"


# ----------------------------------------------------------------------------------------------------- the bundle
def make_bundle(a) -> None:
    """The ignored folder a GPU machine without internet needs: wheels, the built dataset, the tokenizers of the
    recipes, and the thesis script with its input (raw train text), under 64 MiB."""
    from importlib.metadata import version

    from thesis_baseline import THESIS, raw_train_text

    from machado_gpt.config import parse_recipe
    from machado_gpt.training import dataset_and_tokenizer

    out = Path(a.bundle)
    wheels = out / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for name in BUNDLE_WHEELS:  # the versions this project's tests ran with
        for py in sorted({BUNDLE_PYTHON, f"{sys.version_info.major}.{sys.version_info.minor}"}):
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                            "--python-version", py, "--implementation", "cp", "--platform", "manylinux2014_x86_64",
                            "--platform", "manylinux_2_17_x86_64", "--platform", "any", "-d", str(wheels),
                            f"{name}=={version(name)}"], check=True)
    for recipe in ("configs/machado-gpt-28m.yaml", "configs/gpu-4min.yaml"):
        data, tok, model, _, _, training = parse_recipe(["--config", str(ROOT / recipe), "--dataset_dir",
                                                         str(out / "machado-dataset")])
        tok.tokenizer_dir = str(out / Path(tok.tokenizer_dir).name)
        dataset_and_tokenizer(data, tok, model, training)
    for cache in (out / "machado-dataset").glob("*/cache-*.arrow"):  # Dataset.map caches: rebuilt where it runs
        cache.unlink()
    thesis = out / "thesis"
    (thesis / "processado").mkdir(parents=True, exist_ok=True)
    shutil.copy(THESIS, thesis / "machado-gpt.py")  # ignored, never committed: machines without ../shared
    raw = raw_train_text(argparse.Namespace(corpus_dir=None, raw_dataset_dir="data/machado-dataset-raw"))
    (thesis / "processado" / "textos_concatenados.txt").write_text(raw, encoding="utf-8")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"bundle {out}: {size / 2**20:.1f} MiB ({', '.join(sorted(p.name for p in wheels.iterdir()))})")
    if size > 64 * 2**20:
        raise SystemExit(f"bundle {out} is {size / 2**20:.0f} MiB, over 64 MiB")


# ------------------------------------------------------------------------------------------------------- stage (a)
def stage_thesis(a, device, seconds: float) -> dict:
    """The thesis's script, its model and loop unchanged, timed from its 4th optimizer step to the budget's end."""
    from thesis_baseline import THESIS, TimeUp, patched_source

    from machado_gpt.hardware import synchronize

    bundle_copy = Path(a.bundle) / "thesis" / "machado-gpt.py"
    script = THESIS if THESIS.is_file() else bundle_copy
    text = Path(a.bundle) / "thesis" / "processado" / "textos_concatenados.txt"
    workdir = Path(a.output_dir) / "thesis-run"
    (workdir / "processado").mkdir(parents=True, exist_ok=True)
    raw = text.read_text(encoding="utf-8") if text.is_file() else _raw_text_here()
    (workdir / "processado" / "textos_concatenados.txt").write_text(raw[: 200_000] if a.tiny else raw, encoding="utf-8")
    size = THESIS_TINY if a.tiny else THESIS_SIZE
    code = compile(patched_source(script, size), str(script), "exec")
    ns: dict = {"__name__": "thesis"}
    warmup, mark = 3, {"steps": 0, "t0": None}
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        exec(code, ns)  # reads the data, builds the model on the GPU if there is one
        if device.type == "cpu" and str(ns["device"]) != "cpu":
            raise SystemExit("--device cpu, but the thesis script picked the GPU")
        get_batch, optimizer_step = ns["get_batch"], ns["optimizer"].step

        def budgeted_get_batch(split):
            if split == "train" and mark["t0"] is not None and time.perf_counter() - mark["t0"] > seconds:
                raise TimeUp
            return get_batch(split)

        def counted_step(*args, **kwargs):
            out = optimizer_step(*args, **kwargs)
            mark["steps"] += 1
            if mark["steps"] == warmup:
                synchronize(device)
                mark["t0"] = time.perf_counter()
            return out

        ns["get_batch"], ns["optimizer"].step = budgeted_get_batch, counted_step
        ns["train"]()
    except TimeUp:
        synchronize(device)
    finally:
        os.chdir(cwd)
    elapsed = time.perf_counter() - mark["t0"]
    steps = mark["steps"] - warmup
    tokens = size["batch_size"] * size["context_len"]
    step_s = elapsed / max(steps, 1)
    return {"script": str(script.name), "parameters": sum(p.numel() for p in ns["model"].parameters()),
            "precision": "fp32", "batch": f"{size['batch_size']} x {size['context_len']}", "timed_steps": steps,
            "seconds": round(elapsed, 1), "tokens_per_second": round(steps * tokens / elapsed, 1),
            "step_seconds": round(step_s, 4), "projected_10k_steps_minutes": round(THESIS_STEPS * step_s / 60, 2)}


def _raw_text_here() -> str:
    from thesis_baseline import raw_train_text

    return raw_train_text(argparse.Namespace(corpus_dir=None, raw_dataset_dir="data/machado-dataset-raw"))


# ------------------------------------------------------------------------------------------------------- stage (b)
def recipe_argv(a, config: str) -> list[str]:
    argv = ["--config", str(ROOT / config), "--dataset_dir", str(Path(a.bundle) / "machado-dataset")]
    return argv + (TINY_MODEL + ["--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "16",
                                 "--dataloader_num_workers", "0"] if a.tiny else [])


def train_blocks(a, config: str):
    """The recipe's model arguments, tokenizer and real train blocks (the bundle's dataset and tokenizer)."""
    from machado_gpt.config import parse_recipe
    from machado_gpt.data import pack
    from machado_gpt.tokenizer import tokenize_dataset
    from machado_gpt.training import dataset_and_tokenizer

    data, tok, model_args, opt, run, training = parse_recipe(recipe_argv(a, config))
    tok.tokenizer_dir = str(Path(a.bundle) / Path(tok.tokenizer_dir).name)
    dsd, tokenizer = dataset_and_tokenizer(data, tok, model_args, training, log=lambda *x: None)
    blocks = pack(tokenize_dataset(dsd, tokenizer)["train"]["input_ids"], model_args.block_size)
    return model_args, opt, training, tokenizer, blocks


def loss_agreement(trained, model_args, tokenizer, blocks, device) -> dict:
    """Loss of one fixed batch (dropout off) in fp32, and in bf16 and fp16 autocast: the relative differences.
    On a fresh copy of the trained weights: accelerate wraps a prepared model's forward in autocast for good, so the
    trained object itself would compute its "fp32" loss in mixed precision too."""
    import torch

    from machado_gpt.config import build_model

    model = build_model(model_args, tokenizer)
    model.load_state_dict(trained.state_dict())
    model.to(device).eval()
    x = blocks.blocks[:8].to(device)
    out = {}
    with torch.no_grad():
        ref = model(input_ids=x, labels=x).loss.float().item()
        out["fp32_loss"] = round(ref, 5)
        for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
            with torch.autocast(device.type, dtype=dtype):
                loss = model(input_ids=x, labels=x).loss.float().item()
            out[f"{name}_relative_difference"] = abs(loss - ref) / ref
    # Mixed-precision tolerance on a loss near 2 nats: bf16 keeps 8 bits of mantissa (~0.4% per rounding).
    out["agree"] = all(math.isfinite(v) and v < 2e-2 for k, v in out.items() if k.endswith("difference"))
    return out


def timed_trainer(model_args, opt, training, tokenizer, blocks, precision: str, compile: bool, seconds: float,
                  device, agreement: bool = False) -> dict:
    """Our Trainer (the recipe's optimizer, data loader and logging) on the real train blocks for `seconds` after
    warm-up (compilation included in the warm-up, reported apart). Host synchronization only at the two timing marks.
    With `agreement`, the trained model's loss is then checked across precisions (an untrained model predicts a
    near-uniform distribution whose loss, ln(vocabulary), no rounding moves)."""
    import dataclasses

    import torch
    from transformers import TrainerCallback

    from machado_gpt.config import build_model
    from machado_gpt.hardware import flops_per_token, synchronize
    from machado_gpt.training import MachadoTrainer

    warmup = 5

    class Clock(TrainerCallback):
        def __init__(self):
            self.begin, self.t0, self.steps, self.seconds = time.perf_counter(), None, 0, 0.0

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == warmup:
                synchronize(device)
                self.t0 = time.perf_counter()
                self.warmup_seconds = self.t0 - self.begin
            elif self.t0 is not None and state.global_step % 5 == 0 and time.perf_counter() - self.t0 > seconds:
                synchronize(device)
                self.steps, self.seconds = state.global_step - warmup, time.perf_counter() - self.t0
                control.should_training_stop = True

    args = dataclasses.replace(
        training, output_dir=str(Path(training.output_dir) / "gpu-check"), max_steps=10**7, eval_strategy="no",
        save_strategy="no", load_best_model_at_end=False, disable_tqdm=True, report_to=[],
        bf16=precision == "bf16", fp16=precision == "fp16", torch_compile=compile, use_cpu=device.type == "cpu",
        dataloader_pin_memory=device.type == "cuda",
    )
    torch.manual_seed(0)
    model = build_model(model_args, tokenizer)
    clock = Clock()
    trainer = MachadoTrainer(model=model, args=args, train_dataset=blocks, processing_class=tokenizer,
                             callbacks=[clock], block_size=model_args.block_size, opt_args=opt)
    trainer.train()
    tokens = args.per_device_train_batch_size * args.gradient_accumulation_steps * model_args.block_size
    row = {"precision": precision + (" + compile" if compile else ""), "parameters": model.num_parameters(),
           "batch": f"{args.per_device_train_batch_size} x {model_args.block_size}", "timed_steps": clock.steps,
           "seconds": round(clock.seconds, 1), "warmup_seconds": round(clock.warmup_seconds, 1),
           "tokens_per_second": round(clock.steps * tokens / max(clock.seconds, 1e-9), 1),
           "flops_per_token": flops_per_token(model, model_args.block_size), "tokens_per_step": tokens}
    if agreement:
        row["loss_agreement"] = loss_agreement(model, model_args, tokenizer, blocks, device)
    del trainer, model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


# ------------------------------------------------------------------------------------------------------- stage (c)
def stage_best(a, seconds: float, compile: bool) -> dict:
    """configs/gpu-4min.yaml through train() and its time budget, then word validity of samples."""
    from machado_gpt.config import parse_recipe
    from machado_gpt.evaluation import load_model, quality
    from machado_gpt.training import train

    out = Path(a.output_dir)
    argv = recipe_argv(a, "configs/gpu-4min.yaml") + [
        "--time_budget", f"{seconds:.0f}s", "--output_dir", str(out / "gpu-4min-run"), "--model_dir",
        str(out / "gpu-4min-model"), "--torch_compile", str(compile)]
    if a.tiny:
        argv += ["--tokenizer_kind", "char", "--max_eval_blocks", "64", "--eval_steps", "20"]
    shutil.rmtree(out / "gpu-4min-run", ignore_errors=True)  # a fresh run each time: the check measures, never resumes
    shutil.rmtree(out / "gpu-4min-model", ignore_errors=True)
    data, tok, model_args, opt, run, training = parse_recipe(argv)
    tok.tokenizer_dir = str(Path(a.bundle) / Path(tok.tokenizer_dir).name)
    metrics = train(data, tok, model_args, opt, run, training)
    model, tokenizer = load_model(run.model_dir)
    from machado_gpt.evaluation import load_dataset_dict

    train_text = "\n".join(load_dataset_dict(data.dataset_dir)["train"]["text"])
    q = quality(model, tokenizer, train_text, n=4 if a.tiny else 16, max_new_tokens=40 if a.tiny else 150)
    for name in ("metrics.json", "README.md"):
        shutil.copy(Path(run.model_dir) / name, out / f"gpu-4min-{name}")
    return {"recipe": "configs/gpu-4min.yaml", "compiled": compile, "parameters": metrics["parameters"],
            "steps": metrics["max_steps"], "wall_seconds": metrics["wall_seconds"],
            "tokens_per_second": metrics["train_tokens_per_second"],
            "tokens_seen": metrics["max_steps"] * metrics["global_batch_sequences"] * model_args.block_size,
            "test_bpc": round(metrics["test_bpc"], 4), "validation_bpc": round(metrics["eval_bpc"], 4),
            "word_validity": q["word_validity"], "word_validity_temperature_1": q["thesis_sampling"]["word_validity"],
            "samples": q["examples"]}


# ------------------------------------------------------------------------------------------------------ the report
def markdown(r: dict) -> str:
    peak_precision = r["peak_precision"]
    size = "512^3" if r["device"].startswith("CPU") else "8192^3"
    lines = [f"GPU check on {r['device']}; {peak_precision} matrix peak measured here: "
             f"{r[peak_precision + '_peak_tflops']:.4g} TFLOP/s ({size}, random data).", ""]
    a = r.get("thesis")
    if a:
        lines += [f"| run | precision | batch | tokens/s | MFU ({peak_precision} peak) | vs thesis | 10,000 steps |",
                  "|---|---|---|---:|---:|---:|---:|",
                  f"| (a) thesis script, {a['parameters'] / 1e6:.1f}M | fp32 | {a['batch']} | {a['tokens_per_second']:,.0f} "
                  f"| {a['mfu']:.1%} | 1.0x | {a['projected_10k_steps_minutes']:,.1f} min |"]
    for row in r.get("ours", []):
        ratio = f"{row['tokens_per_second'] / a['tokens_per_second']:.1f}x" if a else "n/a"
        lines.append(f"| (b) machado-gpt-28m.yaml, {row['parameters'] / 1e6:.1f}M | {row['precision']} | {row['batch']} "
                     f"| {row['tokens_per_second']:,.0f} | {row['mfu']:.1%} | {ratio} "
                     f"| {row['projected_10k_steps_minutes']:,.1f} min |")
    if r.get("loss_agreement"):
        la = r["loss_agreement"]
        lines += ["", f"Loss of one fixed batch: fp32 {la['fp32_loss']}, bf16 off by {la['bf16_relative_difference']:.3%}, "
                      f"fp16 off by {la['fp16_relative_difference']:.3%} ({'agree' if la['agree'] else 'DISAGREE'})."]
    c = r.get("best")
    if c:
        lines += ["", "| (c) 4 GPU-minutes | parameters | steps | tokens seen | tokens/s | test bits/char | word validity "
                      "| at temperature 1.0 |", "|---|---:|---:|---:|---:|---:|---:|---:|",
                  f"| {c['recipe']}{' (compiled)' if c['compiled'] else ''} | {c['parameters'] / 1e6:.1f}M | {c['steps']:,} "
                  f"| {c['tokens_seen'] / 1e6:,.0f}M | {c['tokens_per_second']:,.0f} | {c['test_bpc']:.3f} "
                  f"| {c['word_validity']:.1%} | {c['word_validity_temperature_1']:.1%} |", "",
                  "Samples:", *[f"- {s!r}" for s in c["samples"]]]
    return "\n".join(lines) + "\n"


def save(r: dict, out: Path) -> None:
    from machado_gpt.plots import gpu_check_chart

    (out / "gpu_check.json").write_text(json.dumps(r, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "gpu_check.md").write_text(markdown(r), encoding="utf-8")
    if r.get("thesis") or r.get("ours"):
        gpu_check_chart(r, out / "gpu_check.png")


def run_check(a) -> dict:
    import torch

    from machado_gpt.hardware import device_description, matmul_tflops

    device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else
                          "cpu" if a.device == "auto" else a.device)
    if device.type == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the thesis script picks the GPU whenever it sees one
    else:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # the thesis's fp32 is plain
    out = Path(a.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    shares = {"thesis": 0.08, "ours": 0.06, "best": 0.5}
    stage_seconds = {k: v * a.budget for k, v in shares.items()}
    peak_size = {} if device.type == "cuda" else {"m": 512, "k": 512, "n": 512}
    peaks = {p: matmul_tflops(p, device, **peak_size) for p in ("bf16", "fp32")}
    # Every MFU divides by the machine's limit: the faster of the two peaks. On a GPU (and a CPU with bf16
    # instructions) that is bf16's; on a CPU without them bf16 is emulated at ~1% of fp32 (0.0014 against 0.16
    # TFLOP/s on a 2-core AVX2 EPYC), autocast's fused kernels beat that emulated torch.mm, and a bf16 peak there
    # read every MFU above 100%. Four digits, and the division by the unrounded peak: an emulated peak once read 0.0.
    peak_precision = max(peaks, key=peaks.get)
    r: dict = {"device": device_description(device), "budget_seconds": a.budget, "tiny": a.tiny,
               "bf16_peak_tflops": float(f"{peaks['bf16']:.4g}"), "fp32_peak_tflops": float(f"{peaks['fp32']:.4g}"),
               "peak_precision": peak_precision}
    print(f"{r['device']}\nbf16 matmul peak {r['bf16_peak_tflops']} TFLOP/s, fp32 {r['fp32_peak_tflops']}; MFU "
          f"against the {peak_precision} peak", flush=True)
    peak = peaks[peak_precision] * 1e12
    stages = a.stages.split(",")
    if "a" in stages:
        row = stage_thesis(a, device, stage_seconds["thesis"])
        size = THESIS_TINY if a.tiny else THESIS_SIZE
        attention = 12 * size["n_layer"] * size["n_embd"] * size["context_len"]
        row["mfu"] = row["tokens_per_second"] * (6 * row["parameters"] + attention) / peak
        r["thesis"] = row
        save(r, out)
        print(f"(a) {row}", flush=True)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True  # as our training sets them
    if "b" in stages:
        model_args, opt, training, tokenizer, blocks = train_blocks(a, "configs/machado-gpt-28m.yaml")
        r["ours"] = []
        variants = [("bf16", False), ("bf16", True), ("fp16", False)]
        for precision, compile in variants:
            try:
                row = timed_trainer(model_args, opt, training, tokenizer, blocks, precision, compile,
                                    stage_seconds["ours"], device, agreement="loss_agreement" not in r)
            except Exception as e:  # a variant that fails on this device is reported, and the check goes on
                row = {"precision": precision + (" + compile" if compile else ""), "error": f"{type(e).__name__}: {e}"[:300]}
                print(f"(b) {row}", flush=True)
                continue
            if "loss_agreement" in row:
                r["loss_agreement"] = row.pop("loss_agreement")
            row["mfu"] = row["tokens_per_second"] * row["flops_per_token"] / peak
            row["projected_10k_steps_minutes"] = THESIS_STEPS * row.pop("tokens_per_step") / row["tokens_per_second"] / 60
            r["ours"].append(row)
            save(r, out)
            print(f"(b) {row}", flush=True)
    if "c" in stages:
        ours = {row["precision"]: row["tokens_per_second"] for row in r.get("ours", [])}
        # Compile for (c) only if its measured gain over 4 minutes beats its warm-up cost.
        compile = False
        if "bf16 + compile" in ours and "bf16" in ours:
            warm = next(row["warmup_seconds"] for row in r["ours"] if row["precision"] == "bf16 + compile")
            compile = ours["bf16 + compile"] / ours["bf16"] * (stage_seconds["best"] - warm) > stage_seconds["best"]
        r["best"] = stage_best(a, stage_seconds["best"], compile and device.type == "cuda")
        save(r, out)
    print(markdown(r))
    return r


def main(argv=None) -> dict | None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", nargs="?", default="check", choices=["check", "bundle", "report"])
    p.add_argument("--bundle", default="gpu-bundle", help="The offline bundle folder (make gpu-bundle)")
    p.add_argument("--output_dir", default="out/gpu-check")
    p.add_argument("--device", default="auto", help="auto (the GPU if there is one), cuda or cpu")
    p.add_argument("--budget", type=float, default=480, help="Seconds the stages share (see above)")
    p.add_argument("--stages", default="a,b,c")
    p.add_argument("--tiny", action="store_true", help="Toy sizes: checks that every stage runs, on any machine")
    a = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if a.command == "bundle":
        return make_bundle(a)
    if a.command == "report":  # the table and chart again, from a check's JSON (e.g. docs/results/)
        out = Path(a.output_dir)
        r = json.loads((out / "gpu_check.json").read_text(encoding="utf-8"))
        r.setdefault("peak_precision", "bf16")  # checks before the field (the H200's) divided by the bf16 peak
        save(r, out)
        return None
    if not (Path(a.bundle) / "machado-dataset").is_dir():
        raise SystemExit(f"no bundle at {a.bundle}: run `make gpu-bundle` first (or pass --bundle DIR)")
    return run_check(a)


if __name__ == "__main__":
    main()
